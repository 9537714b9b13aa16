import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { compile } from '../compiler/compile.js';
import { EnvelopeKind } from '../envelope/envelope.js';
import { openCiphertextEnvelope } from '../envelope/ciphertexts.js';
import { parseModel } from '../model/validate.js';
import { HeContext } from '../params/context.js';
import { loadSeal } from '../seal/runtime.js';
import { free } from '../seal/scope.js';
import { mulberry32 } from '../testing/mulberry32.js';
import { ClientKeyPair } from './client-keys.js';
import { decryptVectors, layoutRequest } from './crypto.js';
import { PARALLEL_MIN_VECTORS, encryptRequestParallel, encryptVectorsParallel, encryptionHelper } from './parallel.js';
import type { Plan } from '../compiler/plan.js';

// Encryption on two threads (parallel.ts): every ciphertext must decrypt to its own slot vector
// (order kept), within CKKS's encoding error: tolerance 1e-4 absolute on values in [−1, 1] at
// mnist-cnn's input scale (2^26 here: rounding error about 2^-26 per coefficient, times the
// decoding's growth, far below 1e-4); the helper thread must take part; and when it dies holding
// vectors, the caller encrypts them itself: the same guarantee, one thread from then on.
const TOLERANCE = 1e-4;

describe('encryption on two threads (the key pair’s helper thread)', () => {
  let plan: Plan;
  let ctx: HeContext;
  let keys: ClientKeyPair;
  beforeAll(async () => {
    const rt = await loadSeal();
    const model = parseModel(readFileSync('assets/models/mnist-cnn.json', 'utf8'));
    plan = compile(rt.seal, model, { mode: 'batch' });
    ctx = HeContext.create(rt, plan.public.params);
    keys = ClientKeyPair.generate(ctx);
  });
  afterAll(() => {
    keys?.dispose();
    ctx?.dispose();
  });

  const vectorsOf = (count: number, seed: number): Float64Array[] => {
    const rnd = mulberry32(seed);
    return Array.from({ length: count }, () => Float64Array.from({ length: ctx.slots }, () => 2 * rnd() - 1));
  };

  function maxError(items: Uint8Array[], vectors: readonly Float64Array[]): number {
    const cts = items.map((bytes) => {
      const ct = new ctx.seal.Ciphertext();
      ct.loadFromArray(ctx.context, Uint8Array.from(bytes));
      return ct;
    });
    try {
      const decrypted = decryptVectors(keys, cts);
      let worst = 0;
      decrypted.forEach((d, i) => {
        for (let s = 0; s < ctx.slots; s++) worst = Math.max(worst, Math.abs(d[s]! - vectors[i]![s]!));
      });
      return worst;
    } finally {
      free(...cts);
    }
  }

  it('each ciphertext decrypts to its own vector, the helper made some of them, and no two are alike', async () => {
    const vectors = vectorsOf(48, 0xe1c);
    const helper = encryptionHelper(keys);
    // A request while the helper is still starting: the caller does it all, or most of it.
    const early = await encryptVectorsParallel(keys, plan.public, vectors.slice(0, PARALLEL_MIN_VECTORS));
    expect(maxError(early, vectors.slice(0, PARALLEL_MIN_VECTORS))).toBeLessThan(TOLERANCE);
    expect(await helper.ready()).toBe(true);
    const before = helper.helped;
    const items = await encryptVectorsParallel(keys, plan.public, vectors);
    expect(items).toHaveLength(vectors.length);
    expect(helper.helped - before).toBeGreaterThan(0);
    expect(helper.helperProblem).toBeNull();
    expect(maxError(items, vectors)).toBeLessThan(TOLERANCE);
    // Seeded encryptions with independent randomness in both threads: every ciphertext differs.
    expect(new Set(items.map((b) => Buffer.from(b).toString('base64'))).size).toBe(items.length);
  });

  it('a whole mnist-cnn batch request: the envelope the service opens, each pixel’s ciphertext its own slot vector', async () => {
    const rnd = mulberry32(7);
    const samples = Array.from({ length: 20 }, () => Array.from({ length: 784 }, () => rnd()));
    const request = await encryptRequestParallel(keys, plan.public, samples);
    const opened = openCiphertextEnvelope(ctx, request, EnvelopeKind.ciphertexts, plan.public.input);
    try {
      const expected = layoutRequest(plan.public, samples);
      expect(opened).toHaveLength(expected.length);
      // Every 7th pixel's ciphertext (both threads made some of them), decrypted.
      const picked = expected.map((_, i) => i).filter((i) => i % 7 === 0);
      const decrypted = decryptVectors(keys, picked.map((i) => opened[i]!));
      let worst = 0;
      decrypted.forEach((d, k) => {
        for (let s = 0; s < ctx.slots; s++) worst = Math.max(worst, Math.abs(d[s]! - expected[picked[k]!]![s]!));
      });
      expect(worst).toBeLessThan(TOLERANCE);
    } finally {
      free(...opened);
    }
  }, 60_000);

  it('a helper that dies holding vectors: the caller encrypts them itself, and later requests use one thread', async () => {
    const other = ClientKeyPair.fromSecretKeyBytes(ctx, keys.exportSecretKey());
    try {
      const helper = encryptionHelper(other);
      expect(await helper.ready()).toBe(true);
      expect(helper.helperProblem).toBeNull();
      const vectors = vectorsOf(40, 0xdead);
      // The helper ends after taking 3 vectors (2 made, the third in hand): none of its results arrive.
      const items = await helper.encrypt(other, vectors, plan.public.input.scale, 'zstd', 2);
      expect(helper.helperProblem).toMatch(/exited \(3\)/);
      expect(maxError(items, vectors)).toBeLessThan(TOLERANCE);
      const helped = helper.helped;
      const again = await encryptVectorsParallel(other, plan.public, vectors);
      expect(helper.helped).toBe(helped);
      expect(maxError(again, vectors)).toBeLessThan(TOLERANCE);
    } finally {
      other.dispose();
    }
  }, 60_000);

  it('refuses a plan of another parameter set; ends the helper with the key pair', async () => {
    const rt = await loadSeal();
    const tabular = compile(rt.seal, parseModel(readFileSync('assets/models/breast-cancer.json', 'utf8')), { mode: 'batch' });
    await expect(encryptVectorsParallel(keys, tabular.public, vectorsOf(PARALLEL_MIN_VECTORS, 2))).rejects.toMatchObject({ code: 'params_mismatch' });
    const other = ClientKeyPair.fromSecretKeyBytes(ctx, keys.exportSecretKey());
    const helper = encryptionHelper(other);
    other.dispose();
    expect(helper.helperProblem).toMatch(/disposed/);
  });
});
