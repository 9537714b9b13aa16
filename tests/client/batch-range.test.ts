import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EnvelopeKind, compile, decodeEnvelope, encodeEnvelope, loadSeal, postprocess, referenceForward, roundTo } from '../../he-core/index.js';
import type { ModelFile, PublicPlan } from '../../he-core/index.js';
import { FlowError } from '../../main/flow/errors.js';
import type { BatchResult } from '../../main/flow/prediction-flow.js';
import { startService } from '../../mock-service/service.js';
import type { RunningService } from '../../mock-service/service.js';
import { loadBundledModel } from '../encrypted/harness.js';
import { clientRig } from './fixtures.js';
import type { ClientRig } from './fixtures.js';
import { rewritingProxy } from './tampering-proxy.js';

// Per-row range verdicts in the batch layout (docs/he-core.md, "Packed answers"): a valid
// mnist-cnn image whose largest logit lies beyond the plan's accepted bound (but within the exact
// range) gets its own `result_out_of_range` verdict; the other rows are scored and stored.

/** 28x28 vertical stripes: every pixel in [0, 1], columns alternately 1 and 0 (column 0 is 1). */
export function stripes(): number[] {
  return Array.from({ length: 28 * 28 }, (_, i) => ((i % 28) % 2 === 0 ? 1 : 0));
}

function shownReference(model: ModelFile, x: readonly number[]): number[] {
  return postprocess(model.postprocess, referenceForward(model, x)).values.map((v) => roundTo(v, model.output.precision));
}

describe('mnist-cnn batch with one image beyond the accepted bound', () => {
  const model = loadBundledModel('mnist-cnn');
  // Shown values are rounded to the model's precision: they may differ from the rounded
  // reference by one step when the exact value sits on a rounding edge.
  const tolerance = 10 ** -model.output.precision + 1e-12;
  const digits = model.testVectors.slice(0, 3).map((tv) => tv.input);
  // Row 3 of 4 is the stripes image.
  const rows = [digits[0]!, digits[1]!, stripes(), digits[2]!];
  let service: RunningService;
  let rig: ClientRig;
  let plan: PublicPlan;
  let result: BatchResult;

  beforeAll(async () => {
    plan = compile((await loadSeal()).seal, model, { mode: 'batch' }).public;
    service = await startService({ mode: 'bundled', workers: 1, logger: pino({ level: 'silent' }) });
    rig = await clientRig({ kind: 'bundled', url: service.url, credential: service.token! });
    // Checks on: fresh known answers (the client has the weights) at random slots among the rows.
    result = await rig.flow.predictBatch('mnist-cnn', rows, { canary: true, rowNumbers: [1, 2, 3, 4] });
  }, 300_000);
  afterAll(async () => {
    rig?.close();
    await service?.close();
  });

  it('the stripes image is a valid input whose largest logit lies beyond the bound, within the exact range', () => {
    const logits = referenceForward(model, stripes());
    const largest = Math.max(...Array.from(logits, Math.abs));
    const { bound, range } = plan.output.packing;
    console.log(`stripes: largest |logit| ${largest.toFixed(2)} (plaintext reference); accepted bound ${bound}; exact range ${range.toFixed(2)}`);
    expect(largest).toBeGreaterThan(bound);
    expect(largest).toBeLessThanOrEqual(range);
    for (const d of digits) expect(Math.max(...Array.from(referenceForward(model, d), Math.abs))).toBeLessThan(bound);
  });

  it('gives each row its own verdict: the digits equal the plaintext reference, the stripes row is out of range', () => {
    expect(result.canary).toBe('passed');
    expect(result.rows).toHaveLength(4);
    let worst = 0;
    for (const i of [0, 1, 3]) {
      const r = result.rows[i]!;
      expect(r.ok).toBe(true);
      const expected = shownReference(model, rows[i]!);
      r.values!.forEach((v, j) => (worst = Math.max(worst, Math.abs(v - expected[j]!))));
      expect(r.label).toBe(model.output.labels[expected.indexOf(Math.max(...expected))]);
    }
    console.log(`scored rows: largest difference from the rounded plaintext reference ${worst} (tolerance ${tolerance})`);
    expect(worst).toBeLessThanOrEqual(tolerance);
    const out = result.rows[2]!;
    expect(out.ok).toBe(false);
    expect(out.code).toBe('result_out_of_range');
    expect(out.values).toBeUndefined();
    expect(out.error).toMatch(/^Row 3: the model cannot give an answer for this input: its answer lies outside the range this model can give \(±30\.6\), so it was not shown or stored/);
    expect(out.error).toMatch(/Check the row's values/);
    expect(out.error).not.toMatch(/ciphertext/);
  });

  it('stores the scored rows only', () => {
    const stored = rig.vault.historyEntry(result.historyId)!;
    const input = stored.input as { batch: number; rows: number[][] };
    expect(input.batch).toBe(4);
    expect(input.rows).toEqual([rows[0], rows[1], rows[3]]);
    const kept = (stored.result as { rows: BatchResult['rows'] }).rows;
    expect(kept.filter((r) => r.ok).map((r) => r.row)).toEqual([0, 1, 3]);
    expect(kept[2]!.values).toBeUndefined();
  });

  it('predict still refuses the stripes image, saying the model cannot answer it, and stores nothing', async () => {
    const before = rig.vault.listHistory().total;
    const err = await rig.flow.predict('mnist-cnn', stripes(), { canary: false }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FlowError);
    expect((err as FlowError).code).toBe('result_out_of_range');
    expect((err as FlowError).message).toMatch(/^The model cannot give an answer for this input: .* beyond ±30\.6/);
    expect((err as FlowError).message).not.toMatch(/ciphertext \d/);
    expect(rig.vault.listHistory().total).toBe(before);
  }, 120_000);
});

// A provider that adds 1.1 × bound to every slot of a breast-cancer batch answer: the rows land
// beyond the bound (within the exact range, 1.5 × bound), which alone would read as rows out of
// range. The check slots, indistinguishable from rows, are out of bound too: a failed check.
describe('a provider that pushes every slot of a batch answer beyond the bound', () => {
  const bc = loadBundledModel('breast-cancer');
  const rows = bc.testVectors.slice(0, 4).map((tv) => tv.input);
  let service: RunningService;
  let proxy: { url: string; close(): Promise<void> };
  beforeAll(async () => {
    service = await startService({ mode: 'bundled', workers: 1, logger: pino({ level: 'silent' }) });
    const batch = compile((await loadSeal()).seal, bc, { mode: 'batch' }).public;
    proxy = await rewritingProxy(service, async (_request, forward) => {
      const envelope = decodeEnvelope(await forward(), EnvelopeKind.results, { maxCount: 1, maxItemBytes: 1 << 20, maxTotalBytes: 1 << 21 });
      const item = Uint8Array.from(envelope.items[0]!);
      const { output, params } = batch;
      const { bits, multiplier, bound } = output.packing;
      // A constant added to c0's first coefficient is added to every slot (see malicious-provider.test.ts).
      const shift = Math.round((1.1 * bound * output.scale * multiplier * 2 ** bits[0]) / Number(params.primes[0]));
      const view = new DataView(item.buffer);
      const word = view.getUint32(16, true);
      const value = word % 2 ** bits[0];
      view.setUint32(16, word - value + ((value + shift) % 2 ** bits[0]), true);
      return Buffer.from(encodeEnvelope({ ...envelope, items: [item] }));
    });
  }, 120_000);
  afterAll(async () => {
    await proxy?.close();
    await service?.close();
  });

  it('is refused as a failed check with checks on, and by the unused slots without; nothing stored', async () => {
    const rig = await clientRig({ kind: 'bundled', url: proxy.url, credential: service.token! });
    try {
      const checked = await rig.flow.predictBatch('breast-cancer', rows, { canary: true }).catch((e: unknown) => e);
      expect(checked).toBeInstanceOf(FlowError);
      expect((checked as FlowError).code).toBe('provider_check_failed');
      const unchecked = await rig.flow.predictBatch('breast-cancer', rows, { canary: false }).catch((e: unknown) => e);
      expect(unchecked).toBeInstanceOf(FlowError);
      expect((unchecked as FlowError).code).toBe('result_out_of_range');
      expect((unchecked as FlowError).message).toMatch(/a slot that held none of your rows came back beyond ±95\.1/);
      expect(rig.vault.listHistory().total).toBe(0);
    } finally {
      rig.close();
    }
  }, 120_000);

  it('without checks, a full request with more than a quarter of its rows beyond the bound is refused whole', async () => {
    const rig = await clientRig({ kind: 'bundled', url: proxy.url, credential: service.token! });
    try {
      const capacity = (await rig.flow.model('breast-cancer')).plans.batch.samplesPerRequest;
      const full = Array.from({ length: capacity }, (_, i) => rows[i % rows.length]!);
      const err = await rig.flow.predictBatch('breast-cancer', full, { canary: false }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(FlowError);
      expect((err as FlowError).code).toBe('result_out_of_range');
      expect((err as FlowError).message).toMatch(/^The provider's answer was refused: \d+ rows of one request came back beyond ±95\.1, .* more than a quarter of the request/);
      expect(rig.vault.listHistory().total).toBe(0);
    } finally {
      rig.close();
    }
  }, 120_000);
});
