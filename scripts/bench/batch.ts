// Batch mode: a full request of the plan's samplesPerRequest held-out rows (repeated to fill).
import { referenceForward } from '../../he-core/index.js';
import type { CatalogModel, ModelFile } from '../../he-core/index.js';
import { BenchClient } from './client.js';
import type { Endpoint, EvaluationClock, Exchange } from './client.js';
import { CpuMeter, othersCores } from './cpu.js';
import { Agreement, fill } from './data.js';
import { median, round } from './stats.js';
import type { BatchDetail, BatchResult } from './types.js';

export interface BatchOptions {
  /** Counted runs after one warm-up run. */
  runs: number;
  /** A batch whose first run takes longer than this is slow: its first run counts and it gets `slowRuns` runs in all. */
  slowMs: number;
  slowRuns: number;
  log: (line: string) => void;
}

export async function benchBatch(
  endpoint: Endpoint,
  clock: EvaluationClock,
  model: ModelFile,
  entry: CatalogModel,
  rows: readonly number[][],
  options: BatchOptions,
): Promise<{ result: BatchResult; detail: BatchDetail }> {
  const plan = entry.plans.batch;
  const samples = fill(rows, plan.samplesPerRequest);
  const started = performance.now();
  const references = samples.map((s) => referenceForward(model, s));
  const plaintextMs = performance.now() - started;

  const client = await BenchClient.open(endpoint, entry, 'batch');
  const agreement = new Agreement(model);
  const counted: { ex: Exchange; evaluateMs: number }[] = [];
  let noWarmup = false;
  let otherCores = Number.NaN;
  try {
    let before = await clock.read(entry.id, 'batch');
    const once = async (): Promise<{ ex: Exchange; evaluateMs: number }> => {
      const ex = await client.predict(samples);
      const after = await clock.read(entry.id, 'batch');
      const evaluateMs = (after.seconds - before.seconds) * 1000;
      before = after;
      ex.outputs.forEach((out, i) => agreement.add(out, references[i]!));
      return { ex, evaluateMs };
    };
    let meter = CpuMeter.start();
    const first = await once();
    let total = options.runs;
    if (first.ex.endToEndMs > options.slowMs) {
      noWarmup = true;
      total = options.slowRuns;
      counted.push(first);
      options.log(`  ${entry.id} batch: one run takes ${(first.ex.endToEndMs / 1000).toFixed(1)} s, so the first run counts and it gets ${total} run(s) in all`);
    } else meter = CpuMeter.start();
    while (counted.length < total) counted.push(await once());
    otherCores = othersCores(meter);
  } finally {
    await client.close();
  }
  const pick = (f: (r: { ex: Exchange; evaluateMs: number }) => number): number => median(counted.map(f));
  const endToEndMs = pick((r) => r.ex.endToEndMs);
  const result: BatchResult = {
    model: entry.id,
    mode: 'batch',
    batch: samples.length,
    items_per_s: round(samples.length / (endToEndMs / 1000), 1),
    agree: agreement.agree,
  };
  const detail: BatchDetail = {
    runs: counted.length,
    noWarmup,
    runSeconds: counted.map((r) => round(r.ex.endToEndMs / 1000)),
    encryptMs: round(pick((r) => r.ex.encryptMs)),
    roundTripMs: round(pick((r) => r.ex.roundTripMs)),
    evaluateMs: round(pick((r) => r.evaluateMs)),
    decryptMs: round(pick((r) => r.ex.decryptMs)),
    endToEndMs: round(endToEndMs),
    upBytes: pick((r) => r.ex.upBytes),
    downBytes: pick((r) => r.ex.downBytes),
    keyBytes: client.keyEnvelopeBytes,
    plaintextItemsPerS: round(samples.length / (plaintextMs / 1000), 1),
    agreement: agreement.summary(),
    otherCores,
  };
  return { result, detail };
}
