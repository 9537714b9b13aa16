import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Plaintext } from 'node-seal';
import { keyedContextWithChain } from '../testing/keyed-context.js';
import type { KeyedContext } from '../testing/keyed-context.js';
import { mulberry32 } from '../testing/mulberry32.js';
import { samePlaintext } from '../testing/same-plaintext.js';
import { free } from '../seal/scope.js';
import { FastEncoder } from './encoder.js';

// FastEncoder: SEAL's CKKS encoding of real vectors computed in JavaScript and the key-switching
// kernel's NTTs. Every plaintext must be SEAL's bit for bit (coefficients, parms_id, scale, size),
// on the bundled models' chains and on chains that take each of the kernel's NTT paths; what it
// cannot handle goes to SEAL; a difference found by its first check sends it back to SEAL for good.

function sameAsSeal(k: KeyedContext, ours: Plaintext, theirs: Plaintext): boolean {
  return samePlaintext(k.ctx.runtime, ours, theirs);
}

function vector(next: () => number, length: number, magnitude: number): Float64Array {
  return Float64Array.from({ length }, () => (next() - 0.5) * 2 * magnitude);
}

const CHAINS: { name: string; degree: number; bits: number[]; scaleBits: number }[] = [
  { name: "mnist-cnn's chain (42, 5 × 26; 46)", degree: 8192, bits: [42, 26, 26, 26, 26, 26, 46], scaleBits: 26 },
  { name: "breast-cancer-mlp's chain (37, 3 × 26; 48)", degree: 8192, bits: [37, 26, 26, 26, 48], scaleBits: 26 },
  { name: 'N = 4096 (30, 24; 38)', degree: 4096, bits: [30, 24, 38], scaleBits: 24 },
  { name: '64-bit integer NTTs (49, 40; 60)', degree: 8192, bits: [49, 40, 60], scaleBits: 40 },
];

for (const chain of CHAINS) {
  describe(`FastEncoder on ${chain.name}: SEAL's plaintexts, bit for bit`, () => {
    let k: KeyedContext;
    let encoder: FastEncoder;
    let ours: Plaintext;
    let theirs: Plaintext;

    beforeAll(async () => {
      k = await keyedContextWithChain(chain.degree, chain.bits, chain.scaleBits);
      encoder = FastEncoder.create(k.ctx)!;
      expect(encoder).not.toBeNull();
      ours = new k.ctx.seal.Plaintext();
      theirs = new k.ctx.seal.Plaintext();
    });
    afterAll(() => {
      free(ours, theirs);
      encoder?.dispose();
      k?.dispose();
    });

    it('equals SEAL on random vectors: full, short and one value long, small and large, at three scales', () => {
      const next = mulberry32(chain.degree + chain.bits[0]!);
      const slots = k.ctx.slots;
      let cases = 0;
      for (const scale of [2 ** chain.scaleBits, 2 ** 30, 2 ** 40]) {
        for (const [length, magnitude] of [[slots, 1], [slots, 500], [Math.floor(slots / 3), 8], [1, 3], [slots, 1e-6]] as const) {
          if (magnitude * scale >= 2 ** 48) continue;
          const values = vector(next, length, magnitude);
          encoder.encode(values, scale, ours);
          k.ctx.encoder.encode(values, scale, theirs);
          expect(sameAsSeal(k, ours, theirs), `scale 2^${Math.log2(scale)}, ${length} values of magnitude ${magnitude}`).toBe(true);
          cases++;
        }
      }
      expect(encoder.problem).toBeNull();
      expect(encoder.counts.here).toBe(cases);
    });

    it('equals SEAL on a fresh plaintext and on an all-zero vector (the metadata comes from its template)', () => {
      const fresh = new k.ctx.seal.Plaintext();
      try {
        const values = new Float64Array(k.ctx.slots);
        encoder.encode(values, 2 ** chain.scaleBits, fresh);
        k.ctx.encoder.encode(values, 2 ** chain.scaleBits, theirs);
        expect(sameAsSeal(k, fresh, theirs)).toBe(true);
      } finally {
        free(fresh);
      }
    });

    it('decrypts to the values (tolerance 2^(12 − scale bits): 6.1e-5 at 2^26)', () => {
      const values = vector(mulberry32(7), k.ctx.slots, 4);
      encoder.encode(values, 2 ** chain.scaleBits, ours);
      const ct = new k.ctx.seal.Ciphertext();
      const pt = new k.ctx.seal.Plaintext();
      try {
        k.encryptor.encryptSymmetric(ours, ct);
        k.decryptor.decrypt(ct, pt);
        const decoded = k.ctx.encoder.decodeFloat64(pt) as Float64Array;
        let worst = 0;
        for (let i = 0; i < values.length; i++) worst = Math.max(worst, Math.abs(decoded[i]! - values[i]!));
        expect(worst).toBeLessThan(2 ** (12 - chain.scaleBits));
      } finally {
        free(ct, pt);
      }
    });
  });
}

describe('FastEncoder: what it leaves to SEAL', () => {
  let k: KeyedContext;
  beforeAll(async () => {
    k = await keyedContextWithChain(8192, [37, 26, 26, 26, 48], 26);
  });
  afterAll(() => k?.dispose());

  it('coefficients of 2^51 or more and non-finite values go to SEAL, with SEAL’s result or SEAL’s error', () => {
    const encoder = FastEncoder.create(k.ctx)!;
    const ours = new k.ctx.seal.Plaintext();
    const theirs = new k.ctx.seal.Plaintext();
    try {
      const large = Float64Array.from({ length: k.ctx.slots }, (_, i) => (i % 2 ? 1 : -1) * 2 ** 30);
      encoder.encode(large, 2 ** 26, ours);
      k.ctx.encoder.encode(large, 2 ** 26, theirs);
      expect(sameAsSeal(k, ours, theirs)).toBe(true);
      expect(encoder.counts).toEqual({ here: 0, seal: 1 });
      const bad = new Float64Array(k.ctx.slots).fill(1);
      bad[3] = Number.NaN;
      let sealOutcome: string;
      try {
        k.ctx.encoder.encode(bad, 2 ** 26, theirs);
        sealOutcome = 'encoded';
      } catch (err) {
        sealOutcome = String(err);
      }
      let ourOutcome: string;
      try {
        encoder.encode(bad, 2 ** 26, ours);
        ourOutcome = 'encoded';
      } catch (err) {
        ourOutcome = String(err);
      }
      expect(encoder.counts.seal).toBe(2);
      expect(ourOutcome === 'encoded' ? 'encoded' : 'threw').toBe(sealOutcome === 'encoded' ? 'encoded' : 'threw');
      expect(() => encoder.encode(new Float64Array(k.ctx.slots + 1), 2 ** 26, ours)).toThrow();
      expect(encoder.problem).toBeNull();
    } finally {
      free(ours, theirs);
      encoder.dispose();
    }
  });

  it('falls back to SEAL for good when its first check at a scale differs (a root table corrupted)', () => {
    const encoder = FastEncoder.create(k.ctx)!;
    const ours = new k.ctx.seal.Plaintext();
    const theirs = new k.ctx.seal.Plaintext();
    try {
      const values = vector(mulberry32(3), k.ctx.slots, 2);
      encoder.encode(values, 2 ** 26, ours);
      expect(encoder.counts).toEqual({ here: 1, seal: 0 });
      // White box: one root off by 2^-10 changes the encoding; a new scale is checked again.
      (encoder as unknown as { rootRe: Float64Array }).rootRe[5]! += 2 ** -10;
      encoder.encode(values, 2 ** 27, ours);
      k.ctx.encoder.encode(values, 2 ** 27, theirs);
      expect(encoder.problem).toMatch(/differed from SEAL/);
      expect(sameAsSeal(k, ours, theirs)).toBe(true);
      encoder.encode(values, 2 ** 26, ours);
      k.ctx.encoder.encode(values, 2 ** 26, theirs);
      expect(sameAsSeal(k, ours, theirs)).toBe(true);
      expect(encoder.counts).toEqual({ here: 1, seal: 2 });
    } finally {
      free(ours, theirs);
      encoder.dispose();
    }
  });
});
