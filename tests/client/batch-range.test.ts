import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EnvelopeKind, HeContext, compile, decodeEnvelope, encodeEnvelope, free, loadSeal, packResult, postprocess, referenceForward, roundTo, unpackResult } from '../../he-core/index.js';
import type { ModelFile, PublicPlan } from '../../he-core/index.js';
import { FlowError } from '../../main/flow/errors.js';
import type { BatchResult } from '../../main/flow/prediction-flow.js';
import { startService } from '../../mock-service/service.js';
import type { RunningService } from '../../mock-service/service.js';
import { loadBundledModel } from '../encrypted/harness.js';
import { clientRig } from './fixtures.js';
import type { ClientRig } from './fixtures.js';
import { rewritingProxy } from './tampering-proxy.js';

// Answers far from the training data (docs/he-core.md, "Packed answers"): mnist-cnn's interval
// bound over the input box fits no 128-bit parameters at its degree, so its first prime takes the
// headroom the security budget leaves and its accepted bound is what that keeps exact (21,600).
// Valid images far from any digit (vertical stripes; an image built by coordinate ascent to push
// logit 9, which reaches ~2,000 and wrapped around under the old 38-bit first prime) are answered
// like any other, equal to the plaintext reference.

/** 28x28 vertical stripes: every pixel in [0, 1], columns alternately 1 and 0 (column 0 is 1). */
export function stripes(): number[] {
  return Array.from({ length: 28 * 28 }, (_, i) => ((i % 28) % 2 === 0 ? 1 : 0));
}

/** A valid image (pixels 0 or 1) built to push one logit up: one pass of coordinate ascent from an all-white image. */
export function pushedImage(model: ModelFile, logit: number): number[] {
  const image = new Array<number>(28 * 28).fill(1);
  let best = referenceForward(model, image)[logit]!;
  for (let i = 0; i < image.length; i++) {
    image[i] = 0;
    const v = referenceForward(model, image)[logit]!;
    if (v > best) best = v;
    else image[i] = 1;
  }
  return image;
}

function shownReference(model: ModelFile, x: readonly number[]): number[] {
  return postprocess(model.postprocess, referenceForward(model, x)).values.map((v) => roundTo(v, model.output.precision));
}

describe('mnist-cnn: valid images far from the training data are answered, not refused', () => {
  const model = loadBundledModel('mnist-cnn');
  // Shown values are rounded to the model's precision: they may differ from the rounded
  // reference by one step when the exact value sits on a rounding edge.
  const tolerance = 10 ** -model.output.precision + 1e-12;
  const digits = model.testVectors.slice(0, 3).map((tv) => tv.input);
  const pushed = pushedImage(model, 9);
  // Row 3 is the stripes image, row 4 the pushed image.
  const rows = [digits[0]!, digits[1]!, stripes(), pushed, digits[2]!];
  let service: RunningService;
  let rig: ClientRig;
  let plan: PublicPlan;
  let result: BatchResult;

  beforeAll(async () => {
    plan = compile((await loadSeal()).seal, model, { mode: 'batch' }).public;
    service = await startService({ mode: 'bundled', workers: 1, logger: pino({ level: 'silent' }) });
    rig = await clientRig({ kind: 'bundled', url: service.url, credential: service.token! });
    // Checks on: fresh known answers (the client has the weights) at random slots among the rows.
    result = await rig.flow.predictBatch('mnist-cnn', rows, { canary: true, rowNumbers: [1, 2, 3, 4, 5] });
  }, 300_000);
  afterAll(async () => {
    rig?.close();
    await service?.close();
  });

  it('the two images lie far beyond anything seen in training, within the accepted bound', () => {
    const largest = (x: readonly number[]): number => Math.max(...Array.from(referenceForward(model, x), Math.abs));
    const trained = model.he.valueBounds[model.he.valueBounds.length - 1]!;
    const { bound, range } = plan.output.packing;
    console.log(`largest |logit|: stripes ${largest(stripes()).toFixed(1)}, pushed image ${largest(pushed).toFixed(1)}; seen in training ${trained}; accepted bound ${bound}; exact range ${range.toFixed(0)}`);
    expect(largest(stripes())).toBeGreaterThan(2 * trained);
    expect(largest(pushed)).toBeGreaterThan(1000);
    expect(largest(pushed)).toBeLessThan(bound);
  });

  it('scores every row equal to the plaintext reference, and stores them all', () => {
    expect(result.canary).toBe('passed');
    expect(result.rows).toHaveLength(5);
    let worst = 0;
    rows.forEach((x, i) => {
      const r = result.rows[i]!;
      expect([i, r.ok]).toEqual([i, true]);
      const expected = shownReference(model, x);
      r.values!.forEach((v, j) => (worst = Math.max(worst, Math.abs(v - expected[j]!))));
      expect(r.label).toBe(model.output.labels[expected.indexOf(Math.max(...expected))]);
    });
    console.log(`largest difference from the rounded plaintext reference ${worst} (tolerance ${tolerance})`);
    expect(worst).toBeLessThanOrEqual(tolerance);
    const stored = rig.vault.historyEntry(result.historyId)!;
    expect((stored.input as { rows: number[][] }).rows).toEqual(rows);
  });

  it('predict answers the stripes image too, equal to the plaintext reference', async () => {
    const r = await rig.flow.predict('mnist-cnn', stripes(), { canary: false });
    const expected = shownReference(model, stripes());
    r.values.forEach((v, j) => expect(Math.abs(v - expected[j]!)).toBeLessThanOrEqual(tolerance));
  }, 120_000);
});

// A provider that pushes ONE slot of a breast-cancer batch answer beyond the bound (within the
// exact range): with checks off the rows fill the first slots, so slot 0 holds a row. That row
// gets its own `result_out_of_range` verdict and the other rows are scored and stored.
describe('one row of a batch answer beyond the bound', () => {
  const bc = loadBundledModel('breast-cancer');
  const rows = bc.testVectors.slice(0, 4).map((tv) => tv.input);
  let service: RunningService;
  let proxy: { url: string; close(): Promise<void> };
  beforeAll(async () => {
    service = await startService({ mode: 'bundled', workers: 1, logger: pino({ level: 'silent' }) });
    const rt = await loadSeal();
    const batch = compile(rt.seal, bc, { mode: 'batch' }).public;
    const ctx = HeContext.create(rt, batch.params);
    proxy = await rewritingProxy(service, async (_request, forward) => {
      const envelope = decodeEnvelope(await forward(), EnvelopeKind.results, { maxCount: 1, maxItemBytes: 1 << 20, maxTotalBytes: 1 << 21 });
      const { output } = batch;
      const ct = unpackResult(ctx, Uint8Array.from(envelope.items[0]!), output.scale, output.packing);
      const pt = new rt.seal.Plaintext();
      try {
        // Only public operations: encode 1.2 x bound in slot 0, at the answer's level and scale.
        const shift = new Float64Array(ctx.slots);
        shift[0] = 1.2 * output.packing.bound;
        ctx.encoder.encode(shift, ct.scale(), pt);
        ctx.evaluator.plainModSwitchToInplace(pt, ctx.parmsId(0));
        ctx.evaluator.addPlain(ct, pt, ct);
        const item = packResult(ctx, ct, output.packing, output.scale);
        return Buffer.from(encodeEnvelope({ ...envelope, items: [item] }));
      } finally {
        free(pt, ct);
      }
    });
  }, 120_000);
  afterAll(async () => {
    await proxy?.close();
    await service?.close();
  });

  it('gets its own verdict; the other rows are scored and stored', async () => {
    const rig = await clientRig({ kind: 'bundled', url: proxy.url, credential: service.token! });
    try {
      const result = await rig.flow.predictBatch('breast-cancer', rows, { canary: false, rowNumbers: [1, 2, 3, 4] });
      const refused = result.rows.filter((r) => !r.ok);
      expect(refused).toHaveLength(1);
      expect(refused[0]!.code).toBe('result_out_of_range');
      expect(refused[0]!.values).toBeUndefined();
      expect(refused[0]!.error).toMatch(/^Row [1-4]: the model cannot give an answer for this input: its answer lies outside the range this model can give \(±95\.1\), so it was not shown or stored; the other rows were scored/);
      for (const r of result.rows.filter((x) => x.ok)) {
        const expected = shownReference(bc, rows[r.row]!);
        expect(Math.abs(r.values![0]! - expected[0]!)).toBeLessThanOrEqual(10 ** -bc.output.precision + 1e-12);
      }
      const stored = rig.vault.historyEntry(result.historyId)!;
      expect((stored.input as { rows: number[][] }).rows).toHaveLength(3);
    } finally {
      rig.close();
    }
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
