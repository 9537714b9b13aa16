// Single mode: one held-out sample per request, after session setup, beside the plaintext run.
import { referenceForward } from '../../he-core/index.js';
import type { CatalogModel, ModelFile } from '../../he-core/index.js';
import { BenchClient, keygenMs } from './client.js';
import type { Endpoint, EvaluationClock } from './client.js';
import { CpuMeter, othersCores } from './cpu.js';
import { Agreement } from './data.js';
import { median, round, timed } from './stats.js';
import type { SingleDetail, SingleResult } from './types.js';

export interface SingleOptions {
  runs: number;
  warmups: number;
  keygenRuns: number;
}

export async function benchSingle(
  endpoint: Endpoint,
  clock: EvaluationClock,
  model: ModelFile,
  entry: CatalogModel,
  rows: readonly number[][],
  options: SingleOptions,
): Promise<{ result: SingleResult; detail: SingleDetail }> {
  const plan = entry.plans.single;
  const keygen: number[] = [];
  for (let i = 0; i < options.keygenRuns; i++) keygen.push((await keygenMs(plan)).ms);

  const client = await BenchClient.open(endpoint, entry, 'single');
  keygen.push(client.keygenMs);
  const agreement = new Agreement(model);
  let meter: CpuMeter | null = null;
  let otherCores = Number.NaN;
  const m = { encrypt: [] as number[], roundTrip: [] as number[], evaluate: [] as number[], decrypt: [] as number[], endToEnd: [] as number[], plaintext: [] as number[], up: [] as number[], down: [] as number[] };
  try {
    let before = await clock.read(entry.id, 'single');
    for (let i = 0; i < options.warmups + options.runs; i++) {
      if (i === options.warmups) meter = CpuMeter.start();
      const sample = rows[i % rows.length]!;
      const ex = await client.predict([sample]);
      const after = await clock.read(entry.id, 'single');
      const evaluateMs = (after.seconds - before.seconds) * 1000;
      before = after;
      const reference = timed(() => referenceForward(model, sample));
      agreement.add(ex.outputs[0]!, reference.value);
      if (i < options.warmups) continue;
      m.encrypt.push(ex.encryptMs);
      m.roundTrip.push(ex.roundTripMs);
      m.evaluate.push(evaluateMs);
      m.decrypt.push(ex.decryptMs);
      m.endToEnd.push(ex.endToEndMs);
      m.plaintext.push(reference.ms);
      m.up.push(ex.upBytes);
      m.down.push(ex.downBytes);
    }
    otherCores = othersCores(meter);
  } finally {
    await client.close();
  }
  const transfer = m.roundTrip.map((rt, i) => rt - m.evaluate[i]!);
  const result: SingleResult = {
    model: entry.id,
    mode: 'single',
    keygen_ms: round(median(keygen)),
    eval_key_bytes: client.keyEnvelopeBytes,
    up_bytes: median(m.up),
    down_bytes: median(m.down),
    encrypt_ms: round(median(m.encrypt)),
    evaluate_ms: round(median(m.evaluate)),
    decrypt_ms: round(median(m.decrypt)),
    end_to_end_ms: round(median(m.endToEnd)),
    plaintext_ms: round(median(m.plaintext), 4),
    agree: agreement.agree,
  };
  const detail: SingleDetail = {
    runs: options.runs,
    roundTripMs: round(median(m.roundTrip)),
    transferMs: round(median(transfer)),
    uploadMs: round(client.uploadMs),
    agreement: agreement.summary(),
    otherCores,
  };
  return { result, detail };
}
