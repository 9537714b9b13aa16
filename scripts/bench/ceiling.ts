// The machine's own ceiling for two busy threads: the calibration's node-seal work (a rotation and
// a multiply_plain at mnist-cnn's top level) on one thread alone, then on two threads at once,
// each on its own SEAL instance in a worker thread, nothing shared. On these VMs a plain integer
// loop runs twice as fast on two threads; SEAL's work gives between 1.6x and 1.95x depending on
// the moment (two busy threads slow each other down: memory, caches, neighbours on the host), and
// that bounds what two service workers can give over one, measured in the same run.
import { Worker } from 'node:worker_threads';
import type { ModelFile } from '../../he-core/index.js';
import { round } from './stats.js';

const workerUrl = new URL(import.meta.url.endsWith('.ts') ? './ceiling-worker.ts' : './ceiling-worker.js', import.meta.url);
const execArgv = import.meta.url.endsWith('.ts') ? ['--import', import.meta.resolve('tsx')] : [];

export interface Ceiling {
  /** Operations (rotation + multiply_plain) per second on one thread, mean of its rounds. */
  onePerS: number;
  /** The same on two threads at once, both threads summed, mean of its rounds. */
  twoPerS: number;
  ratio: number;
  /** Rounds in the order run (threads, operations per second). */
  rounds: { threads: 1 | 2; perS: number }[];
  seconds: number;
}

class Thread {
  private constructor(
    private readonly worker: Worker,
    private readonly next: () => Promise<unknown>,
  ) {}
  static async start(model: ModelFile): Promise<Thread> {
    const worker = new Worker(workerUrl, { workerData: model, execArgv });
    // One message awaited at a time (the worker answers each request once).
    let pending: { resolve(value: unknown): void; reject(err: Error): void } | null = null;
    worker.on('message', (m: unknown) => pending?.resolve(m));
    worker.on('error', (err: unknown) => pending?.reject(err instanceof Error ? err : new Error(String(err))));
    const next = () =>
      new Promise<unknown>((resolve, reject) => {
        pending = { resolve, reject };
      });
    const thread = new Thread(worker, next);
    if ((await next()) !== 'ready') throw new Error('the ceiling worker did not start');
    return thread;
  }
  async run(seconds: number): Promise<number> {
    const done = this.next();
    this.worker.postMessage(seconds);
    return Number(await done);
  }
  async stop(): Promise<void> {
    this.worker.postMessage(0);
    await this.worker.terminate();
  }
}

/** One thread, two, two, one (so a drift of the machine during the measurement cancels), `seconds` each. */
export async function measureCeiling(model: ModelFile, seconds: number): Promise<Ceiling> {
  const threads = [await Thread.start(model), await Thread.start(model)];
  try {
    const rounds: Ceiling['rounds'] = [];
    for (const n of [1, 2, 2, 1] as const) {
      const rates = await Promise.all(threads.slice(0, n).map((t) => t.run(seconds)));
      rounds.push({ threads: n, perS: round(rates.reduce((a, r) => a + r, 0)) });
    }
    const mean = (n: 1 | 2): number => rounds.filter((r) => r.threads === n).reduce((a, r) => a + r.perS, 0) / 2;
    const onePerS = mean(1);
    const twoPerS = mean(2);
    return { onePerS: round(onePerS), twoPerS: round(twoPerS), ratio: twoPerS / onePerS, rounds, seconds };
  } finally {
    await Promise.all(threads.map((t) => t.stop()));
  }
}
