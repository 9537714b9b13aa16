// Distributed rows of `npm run bench` (also on their own: `npx tsx scripts/bench/distributed.ts`).
// A real deployment on 127.0.0.1: redis-server (no persistence), one front, worker processes of
// one evaluation thread each, beside the embedded service as a process of the same CLI.
//   - throughput: mnist-cnn single predictions from 4 clients (own keys and session each), bodies
//     encrypted beforehand so that this process's CPU stays out of the timed part, with 1 and with
//     2 worker processes, in alternating rounds (the second worker frozen with SIGSTOP during the
//     1-worker rounds) so that both see the same background load of a shared machine; the front
//     and the workers run in sessions of their own (see ProcessOptions.ownSession: in one session
//     they would share one CPU share whatever their number, unlike on separate machines), and so
//     does the embedded service it is compared with;
//   - the time the queue adds per job: breast-cancer single, one request at a time, the
//     service's own Server-Timing (total minus evaluate) through the queue and embedded;
//   - mnist-cnn single end to end (encrypt, round trip, decrypt) through the queue and embedded.
// Every answer is decrypted and checked against the plaintext reference (same class, raw
// outputs within the model's test-vector tolerance).
import { pathToFileURL } from 'node:url';
import { postprocess, referenceForward } from '../../he-core/index.js';
import type { CatalogModel, ModelFile } from '../../he-core/index.js';
import { loadBundledModels } from '../bundled-models.js';
import { DistributedClient, call, catalogAt } from '../distributed/client.js';
import { startEmbedded, startProcess, startRedis } from '../distributed/cluster.js';
import type { RedisServer, ServiceProcess } from '../distributed/cluster.js';
import { CpuMeter, othersCores } from './cpu.js';
import { heldOutRows } from './data.js';
import { median, round as round2 } from './stats.js';

export interface DistributedRows {
  /** `requests` per configuration, over `rounds` alternating rounds; other processes' mean busy cores during each. */
  throughput: { model: string; clients: number; rounds: number; requests: number; seconds1: number; seconds2: number; perS1: number; perS2: number; ratio: number; otherCores1: number; otherCores2: number };
  queue: { model: string; runs: number; distributedMs: number; embeddedMs: number; addedMs: number; roundTripDistributedMs: number; roundTripEmbeddedMs: number };
  mnistSingle: { runs: number; endToEndDistributedMs: number; endToEndEmbeddedMs: number; evaluateDistributedMs: number; evaluateEmbeddedMs: number; queueWaitMs: number };
  /** Answers checked against the plaintext reference, and how many disagreed. */
  checked: number;
  wrong: number;
}

export interface DistributedBenchOptions {
  /** Alternating throughput rounds (1 worker, then 2), each of 8 mnist-cnn single predictions per configuration. */
  rounds: number;
  /** Sequential requests for the queue overhead and the end-to-end rows. */
  runs: number;
  log: (line: string) => void;
}

class Checker {
  checked = 0;
  wrong = 0;
  constructor(private readonly model: ModelFile) {}
  check(decrypted: ArrayLike<number>, raw: readonly number[]): void {
    const reference = referenceForward(this.model, raw);
    const tolerance = Math.max(...this.model.testVectors.map((tv) => tv.tolerance));
    let error = 0;
    for (let i = 0; i < reference.length; i++) error = Math.max(error, Math.abs(decrypted[i]! - reference[i]!));
    const classOf = (out: ArrayLike<number>): number | undefined => postprocess(this.model.postprocess, out).classIndex;
    this.checked++;
    if (error > tolerance || classOf(decrypted) !== classOf(reference)) this.wrong++;
  }
}

function timingOf(header: string | string[] | undefined, name: string): number {
  const match = new RegExp(`(?:^|, )${name};dur=([\\d.]+)`).exec(String(header ?? ''));
  if (!match) throw new Error(`the answer has no ${name} in its Server-Timing header`);
  return Number(match[1]);
}

async function waitForWorkers(front: ServiceProcess, count: number): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const res = await call(front.url, 'GET', '/v1/health');
    const total = (JSON.parse(Buffer.from(res.body).toString()) as { workers: { total: number } }).workers.total;
    if (total >= count) return;
    if (Date.now() > deadline) throw new Error(`the front sees ${total} worker threads, not ${count}, after 30 s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export async function benchDistributed(options: DistributedBenchOptions): Promise<DistributedRows> {
  const { log } = options;
  const models = loadBundledModels();
  const mnist = models.find((m) => m.id === 'mnist-cnn');
  const small = models.find((m) => m.id === 'breast-cancer');
  if (!mnist || !small) throw new Error('the distributed rows need the bundled mnist-cnn and breast-cancer models');
  const processes: ServiceProcess[] = [];
  const clients: DistributedClient[] = [];
  let redis: RedisServer | undefined;
  const mnistCheck = new Checker(mnist);
  const smallCheck = new Checker(small);
  try {
    redis = await startRedis();
    log(`distributed: redis-server on ${redis.url}; starting a front, a worker and the embedded service`);
    const [front, worker1, embedded] = await Promise.all([startProcess(redis.url, 'front', { maxQueue: 10_000, ownSession: true }), startProcess(redis.url, 'worker', { jobLockMs: 5_000, ownSession: true }), startEmbedded({ workers: 1, ownSession: true })]);
    processes.push(front, worker1, embedded);
    const catalog = await catalogAt(front.url);
    const entry = (id: string): CatalogModel => catalog.find((m) => m.id === id)!;

    // Throughput: alternating rounds with 1 and 2 worker processes (the second frozen or running).
    const worker2 = await startProcess(redis.url, 'worker', { jobLockMs: 5_000, ownSession: true });
    processes.push(worker2);
    await waitForWorkers(front, 2);
    const mnistRows = heldOutRows(mnist);
    const perClient = 2;
    for (let i = 0; i < 4; i++) {
      const c = new DistributedClient(entry(mnist.id), 'single');
      await c.generate();
      await c.upload(front.url);
      clients.push(c);
    }
    const plan = clients.map((_, i) => Array.from({ length: perClient }, (_, k) => mnistRows[(i * perClient + k) % mnistRows.length]!));
    const bodies = clients.map((c, i) => plan[i]!.map((row) => c.encrypt([row])));
    const pids = [front, worker1, worker2].flatMap((p) => (p.child.pid === undefined ? [] : [p.child.pid]));
    const round = async (): Promise<{ seconds: number; otherCores: number }> => {
      const answers: Uint8Array[][] = clients.map(() => []);
      const meter = CpuMeter.start(pids);
      const started = performance.now();
      await Promise.all(
        clients.map(async (c, i) => {
          for (const body of bodies[i]!) {
            const res = await c.post(front.url, body);
            if (res.status !== 200) throw new Error(`a throughput prediction answered ${res.status}: ${Buffer.from(res.body).toString().slice(0, 200)}`);
            answers[i]!.push(res.body);
          }
        }),
      );
      const seconds = (performance.now() - started) / 1000;
      const otherCores = othersCores(meter);
      clients.forEach((c, i) => answers[i]!.forEach((a, k) => mnistCheck.check(c.decrypt(a, 1)[0]!, plan[i]![k]!)));
      return { seconds, otherCores };
    };
    // Warm-up with both workers: each loads the keys of the sessions it serves.
    await round();
    await round();
    const one: { seconds: number; otherCores: number }[] = [];
    const two: { seconds: number; otherCores: number }[] = [];
    for (let r = 0; r < options.rounds; r++) {
      // Frozen between rounds, when it holds no job: it takes nothing until it is resumed.
      worker2.child.kill('SIGSTOP');
      try {
        one.push(await round());
      } finally {
        worker2.child.kill('SIGCONT');
      }
      two.push(await round());
      log(`distributed: round ${r + 1}/${options.rounds}: 8 mnist-cnn predictions in ${one[r]!.seconds.toFixed(2)} s with 1 worker process, ${two[r]!.seconds.toFixed(2)} s with 2`);
    }
    const total = (xs: { seconds: number }[]): number => xs.reduce((a, x) => a + x.seconds, 0);
    const meanCores = (xs: { otherCores: number }[]): number => round2(xs.reduce((a, x) => a + x.otherCores, 0) / xs.length);
    const seconds1 = total(one);
    const seconds2 = total(two);
    const requests = options.rounds * perClient * clients.length;

    // The time the queue adds: breast-cancer single, one at a time, through the queue and embedded.
    const smallRows = heldOutRows(small);
    const overhead = async (base: string): Promise<{ overheadMs: number; roundTripMs: number }> => {
      const c = new DistributedClient(entry(small.id), 'single');
      clients.push(c);
      await c.generate();
      await c.upload(base);
      const overheads: number[] = [];
      const trips: number[] = [];
      for (let k = 0; k < options.runs + 2; k++) {
        const row = smallRows[k % smallRows.length]!;
        const body = c.encrypt([row]);
        const started = performance.now();
        const res = await c.post(base, body);
        const trip = performance.now() - started;
        if (res.status !== 200) throw new Error(`breast-cancer prediction answered ${res.status}`);
        smallCheck.check(c.decrypt(res.body, 1)[0]!, row);
        if (k < 2) continue; // warm-up: the keys load on first use
        overheads.push(timingOf(res.headers['server-timing'], 'total') - timingOf(res.headers['server-timing'], 'evaluate'));
        trips.push(trip);
      }
      return { overheadMs: median(overheads), roundTripMs: median(trips) };
    };
    log(`distributed: queue overhead, ${options.runs} breast-cancer predictions through the queue and embedded`);
    const viaQueue = await overhead(front.url);
    const viaEmbedded = await overhead(embedded.url);

    // mnist-cnn single end to end.
    log(`distributed: mnist-cnn single end to end, ${options.runs} runs through the queue and embedded`);
    const endToEnd = async (base: string): Promise<{ e2e: number; evaluate: number; queue: number }> => {
      const c = new DistributedClient(entry(mnist.id), 'single');
      clients.push(c);
      await c.generate();
      await c.upload(base);
      const e2e: number[] = [];
      const evaluate: number[] = [];
      const queue: number[] = [];
      for (let k = 0; k < options.runs + 2; k++) {
        const row = mnistRows[k % mnistRows.length]!;
        const started = performance.now();
        const res = await c.post(base, c.encrypt([row]));
        if (res.status !== 200) throw new Error(`mnist-cnn prediction answered ${res.status}`);
        const out = c.decrypt(res.body, 1)[0]!;
        const ms = performance.now() - started;
        mnistCheck.check(out, row);
        if (k < 2) continue;
        e2e.push(ms);
        evaluate.push(timingOf(res.headers['server-timing'], 'evaluate'));
        if (base === front.url) queue.push(timingOf(res.headers['server-timing'], 'queue'));
      }
      return { e2e: median(e2e), evaluate: median(evaluate), queue: queue.length ? median(queue) : 0 };
    };
    const e2eQueue = await endToEnd(front.url);
    const e2eEmbedded = await endToEnd(embedded.url);

    return {
      throughput: { model: mnist.id, clients: 4, rounds: options.rounds, requests, seconds1: round2(seconds1), seconds2: round2(seconds2), perS1: round2(requests / seconds1), perS2: round2(requests / seconds2), ratio: round2(seconds1 / seconds2), otherCores1: meanCores(one), otherCores2: meanCores(two) },
      queue: { model: small.id, runs: options.runs, distributedMs: round2(viaQueue.overheadMs), embeddedMs: round2(viaEmbedded.overheadMs), addedMs: round2(viaQueue.overheadMs - viaEmbedded.overheadMs), roundTripDistributedMs: round2(viaQueue.roundTripMs), roundTripEmbeddedMs: round2(viaEmbedded.roundTripMs) },
      mnistSingle: { runs: options.runs, endToEndDistributedMs: round2(e2eQueue.e2e), endToEndEmbeddedMs: round2(e2eEmbedded.e2e), evaluateDistributedMs: round2(e2eQueue.evaluate), evaluateEmbeddedMs: round2(e2eEmbedded.evaluate), queueWaitMs: round2(e2eQueue.queue) },
      checked: mnistCheck.checked + smallCheck.checked,
      wrong: mnistCheck.wrong + smallCheck.wrong,
    };
  } finally {
    for (const c of clients) c.close();
    await Promise.all(processes.map((p) => p.stop().catch(() => p.kill())));
    await redis?.stop();
  }
}

export function distributedTable(rows: DistributedRows): string {
  const t = rows.throughput;
  const q = rows.queue;
  const m = rows.mnistSingle;
  return [
    '| distributed (1 front, worker processes of 1 thread, each in its own session; Redis on 127.0.0.1) | value |',
    '| --- | --- |',
    `| ${t.model} single, ${t.clients} clients, ${t.requests} requests in ${t.rounds} rounds, 1 worker process (other processes: ${t.otherCores1} cores busy) | ${t.seconds1} s (${t.perS1}/s) |`,
    `| same, 2 worker processes, rounds alternating with the above (other processes: ${t.otherCores2} cores busy) | ${t.seconds2} s (${t.perS2}/s): ×${t.ratio} |`,
    `| time the queue adds per ${q.model} single job (median of ${q.runs}, Server-Timing total − evaluate) | ${q.addedMs} ms (queue ${q.distributedMs} ms, embedded ${q.embeddedMs} ms) |`,
    `| ${q.model} single round trip, queue / embedded (median) | ${q.roundTripDistributedMs} / ${q.roundTripEmbeddedMs} ms |`,
    `| mnist-cnn single end to end (encrypt, round trip, decrypt), queue / embedded (median of ${m.runs}) | ${m.endToEndDistributedMs} / ${m.endToEndEmbeddedMs} ms |`,
    `| mnist-cnn single evaluation, queue / embedded; queue wait (median) | ${m.evaluateDistributedMs} / ${m.evaluateEmbeddedMs} ms; ${m.queueWaitMs} ms |`,
    `| answers checked against the plaintext reference / wrong | ${rows.checked} / ${rows.wrong} |`,
  ].join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const started = performance.now();
  const log = (line: string): void => {
    process.stderr.write(`[${((performance.now() - started) / 1000).toFixed(1).padStart(6)} s] ${line}\n`);
  };
  const quick = process.argv.includes('--quick');
  const rows = await benchDistributed({ rounds: quick ? 3 : 6, runs: quick ? 10 : 30, log });
  console.log(`\n${distributedTable(rows)}\n`);
  console.log(JSON.stringify(rows));
  if (rows.wrong > 0) process.exitCode = 1;
}
