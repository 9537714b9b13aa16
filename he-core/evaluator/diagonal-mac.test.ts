import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Ciphertext, Plaintext } from 'node-seal';
import { keyedContext } from '../testing/keyed-context.js';
import type { KeyedContext } from '../testing/keyed-context.js';
import { mulberry32 } from '../testing/mulberry32.js';
import { fillResidues, residueCiphertext } from '../testing/residues.js';
import { plaintextData } from '../seal/layout.js';
import { free } from '../seal/scope.js';
import { ScalarMac } from './mac.js';

// ScalarMac.addPlain: the diagonal products of linear layers (SEAL's multiply_plain + add) in our
// WebAssembly kernel. The sums must be SEAL's bit for bit, including at the edges of the
// arithmetic: residues 0, 1, q − 1 and random ones in both operands, for the 26-bit primes (SIMD
// doubles), a 38-bit one and 45–49-bit ones (64-bit integers with a floating-point quotient).
const bytesOf = (k: KeyedContext, ct: Ciphertext): Buffer => Buffer.from(ct.saveToArray(k.ctx.seal.ComprModeType.none) as Uint8Array);

function suite(name: string, make: () => Promise<KeyedContext>, levels: number[], largestPrimeBits: number): void {
  describe(`ScalarMac.addPlain on ${name}: SEAL's multiply_plain + add, bit for bit`, () => {
    let k: KeyedContext;
    let mac: ScalarMac;

    beforeAll(async () => {
      k = await make();
      const data = k.ctx.params.primes.slice(0, k.ctx.topLevel + 1).map(Number);
      expect(Math.ceil(Math.log2(Math.max(...data)))).toBe(largestPrimeBits);
      const m = ScalarMac.create(k.ctx);
      expect(m).not.toBeNull();
      mac = m!;
    });
    afterAll(() => {
      mac?.dispose();
      k?.dispose();
    });

    const ciphertextAt = (level: number, rnd: () => number): Ciphertext => residueCiphertext(k, level, rnd);

    function plaintextAt(level: number, rnd: () => number): Plaintext {
      const { ctx } = k;
      const pt = new ctx.seal.Plaintext();
      // Small scales: the product's scale must fit below the last prime (the coefficients are overwritten anyway).
      ctx.encoder.encode(Float64Array.from({ length: ctx.slots }, () => rnd() - 0.5), 2 ** 12, pt);
      if (level < ctx.topLevel) ctx.evaluator.plainModSwitchToInplace(pt, ctx.parmsId(level));
      fillResidues(k.ctx, plaintextData(ctx.runtime, pt)!, level + 1, 1, rnd);
      return pt;
    }

    for (const level of levels) {
      it(`level ${level}: a sum of 8 products equals SEAL's; the self-check sees a difference`, () => {
        const { ctx } = k;
        const rnd = mulberry32(0xd1a9 + level);
        const xs = Array.from({ length: 8 }, () => ciphertextAt(level, rnd));
        const ds = Array.from({ length: 8 }, () => plaintextAt(level, rnd));
        const reference = new ctx.seal.Ciphertext();
        const term = new ctx.seal.Ciphertext();
        const target = new ctx.seal.Ciphertext();
        try {
          ctx.evaluator.multiplyPlain(xs[0]!, ds[0]!, reference);
          ctx.evaluator.multiplyPlain(xs[0]!, ds[0]!, target);
          for (let i = 1; i < xs.length; i++) {
            ctx.evaluator.multiplyPlain(xs[i]!, ds[i]!, term);
            ctx.evaluator.addInplace(reference, term);
          }
          mac.begin(level);
          mac.addPlain(xs[0]!, ds[0]!);
          expect(mac.equals(target)).toBe(true);
          for (let i = 1; i < xs.length; i++) mac.addPlain(xs[i]!, ds[i]!);
          expect(mac.equals(reference)).toBe(true);
          expect(mac.equals(target)).toBe(false);
          mac.storeInto(target);
          expect(bytesOf(k, target).equals(bytesOf(k, reference))).toBe(true);
        } finally {
          free(reference, term, target, ...xs, ...ds);
        }
      });
    }

    it('refuses a plaintext of another level and one not in NTT form', () => {
      const { ctx } = k;
      const rnd = mulberry32(7);
      const top = ctx.topLevel;
      const x = ciphertextAt(top, rnd);
      const low = plaintextAt(top - 1, rnd);
      const coefficients = new ctx.seal.Plaintext();
      try {
        mac.begin(top);
        expect(() => mac.addPlain(x, low)).toThrow(/NTT form at the sum/);
        coefficients.resize(ctx.params.polyModulusDegree * (top + 1));
        expect(() => mac.addPlain(x, coefficients)).toThrow(/NTT form at the sum/);
      } finally {
        free(x, low, coefficients);
      }
    });
  });
}

// mnist-cnn's parameters: 38-bit q0, five 26-bit primes.
suite('mnist-cnn’s parameters (38 + 5 × 26 bits)', () => keyedContext(), [5, 3, 0], 38);
// Larger primes, near the kernel's 2^50 limit: the integer path's quotient estimate at its worst.
suite('45–49-bit primes', () => keyedContext({ depth: 2, scaleBits: 45, headroomBits: 4, minSlots: 4096 }), [2, 0], 49);
