import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Ciphertext, Decryptor, Encryptor } from 'node-seal';
import { keyedContext } from '../testing/keyed-context.js';
import type { KeyedContext } from '../testing/keyed-context.js';
import { mulberry32 } from '../testing/mulberry32.js';
import type { HeContext } from '../params/context.js';
import { primeAt } from '../params/parameters.js';
import { free } from '../seal/scope.js';
import { ConstantWriter } from './constants.js';
import { ScalarMac } from './mac.js';

const bytesOf = (ctx: HeContext, ct: Ciphertext): Buffer => Buffer.from(ct.saveToArray(ctx.seal.ComprModeType.none) as Uint8Array);

describe('ScalarMac: multiply-accumulate by scalars on SEAL’s memory', () => {
  let ctx: HeContext;
  let mac: ScalarMac;
  let writer: ConstantWriter;
  let keyed: KeyedContext;
  let encryptor: Encryptor;
  let decryptor: Decryptor;

  beforeAll(async () => {
    // mnist-cnn's parameter set: a 38-bit first prime (the 64-bit integer path) and 26-bit ones (SIMD doubles).
    keyed = await keyedContext();
    ({ ctx, encryptor, decryptor } = keyed);
    expect(Number(ctx.params.primes[0])).toBeGreaterThan(2 ** 26);
    const m = ScalarMac.create(ctx);
    // The kernel must be usable on the installed node-seal.
    expect(m).not.toBeNull();
    mac = m!;
    writer = ConstantWriter.create(ctx)!;
  });

  afterAll(() => {
    mac?.dispose();
    writer?.dispose();
    keyed?.dispose();
  });

  function encryptAt(values: Float64Array, level: number): Ciphertext {
    const pt = new ctx.seal.Plaintext();
    const ct = new ctx.seal.Ciphertext();
    try {
      ctx.encoder.encode(values, 2 ** 26, pt);
      encryptor.encryptSymmetric(pt, ct);
      if (level < ctx.topLevel) ctx.evaluator.cipherModSwitchToInplace(ct, ctx.parmsId(level));
      return ct;
    } finally {
      free(pt);
    }
  }

  /** SEAL's own Σ w·x: multiply_plain by each constant, then add. */
  function sealSum(xs: Ciphertext[], ws: number[], scale: number, level: number): Ciphertext {
    const acc = new ctx.seal.Ciphertext();
    ctx.evaluator.multiplyPlain(xs[0]!, writer.write(ws[0]!, scale, level)!, acc);
    const term = new ctx.seal.Ciphertext();
    try {
      for (let i = 1; i < xs.length; i++) {
        ctx.evaluator.multiplyPlain(xs[i]!, writer.write(ws[i]!, scale, level)!, term);
        ctx.evaluator.addInplace(acc, term);
      }
    } finally {
      free(term);
    }
    return acc;
  }

  for (const level of [5, 3, 1]) {
    it(`gives SEAL's sum bit for bit at level ${level} (weights of both signs, a half, tiny and large)`, () => {
      const rnd = mulberry32(0x3ac + level);
      const scale = primeAt(ctx.params, Math.max(level, 1));
      const xs = Array.from({ length: 7 }, () => encryptAt(Float64Array.from({ length: ctx.slots }, () => rnd() * 2 - 1), level));
      const ws = [0.731, -1.25, 3e-4, -0.5 / scale + 7, 12.5, -(rnd() * 3), rnd()];
      const reference = sealSum(xs, ws, scale, level);
      const target = new ctx.seal.Ciphertext();
      try {
        ctx.evaluator.multiplyPlain(xs[0]!, writer.write(ws[0]!, scale, level)!, target);
        mac.begin(level);
        mac.add(xs[0]!, ws[0]!, scale);
        expect(mac.equals(target)).toBe(true);
        for (let i = 1; i < xs.length; i++) mac.add(xs[i]!, ws[i]!, scale);
        expect(mac.equals(reference)).toBe(true);
        expect(mac.equals(target)).toBe(false);
        mac.storeInto(target);
        expect(bytesOf(ctx, target).equals(bytesOf(ctx, reference))).toBe(true);
      } finally {
        free(target, reference, ...xs);
      }
    });
  }

  it('decrypts to Σ w·x within 1e-3 of the float64 sum (CKKS noise at scale 2^26)', () => {
    const rnd = mulberry32(0x5eed);
    const level = ctx.topLevel;
    const q = primeAt(ctx.params, level);
    const values = Array.from({ length: 20 }, () => Float64Array.from({ length: ctx.slots }, () => rnd() * 2 - 1));
    const ws = values.map(() => rnd() * 2 - 1);
    const xs = values.map((v) => encryptAt(v, level));
    const target = new ctx.seal.Ciphertext();
    const pt = new ctx.seal.Plaintext();
    try {
      ctx.evaluator.multiplyPlain(xs[0]!, writer.write(ws[0]!, q, level)!, target);
      mac.begin(level);
      xs.forEach((x, i) => mac.add(x, ws[i]!, q));
      mac.storeInto(target);
      ctx.evaluator.rescaleToNextInplace(target);
      decryptor.decrypt(target, pt);
      const y = ctx.encoder.decodeFloat64(pt) as Float64Array;
      let maxErr = 0;
      for (let s = 0; s < ctx.slots; s += 7) {
        const expected = values.reduce((a, v, i) => a + ws[i]! * v[s]!, 0);
        maxErr = Math.max(maxErr, Math.abs(y[s]! - expected));
      }
      expect(maxErr).toBeLessThan(1e-3);
    } finally {
      free(target, pt, ...xs);
    }
  });

  it('refuses a ciphertext of another level, and more terms than the accumulator keeps exact', () => {
    const ct = encryptAt(new Float64Array(ctx.slots).fill(0.5), 2);
    try {
      mac.begin(3);
      expect(() => mac.add(ct, 0.5, 2 ** 26)).toThrow(/layout|shape/);
      mac.begin(2);
      for (let i = 0; i < ScalarMac.maxTerms; i++) mac.add(ct, 1, 1);
      expect(() => mac.add(ct, 1, 1)).toThrow(/more than/);
    } finally {
      free(ct);
    }
  }, 120_000);
});
