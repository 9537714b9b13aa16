// Scaling: single-mode throughput with the service at 1 and at 2 workers, several concurrent clients
// (rounds at 1, 2, 2, 1 workers).
import type { CatalogModel } from '../../he-core/index.js';
import { BenchClient, EvaluationClock } from './client.js';
import type { Endpoint } from './client.js';
import { CpuMeter, othersCores } from './cpu.js';
import { startServiceProcess } from './service-process.js';
import { round } from './stats.js';

export interface ScalingOptions {
  modelId: string;
  clients: number;
  predictions: number;
  rows: readonly number[][];
}

/** `predictions` single-mode predictions spread over `clients` concurrent clients (own keys, own session each). */
export interface Throughput {
  perS: number;
  seconds: number;
  /** Mean server evaluation time per prediction during the timed part. */
  evaluateMs: number;
  /** Mean cores other processes kept busy meanwhile. */
  otherCores: number;
}

/** Evaluation-key sets the service's workers hold, summed (the `ciphercare_worker_key_sets` gauge). */
async function keySets(endpoint: Endpoint): Promise<number> {
  const res = await fetch(`${endpoint.url}/v1/metrics`, { headers: { authorization: `Bearer ${endpoint.token}` } });
  if (!res.ok) throw new Error(`GET /v1/metrics answered ${res.status}`);
  const line = (await res.text()).split('\n').find((l) => l.startsWith('ciphercare_worker_key_sets '));
  if (!line) throw new Error('the service reports no ciphercare_worker_key_sets');
  return Number(line.slice(line.lastIndexOf(' ') + 1));
}

async function throughput(workers: number, options: ScalingOptions): Promise<Throughput> {
  const service = await startServiceProcess(workers);
  const clients: BenchClient[] = [];
  try {
    const entry: CatalogModel | undefined = service.catalog.find((m) => m.id === options.modelId);
    if (!entry) throw new Error(`the service has no model ${options.modelId}`);
    for (let i = 0; i < options.clients; i++) clients.push(await BenchClient.open(service.endpoint, entry, 'single'));
    // Warm-up, after session setup on every worker: all clients at once, again until every worker
    // holds every session's keys (the service's key-set gauge), at most 10 rounds. A worker meeting
    // a session for the first time loads its keys first (65-210 ms for mnist-cnn's 7.9 MB): with 4
    // sessions over 2 workers, one warm-up round left up to 4 such loads inside the timed part, and
    // the 1-worker rounds none.
    for (let pass = 0; pass < 10; pass++) {
      await Promise.all(clients.map((c, i) => c.predict([options.rows[(pass * clients.length + i) % options.rows.length]!])));
      if ((await keySets(service.endpoint)) >= options.clients * workers) break;
    }
    const clock = new EvaluationClock(service.endpoint);
    const before = await clock.read(entry.id, 'single');
    let next = 0;
    const meter = CpuMeter.start(service.pid === undefined ? [] : [service.pid]);
    const started = performance.now();
    await Promise.all(
      clients.map(async (c) => {
        while (next < options.predictions) {
          const i = next++;
          await c.predict([options.rows[i % options.rows.length]!]);
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    const otherCores = othersCores(meter);
    const after = await clock.read(entry.id, 'single');
    const evaluateMs = ((after.seconds - before.seconds) * 1000) / (after.count - before.count);
    return { perS: round(options.predictions / seconds), seconds: round(seconds), evaluateMs: round(evaluateMs), otherCores };
  } finally {
    for (const c of clients) await c.close().catch(() => undefined);
    await service.stop();
  }
}

/** Rounds at 1, 2, 2 and 1 workers (a drift of the shared machine during the measurement cancels), combined per worker count. */
export async function benchScaling(options: ScalingOptions): Promise<{ w1: Throughput; w2: Throughput; rounds: { workers: 1 | 2; perS: number }[] }> {
  const runs: { workers: 1 | 2; result: Throughput }[] = [];
  for (const workers of [1, 2, 2, 1] as const) runs.push({ workers, result: await throughput(workers, options) });
  const combine = (workers: 1 | 2): Throughput => {
    const mine = runs.filter((r) => r.workers === workers).map((r) => r.result);
    const seconds = mine.reduce((a, r) => a + r.seconds, 0);
    return {
      perS: round((mine.length * options.predictions) / seconds),
      seconds: round(seconds),
      evaluateMs: round(mine.reduce((a, r) => a + r.evaluateMs, 0) / mine.length),
      otherCores: mine.reduce((a, r) => a + r.otherCores, 0) / mine.length,
    };
  };
  return { w1: combine(1), w2: combine(2), rounds: runs.map((r) => ({ workers: r.workers, perS: r.result.perS })) };
}
