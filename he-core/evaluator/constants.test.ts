import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Ciphertext, Decryptor, Encryptor, Plaintext } from 'node-seal';
import { keyedContext } from '../testing/keyed-context.js';
import type { KeyedContext } from '../testing/keyed-context.js';
import { mulberry32 } from '../testing/mulberry32.js';
import type { HeContext } from '../params/context.js';
import { primeAt } from '../params/parameters.js';
import { free } from '../seal/scope.js';
import { ConstantWriter } from './constants.js';

/** Whether two plaintexts hold the same coefficients (their uncompressed serialisations after the 88 bytes of headers). */
function sameCoefficients(ctx: HeContext, a: Plaintext, b: Plaintext): boolean {
  const bytes = (pt: Plaintext): Buffer => Buffer.from(pt.saveToArray(ctx.seal.ComprModeType.none) as Uint8Array).subarray(88);
  return bytes(a).equals(bytes(b));
}

describe('ConstantWriter', () => {
  let ctx: HeContext;
  let writer: ConstantWriter;
  let keyed: KeyedContext;
  let encryptor: Encryptor;
  let decryptor: Decryptor;

  beforeAll(async () => {
    // mnist-cnn's parameter set: N = 8192, six primes.
    keyed = await keyedContext();
    ({ ctx, encryptor, decryptor } = keyed);
    const w = ConstantWriter.create(ctx);
    // The fast path must be active on the installed node-seal; a null here means its layout changed.
    expect(w).not.toBeNull();
    writer = w!;
  });

  afterAll(() => {
    writer?.dispose();
    keyed?.dispose();
  });

  function encoded(value: number, scale: number, level: number): Plaintext {
    const pt = new ctx.seal.Plaintext();
    ctx.encoder.encode(new Float64Array(ctx.slots).fill(value), scale, pt);
    if (level < ctx.topLevel) ctx.evaluator.plainModSwitchToInplace(pt, ctx.parmsId(level));
    return pt;
  }

  it('writes the same coefficients as SEAL encodes for a constant vector, at every level', () => {
    const rnd = mulberry32(0xc0457);
    for (let n = 0; n < 40; n++) {
      const level = n % (ctx.topLevel + 1);
      const scale = n % 3 === 0 ? 1 : primeAt(ctx.params, Math.max(level, 1));
      // Every fourth value lands on a half (k + 0.5 after scaling), where rounding conventions differ.
      const value = n % 4 === 1 ? (Math.round((rnd() - 0.5) * 1000) + 0.5) / scale : n % 3 === 0 ? Math.round((rnd() - 0.5) * 2000) : (rnd() - 0.5) * 4;
      const reference = encoded(value, scale, level);
      try {
        const written = writer.write(value, scale, level)!;
        expect(written.scale()).toBe(scale);
        expect(written.isNttForm()).toBe(true);
        expect(written.coeffCount()).toBe(reference.coeffCount());
        // Identical numbers: the encoder's inverse FFT of a constant vector rounds to the same integer.
        expect(sameCoefficients(ctx, written, reference), `value ${value}, scale ${scale}, level ${level}`).toBe(true);
      } finally {
        free(reference);
      }
    }
  });

  it('multiplies a ciphertext by a scalar exactly as an encoded constant does, within 1e-3 of w·x (CKKS noise at scale 2^26)', () => {
    const rnd = mulberry32(0x5ca1a);
    const level = ctx.topLevel;
    const q = primeAt(ctx.params, level);
    const x = Float64Array.from({ length: ctx.slots }, () => rnd() * 2 - 1);
    const input = new ctx.seal.Plaintext();
    const ct: Ciphertext = new ctx.seal.Ciphertext();
    const out: Ciphertext = new ctx.seal.Ciphertext();
    const viaEncoder: Ciphertext = new ctx.seal.Ciphertext();
    const decrypted = new ctx.seal.Plaintext();
    try {
      ctx.encoder.encode(x, 2 ** 26, input);
      encryptor.encryptSymmetric(input, ct);
      for (const w of [0.731, -1.25, 3e-3, -0.5]) {
        ctx.evaluator.multiplyPlain(ct, writer.write(w, q, level)!, out);
        const constant = encoded(w, q, level);
        try {
          ctx.evaluator.multiplyPlain(ct, constant, viaEncoder);
        } finally {
          free(constant);
        }
        const same = Buffer.from(out.saveToArray(ctx.seal.ComprModeType.none) as Uint8Array).equals(Buffer.from(viaEncoder.saveToArray(ctx.seal.ComprModeType.none) as Uint8Array));
        expect(same, 'the product through the written constant equals the product through the encoded one, bit for bit').toBe(true);
        ctx.evaluator.rescaleToNextInplace(out);
        decryptor.decrypt(out, decrypted);
        const y = ctx.encoder.decodeFloat64(decrypted) as Float64Array;
        let maxErr = 0;
        for (let i = 0; i < ctx.slots; i++) maxErr = Math.max(maxErr, Math.abs(y[i]! - w * x[i]!));
        expect(maxErr).toBeLessThan(1e-3);
      }
    } finally {
      free(input, ct, out, viaEncoder, decrypted);
    }
  });

  it('keeps writing to the right place after the WebAssembly heap grows', () => {
    const before = ctx.runtime.heapBytes();
    const hog: Plaintext[] = [];
    try {
      while (ctx.runtime.heapBytes() < before + 64 * 2 ** 20) hog.push(encoded(1, 2 ** 20, ctx.topLevel));
      const reference = encoded(-0.375, 2 ** 26, 2);
      try {
        expect(sameCoefficients(ctx, writer.write(-0.375, 2 ** 26, 2)!, reference)).toBe(true);
      } finally {
        free(reference);
      }
    } finally {
      free(...hog);
    }
  });

  it('declines values whose scaled integer is not exact in a double (the caller encodes those)', () => {
    expect(writer.write(1e6, 2 ** 50, 1)).toBeNull();
    expect(writer.write(1, 2 ** 26, ctx.topLevel + 1)).toBeNull();
  });
});
