import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HeContext, PlanEvaluator, batchSplit, compile, encodeKeyEnvelope, evaluateEnvelope, evaluatePartEnvelope, loadSeal, mergePartsToEnvelope, openKeyEnvelope } from '../../he-core/index.js';
import type { EvaluationKeys, Plan } from '../../he-core/index.js';
import { ClientKeyPair, decryptResult, encryptRequest } from '../../he-core/client/index.js';
import { loadBreastCancer } from '../../scripts/datasets/breast-cancer.js';
import { compare, loadBundledModel } from './harness.js';

// A batch request split across workers (the service does this with two or more workers): shares of
// the first layer's rows, joined before the rest of the plan. The decrypted answers must equal the
// unsplit evaluation's within 1e-3 (the partial sums are rescaled one by one, which adds rounding
// noise of about 2e-4 after the square; the evaluation's own error against float64 reaches 1.6e-3)
// and the plaintext reference within the model's test-vector tolerance, with the same class everywhere.
const SPLIT_VS_WHOLE = 1e-3;

describe('a batch request split across workers equals the whole evaluation', () => {
  const model = loadBundledModel('breast-cancer-mlp');
  const rows = loadBreastCancer().test.x;
  let plan: Plan;
  let ctx: HeContext;
  let evaluator: PlanEvaluator;
  let client: ClientKeyPair;
  let keys: EvaluationKeys;

  beforeAll(async () => {
    const rt = await loadSeal();
    plan = compile(rt.seal, model, { mode: 'batch' });
    // Answers packed with every bit of q0 (rounding below one unit): this compares the two
    // evaluations, not the packing's noise (packed-result.test.ts measures that).
    const q0Bits = plan.public.params.coeffModulusBits[0]!;
    plan.public.output.packing = { ...plan.public.output.packing, multiplier: 1, bits: [q0Bits, q0Bits] };
    ctx = HeContext.create(rt, plan.public.params);
    evaluator = new PlanEvaluator(ctx, plan);
    client = ClientKeyPair.generate(ctx);
    const generated = client.createEvaluationKeys(plan.public);
    keys = openKeyEnvelope(ctx, plan.public, encodeKeyEnvelope(ctx.params.fingerprint, generated.relin, generated.galois));
  });

  afterAll(() => {
    keys?.dispose();
    client?.dispose();
    evaluator?.dispose();
    ctx?.dispose();
  });

  it('finds the split point of a batch plan, and none in a single-sample plan', async () => {
    expect(batchSplit(plan)).toEqual({ second: 2 });
    const rt = await loadSeal();
    expect(batchSplit(compile(rt.seal, model, { mode: 'single' }))).toBeNull();
  });

  for (const parts of [2, 3]) {
    it(`in ${parts} shares`, () => {
      const request = encryptRequest(client, plan.public, rows);
      const whole = decryptResult(client, plan.public, evaluateEnvelope(evaluator, keys, request), rows.length);
      const shares = Array.from({ length: parts }, (_, part) => evaluatePartEnvelope(evaluator, keys, request, part, parts));
      // Five first-layer rows: every share holds some, and a share's sums are uncompressed ciphertexts.
      for (const share of shares) expect(share.some((b) => b !== null)).toBe(true);
      const split = decryptResult(client, plan.public, mergePartsToEnvelope(evaluator, keys, shares), rows.length);
      let maxDiff = 0;
      split.forEach((out, i) => out.forEach((v, j) => (maxDiff = Math.max(maxDiff, Math.abs(v - whole[i]![j]!)))));
      expect(maxDiff).toBeLessThan(SPLIT_VS_WHOLE);
      const agreement = compare(model, rows, split);
      expect(agreement.sameClass).toBe(rows.length);
      expect(agreement.maxOutputError).toBeLessThanOrEqual(Math.max(...model.testVectors.map((tv) => tv.tolerance)));
    });
  }

  it('batch layers run on the multiply-accumulate kernel; if its self-check fails, SEAL takes over and the answer is the same', () => {
    expect(evaluator.macPath).toBe('kernel');
    expect(evaluator.constantPath).toBe('direct');
    const request = encryptRequest(client, plan.public, rows);
    const viaKernel = decryptResult(client, plan.public, evaluateEnvelope(evaluator, keys, request), rows.length);
    const broken = new PlanEvaluator(ctx, plan);
    try {
      // Simulate a SEAL build whose memory layout the kernel misreads: its first product differs.
      const internals = broken as unknown as { mac: { equals(): boolean } | null };
      internals.mac!.equals = () => false;
      const viaSeal = decryptResult(client, plan.public, evaluateEnvelope(broken, keys, request), rows.length);
      expect(broken.macPath).toBe('seal');
      expect(broken.macProblem).toMatch(/differs from SEAL/);
      let maxDiff = 0;
      viaSeal.forEach((out, i) => out.forEach((v, j) => (maxDiff = Math.max(maxDiff, Math.abs(v - viaKernel[i]![j]!)))));
      // The same exact arithmetic on the same ciphertexts: bit-identical results.
      expect(maxDiff).toBe(0);
    } finally {
      broken.dispose();
    }
  });

  it('rows after the first start from a copy of their input and the kernel writes them: the same bytes as SEAL all the way; a kernel failing on a later row hands the rest to SEAL, same bytes', () => {
    const request = encryptRequest(client, plan.public, rows);
    const sealOnly = new PlanEvaluator(ctx, plan);
    const failing = new PlanEvaluator(ctx, plan);
    try {
      (sealOnly as unknown as { mac: { equals(): boolean } | null }).mac!.equals = () => false;
      // The kernel verifies on the first row, then throws on the fourth row's sum.
      const mac = (failing as unknown as { mac: { add(...a: unknown[]): void; begin(level: number): void } }).mac;
      const add = mac.add.bind(mac);
      const begin = mac.begin.bind(mac);
      let rowsBegun = 0;
      mac.begin = (level: number) => {
        rowsBegun++;
        begin(level);
      };
      mac.add = (...a: unknown[]) => {
        if (rowsBegun === 4) throw new Error('simulated kernel failure');
        add(...a);
      };
      const viaKernel = evaluateEnvelope(evaluator, keys, request);
      const viaSeal = evaluateEnvelope(sealOnly, keys, request);
      // Without the frames (EvaluatorOptions.rowFrames: false, the benchmark's "before"): the same bytes too.
      const unframed = new PlanEvaluator(ctx, plan, { rowFrames: false });
      try {
        expect(Buffer.from(evaluateEnvelope(unframed, keys, request)).equals(Buffer.from(viaSeal))).toBe(true);
        expect(unframed.macPath).toBe('kernel');
      } finally {
        unframed.dispose();
      }
      const viaFailing = evaluateEnvelope(failing, keys, request);
      expect(evaluator.macPath).toBe('kernel');
      expect(sealOnly.macPath).toBe('seal');
      expect(failing.macPath).toBe('seal');
      expect(failing.macProblem).toBe('simulated kernel failure');
      expect(rowsBegun).toBeGreaterThanOrEqual(4);
      expect(Buffer.from(viaKernel).equals(Buffer.from(viaSeal))).toBe(true);
      expect(Buffer.from(viaFailing).equals(Buffer.from(viaSeal))).toBe(true);
    } finally {
      sealOnly.dispose();
      failing.dispose();
    }
  });

  it('mnist-cnn: each of two shares loads only the pixels under its windows; together they load every one', async () => {
    const rt = await loadSeal();
    const mnist = compile(rt.seal, loadBundledModel('mnist-cnn'), { mode: 'batch' });
    const mnistCtx = HeContext.create(rt, mnist.public.params);
    const mnistEvaluator = new PlanEvaluator(mnistCtx, mnist);
    try {
      const shares = [0, 1].map((part) => mnistEvaluator.shareOf(part, 2));
      const cols = mnist.public.input.count;
      for (const share of shares) {
        expect(share.rows.length).toBe(128);
        expect(share.columns.length).toBeLessThan(0.7 * cols);
      }
      expect(new Set(shares.flatMap((s) => s.columns)).size).toBe(cols);
      expect(new Set(shares.flatMap((s) => s.rows)).size).toBe(256);
    } finally {
      mnistEvaluator.dispose();
      mnistCtx.dispose();
    }
  });

  it('refuses a share number out of range, and a merge with a missing share', () => {
    const request = encryptRequest(client, plan.public, rows.slice(0, 3));
    expect(() => evaluatePartEnvelope(evaluator, keys, request, 2, 2)).toThrow(RangeError);
    const share = evaluatePartEnvelope(evaluator, keys, request, 0, 2);
    // Share 0 of 2 alone lacks rows 1 and 3 of the first layer: the answer would be wrong, but it is
    // not detectable from the ciphertexts; the service always sends every share. What it must not do
    // is crash on an empty merge.
    expect(() => mergePartsToEnvelope(evaluator, keys, [share.map(() => null)])).toThrow(/no non-zero weight/);
  });
});
