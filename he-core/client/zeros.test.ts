import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Ciphertext } from 'node-seal';
import { compile } from '../compiler/compile.js';
import type { Plan, PublicPlan } from '../compiler/plan.js';
import { HeContext } from '../params/context.js';
import { loadSeal } from '../seal/runtime.js';
import { free } from '../seal/scope.js';
import { bundledModel } from '../testing/bundled-model.js';
import { mulberry32 } from '../testing/mulberry32.js';
import { ClientKeyPair } from './client-keys.js';
import { encryptVector, encryptVectors } from './crypto.js';

// Prepared encryptions of zero (zeros.ts). The bytes must be SEAL's: its encryption of zero, loaded,
// plus the same plaintext by SEAL's add_plain, saved, equals our finished request loaded and
// saved, byte for byte. Decryption is compared with the input slot vector within 1e-4 absolute
// (values in [−1, 1] at the plans' input scale 2^26: CKKS's encoding and fresh-encryption error
// is about 2^-20 at most, far below it).
const TOLERANCE = 1e-4;

/** The stock's bytes, read before they are used (the test's only look inside PreparedZeros). */
function stockOf(keys: ClientKeyPair, plan: PublicPlan): Uint8Array[] {
  const stock = (keys.zeros as unknown as { stock: Map<string, { buffer: Uint8Array; bytes: number }[]> }).stock;
  const list = [...stock.entries()].find(([k]) => k.startsWith(`${plan.params.fingerprint}/${plan.input.level}/`))?.[1] ?? [];
  return list.map((z) => z.buffer.slice(z.buffer.length - z.bytes));
}

for (const id of ['breast-cancer-mlp', 'mnist-cnn'] as const) {
  describe(`prepared encryptions (${id}, single plan)`, () => {
    let plan: Plan;
    let ctx: HeContext;
    let keys: ClientKeyPair;
    beforeAll(async () => {
      const rt = await loadSeal();
      plan = compile(rt.seal, bundledModel(id), { mode: 'single' });
      ctx = HeContext.create(rt, plan.public.params);
      keys = ClientKeyPair.generate(ctx);
    });
    afterAll(() => {
      keys?.dispose();
      ctx?.dispose();
    });

    const vector = (seed: number): Float64Array => {
      const rnd = mulberry32(seed);
      return Float64Array.from({ length: ctx.slots }, () => 2 * rnd() - 1);
    };
    const load = (bytes: Uint8Array): Ciphertext => {
      const ct = new ctx.seal.Ciphertext();
      ct.loadFromArray(ctx.context, bytes);
      return ct;
    };
    const decrypt = (bytes: Uint8Array): Float64Array => {
      const ct = load(bytes);
      const pt = new ctx.seal.Plaintext();
      try {
        keys.decryptor.decrypt(ct, pt);
        return Float64Array.from(ctx.encoder.decodeFloat64(pt) as Float64Array);
      } finally {
        free(ct, pt);
      }
    };
    const worst = (a: Float64Array, b: Float64Array): number => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i]!)), 0);

    it('the request is SEAL’s encryption of zero plus the plaintext (add_plain), byte for byte', () => {
      expect(keys.zeros.prepare(plan.public, 1)).toBe(1);
      const [zero] = stockOf(keys, plan.public);
      expect(zero).toBeDefined();
      const v = vector(1);
      const request = encryptVector(keys, v, plan.public.input.scale, 'none', undefined, plan.public);
      expect(keys.zeros.count(plan.public)).toBe(0);
      const pt = new ctx.seal.Plaintext();
      const expected = load(zero!);
      const got = load(request);
      try {
        ctx.encoder.encode(v, plan.public.input.scale, pt);
        ctx.evaluator.addPlainInplace(expected, pt);
        expect(got.scale()).toBe(plan.public.input.scale);
        const a = got.saveToArray(ctx.seal.ComprModeType.none) as Uint8Array;
        const b = expected.saveToArray(ctx.seal.ComprModeType.none) as Uint8Array;
        expect(a.length).toBe(b.length);
        expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
        // Not the zero itself: the plaintext went in.
        expect(Buffer.from(request).equals(Buffer.from(zero!))).toBe(false);
      } finally {
        free(pt, expected, got);
      }
      expect(worst(decrypt(request), v)).toBeLessThan(TOLERANCE);
    });

    it('each zero is used once, then SEAL encrypts in full; every ciphertext decrypts to its vector, with its own seed', () => {
      keys.zeros.clear();
      expect(keys.zeros.prepare(plan.public, 2)).toBe(2);
      expect(keys.zeros.prepare(plan.public, 2)).toBe(0);
      const vectors = [vector(2), vector(3), vector(4)];
      const requests = encryptVectors(keys, plan.public, vectors, 'none');
      expect(keys.zeros.count(plan.public)).toBe(0);
      requests.forEach((r, i) => expect(worst(decrypt(r), vectors[i]!)).toBeLessThan(TOLERANCE));
      // The seed record (the last 64 bytes): a fresh one per ciphertext.
      const seeds = new Set(requests.map((r) => Buffer.from(r.subarray(r.length - 64)).toString('hex')));
      expect(seeds.size).toBe(3);
      // zstd requests from a prepared zero decrypt too.
      keys.zeros.prepare(plan.public, 1);
      const [compressed] = encryptVectors(keys, plan.public, [vectors[0]!]);
      expect(keys.zeros.count(plan.public)).toBe(0);
      expect(compressed![5]).toBe(2);
    });

    it('a zero is not used for another scale; clear() forgets the stock', () => {
      keys.zeros.clear();
      keys.zeros.prepare(plan.public, 1);
      const v = vector(5);
      const other = encryptVector(keys, v, plan.public.input.scale * 2, 'none', undefined, plan.public);
      expect(keys.zeros.count(plan.public)).toBe(1);
      expect(worst(decrypt(other), v)).toBeLessThan(TOLERANCE);
      const prepared = stockOf(keys, plan.public)[0]!;
      keys.zeros.clear();
      expect(keys.zeros.count(plan.public)).toBe(0);
      expect(prepared.some((b) => b !== 0)).toBe(true);
      // Without a stock, SEAL encrypts: the same guarantee.
      const plain = encryptVector(keys, v, plan.public.input.scale, 'none', undefined, plan.public);
      expect(worst(decrypt(plain), v)).toBeLessThan(TOLERANCE);
    });
  });
}
