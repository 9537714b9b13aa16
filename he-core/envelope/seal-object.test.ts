import { deflateSync, zstdCompressSync } from 'node:zlib';
import { afterAll, beforeAll, describe, it, expect } from 'vitest';
import type { Ciphertext, Decryptor, Encryptor, KeyGenerator, PublicKey, SecretKey } from 'node-seal';
import { HeContext } from '../params/context.js';
import { selectParameters } from '../params/select.js';
import { loadSeal } from '../seal/runtime.js';
import type { SealRuntime } from '../seal/runtime.js';
import { free } from '../seal/scope.js';
import { failure, sealObject, zstdRleBomb } from '../testing/seal-objects.js';
import { checkCiphertextLayout, compressSealObject, decompressSealObject, maxCiphertextBytes, readSealHeader, saveCompressed } from './seal-object.js';

const MODE = { none: 0, zlib: 1, zstd: 2 } as const;


function patch(bytes: Uint8Array, edit: (view: DataView) => void): Uint8Array {
  const out = bytes.slice();
  edit(new DataView(out.buffer));
  return out;
}



describe('readSealHeader', () => {
  const ok = sealObject(MODE.none, new Uint8Array(10));

  it('reads compression and size of a well-formed header', () => {
    expect(readSealHeader(ok)).toEqual({ compression: 'none', size: 26 });
    expect(readSealHeader(sealObject(MODE.zlib, new Uint8Array(3)))).toEqual({ compression: 'zlib', size: 19 });
    expect(readSealHeader(sealObject(MODE.zstd, new Uint8Array(0)))).toEqual({ compression: 'zstd', size: 16 });
    expect(readSealHeader(patch(ok, (v) => v.setUint8(4, 0)))).toEqual({ compression: 'none', size: 26 });
  });

  it('refuses fewer than 16 bytes', () => {
    for (const n of [0, 1, 15]) expect(failure(() => readSealHeader(ok.subarray(0, n)))).toEqual({ code: 'seal_object_invalid', message: expect.stringMatching(/at least 16 bytes/) });
  });

  it('refuses a bad magic', () => {
    expect(failure(() => readSealHeader(patch(ok, (v) => v.setUint16(0, 0xa15f, true))))).toEqual({ code: 'seal_object_invalid', message: expect.stringMatching(/bad magic/) });
    expect(failure(() => readSealHeader(patch(ok, (v) => v.setUint16(0, 0x5ea1, true))))).toEqual({ code: 'seal_object_invalid', message: expect.stringMatching(/bad magic/) });
  });

  it('refuses another header size or SEAL version', () => {
    expect(failure(() => readSealHeader(patch(ok, (v) => v.setUint8(2, 17))))).toEqual({ code: 'seal_object_invalid', message: expect.stringMatching(/header size/) });
    expect(failure(() => readSealHeader(patch(ok, (v) => v.setUint8(3, 3))))).toEqual({ code: 'seal_object_invalid', message: expect.stringMatching(/version 3\.1/) });
    expect(failure(() => readSealHeader(patch(ok, (v) => v.setUint8(4, 2))))).toEqual({ code: 'seal_object_invalid', message: expect.stringMatching(/version 4\.2/) });
  });

  it('refuses an unknown compression mode', () => {
    for (const mode of [3, 4, 255]) {
      expect(failure(() => readSealHeader(patch(ok, (v) => v.setUint8(5, mode))))).toEqual({ code: 'seal_object_invalid', message: `unknown SEAL compression mode ${mode}` });
    }
  });

  it('refuses non-zero reserved bytes', () => {
    expect(failure(() => readSealHeader(patch(ok, (v) => v.setUint8(7, 1))))).toEqual({ code: 'seal_object_invalid', message: expect.stringMatching(/reserved/) });
  });

  it('refuses a declared size that is not the real size', () => {
    for (const size of [25n, 27n, 16n, 0n, 2n ** 63n]) {
      expect(failure(() => readSealHeader(patch(ok, (v) => v.setBigUint64(8, size, true))))).toEqual({
        code: 'seal_object_invalid',
        message: `the SEAL header declares ${size} bytes but the object has 26`,
      });
    }
    // A truncated object no longer matches its header.
    const big = sealObject(MODE.none, new Uint8Array(100));
    expect(failure(() => readSealHeader(big.subarray(0, 60))).code).toBe('seal_object_invalid');
  });
});

describe('decompressSealObject', () => {
  let rt: SealRuntime;
  let ctx: HeContext;
  let keygen: KeyGenerator;
  let sk: SecretKey;
  let pk: PublicKey;
  let encryptor: Encryptor;
  let decryptor: Decryptor;
  let ct: Ciphertext;
  const values = Float64Array.from({ length: 2048 }, (_, i) => Math.sin(i));

  beforeAll(async () => {
    rt = await loadSeal();
    ctx = HeContext.create(rt, selectParameters(rt.seal, { depth: 1, scaleBits: 26, headroomBits: 9, minSlots: 32 }));
    keygen = new rt.seal.KeyGenerator(ctx.context);
    sk = keygen.secretKey();
    pk = keygen.createPublicKey();
    encryptor = new rt.seal.Encryptor(ctx.context, pk, sk);
    decryptor = new rt.seal.Decryptor(ctx.context, sk);
    const pt = new rt.seal.Plaintext();
    ctx.encoder.encode(values, 2 ** 26, pt);
    ct = new rt.seal.Ciphertext();
    encryptor.encrypt(pt, ct);
    free(pt);
  });

  afterAll(() => {
    free(ct, encryptor, decryptor, pk, sk, keygen);
    ctx?.dispose();
  });

  function save(mode: 'none' | 'zlib' | 'zstd'): Uint8Array {
    return ct.saveToArray(rt.seal.ComprModeType[mode]) as Uint8Array;
  }

  /** Loads bytes into a fresh ciphertext and returns its uncompressed serialisation. */
  function reload(bytes: Uint8Array): Uint8Array {
    const c = new rt.seal.Ciphertext();
    try {
      c.loadFromArray(ctx.context, bytes);
      return c.saveToArray(rt.seal.ComprModeType.none) as Uint8Array;
    } finally {
      free(c);
    }
  }

  it('a real zstd ciphertext decompresses to an uncompressed object that SEAL loads, byte for byte the same ciphertext', () => {
    const raw = save('none');
    const compressed = save('zstd');
    expect(readSealHeader(compressed).compression).toBe('zstd');
    expect(compressed.length).toBeLessThan(raw.length);
    const out = decompressSealObject(compressed, maxCiphertextBytes(ctx.params.polyModulusDegree, ctx.params.primes.length));
    expect(readSealHeader(out)).toEqual({ compression: 'none', size: raw.length });
    expect(Buffer.from(reload(out)).equals(Buffer.from(raw))).toBe(true);

    const c = new rt.seal.Ciphertext();
    const pt = new rt.seal.Plaintext();
    try {
      c.loadFromArray(ctx.context, out);
      decryptor.decrypt(c, pt);
      const decoded = ctx.encoder.decodeFloat64(pt) as Float64Array;
      for (let i = 0; i < values.length; i += 97) expect(Math.abs(decoded[i]! - values[i]!)).toBeLessThan(1e-3);
    } finally {
      free(c, pt);
    }
  });

  it('compressSealObject frames a zstd object as SEAL does: SEAL itself loads it, and it decompresses to the same bytes', () => {
    const raw = save('none');
    const compressed = compressSealObject(raw);
    expect(readSealHeader(compressed)).toEqual({ compression: 'zstd', size: compressed.length });
    expect(compressed.length).toBeLessThan(raw.length);
    expect(Buffer.from(decompressSealObject(compressed, raw.length)).equals(Buffer.from(raw))).toBe(true);
    // SEAL's own loader reads the frame as well (its zstd mode), so nothing depends on who compressed.
    expect(Buffer.from(reload(compressed)).equals(Buffer.from(raw))).toBe(true);
    expect(Buffer.from(saveCompressed(rt.seal, ct)).equals(Buffer.from(compressed))).toBe(true);
    expect(failure(() => compressSealObject(save('zstd'))).code).toBe('seal_object_invalid');
  });

  it('checkCiphertextLayout accepts real ciphertexts (full and seeded) and refuses every edited size field before SEAL sees it', () => {
    const N = ctx.params.polyModulusDegree;
    const L = ctx.topLevel + 1;
    const full = save('none');
    const pt = new rt.seal.Plaintext();
    let seeded: Uint8Array;
    try {
      ctx.encoder.encode(values, 2 ** 26, pt);
      const serializable = encryptor.encryptSymmetricSerializable(pt);
      seeded = serializable.saveToArray(rt.seal.ComprModeType.none) as Uint8Array;
      free(serializable);
    } finally {
      free(pt);
    }
    checkCiphertextLayout(full, N, L);
    checkCiphertextLayout(seeded, N, L);
    const meta = 16 + 32;
    const nested = meta + 41;
    const edits: [string, Uint8Array, (v: DataView) => void][] = [
      ['not NTT', full, (v) => v.setUint8(meta, 0)],
      ['4 polynomials', full, (v) => v.setBigUint64(meta + 1, 4n, true)],
      ['a huge polynomial count', full, (v) => v.setBigUint64(meta + 1, 2n ** 40n, true)],
      ['another degree', full, (v) => v.setBigUint64(meta + 9, BigInt(2 * N), true)],
      ['too many primes', full, (v) => v.setBigUint64(meta + 17, BigInt(L + 1), true)],
      ['no primes', full, (v) => v.setBigUint64(meta + 17, 0n, true)],
      ['a NaN scale', full, (v) => v.setFloat64(meta + 25, Number.NaN, true)],
      ['a compressed coefficient array', full, (v) => v.setUint8(nested + 5, 2)],
      ['a bad array magic', full, (v) => v.setUint16(nested, 0x1234, true)],
      ['a huge coefficient count', full, (v) => v.setBigUint64(nested + 16, 2n ** 50n, true)],
      ['a count of one polynomial without a seed', full, (v) => v.setBigUint64(nested + 16, BigInt(N * L), true)],
      ['a seeded count on three polynomials', seeded, (v) => v.setBigUint64(meta + 1, 3n, true)],
      ['an array size that disagrees', seeded, (v) => v.setBigUint64(nested + 8, 1n << 40n, true)],
      // The seed record (the last 81 bytes): its compression mode, declared size, generator type.
      ['a compressed seed record', seeded, (v) => v.setUint8(v.byteLength - 81 + 5, 2)],
      ['a seed record declaring more', seeded, (v) => v.setBigUint64(v.byteLength - 81 + 8, 1n << 30n, true)],
      ['an unknown generator', seeded, (v) => v.setUint8(v.byteLength - 81 + 16, 7)],
    ];
    for (const [name, base, edit] of edits) {
      const f = failure(() => checkCiphertextLayout(patch(base, edit), N, L));
      expect([name, f.code]).toEqual([name, 'seal_object_invalid']);
    }
    expect(failure(() => checkCiphertextLayout(full.subarray(0, 100), N, L)).code).toBe('seal_object_invalid');
    expect(failure(() => checkCiphertextLayout(save('zstd'), N, L)).message).toMatch(/uncompressed/);
  });

  it('refuses a zstd frame that asks for a window larger than the object may be, before allocating it', () => {
    // Frame: magic, descriptor (no single segment, no content size), window 2^(10+17) = 128 MiB,
    // then one last raw block of 4 bytes. zstd would allocate the 128 MiB window first.
    const frame = Uint8Array.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 17 << 3, (4 << 3) | 1, 0, 0, 1, 2, 3, 4]);
    const object = sealObject(MODE.zstd, frame);
    const f = failure(() => decompressSealObject(object, 1024 * 1024));
    expect(['seal_object_invalid', 'seal_object_too_large']).toContain(f.code);
    // The same frame with a 1 KiB window decodes (the bound is on the window, not the frame).
    const small = sealObject(MODE.zstd, Uint8Array.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0, (4 << 3) | 1, 0, 0, 1, 2, 3, 4]));
    expect(Array.from(decompressSealObject(small, 1024 * 1024).subarray(16))).toEqual([1, 2, 3, 4]);
  });

  it('a real zlib ciphertext decompresses too', () => {
    const raw = save('none');
    const out = decompressSealObject(save('zlib'), raw.length);
    expect(Buffer.from(reload(out)).equals(Buffer.from(raw))).toBe(true);
  });

  it('an uncompressed object is returned as is, within the bound', () => {
    const raw = save('none');
    expect(decompressSealObject(raw, raw.length)).toBe(raw);
    expect(failure(() => decompressSealObject(raw, raw.length - 1)).code).toBe('seal_object_too_large');
  });

  it('the bound is exact: the uncompressed size passes, one byte less does not', () => {
    const raw = save('none');
    const compressed = save('zstd');
    expect(decompressSealObject(compressed, raw.length).length).toBe(raw.length);
    expect(failure(() => decompressSealObject(compressed, raw.length - 1)).code).toBe('seal_object_too_large');
  });

  it('a zstd bomb (50 MB of zeros) is refused with seal_object_too_large', () => {
    const frame = zstdCompressSync(new Uint8Array(50_000_000));
    expect(frame.length).toBeLessThan(10_000);
    const bomb = sealObject(MODE.zstd, frame);
    const started = performance.now();
    expect(failure(() => decompressSealObject(bomb, 1_000_000))).toEqual({ code: 'seal_object_too_large', message: expect.stringMatching(/1000000-byte bound/) });
    // Stopping at the bound takes a millisecond or so; inflating 50 MB would take far longer.
    expect(performance.now() - started).toBeLessThan(500);
  });

  it('a zstd frame declaring 4 GiB is refused without allocating it', () => {
    const bomb = sealObject(MODE.zstd, zstdRleBomb(32768));
    expect(bomb.length).toBeLessThan(140_000);
    const peakBefore = process.resourceUsage().maxRSS; // KiB
    expect(failure(() => decompressSealObject(bomb, 8_000_000)).code).toBe('seal_object_too_large');
    // The peak resident set grows by at most a few chunks over the 8 MB bound, not by gigabytes.
    expect(process.resourceUsage().maxRSS - peakBefore).toBeLessThan(128 * 1024);
    // The frame is well formed: below its size it decompresses (2 blocks = 256 KiB of zeros).
    const small = decompressSealObject(sealObject(MODE.zstd, zstdRleBomb(2)), 16 + 256 * 1024);
    expect(small.length).toBe(16 + 256 * 1024);
    expect(small.subarray(16).every((b) => b === 0)).toBe(true);
  });

  it('a zlib bomb is refused with seal_object_too_large', () => {
    const bomb = sealObject(MODE.zlib, deflateSync(new Uint8Array(20_000_000)));
    expect(failure(() => decompressSealObject(bomb, 1_000_000)).code).toBe('seal_object_too_large');
  });

  it('a corrupt or truncated zstd payload is seal_object_invalid', () => {
    const compressed = save('zstd');
    const bound = 10 * compressed.length;
    // Corrupt frame magic.
    const badMagic = compressed.slice();
    badMagic[16]! ^= 0xff;
    expect(failure(() => decompressSealObject(badMagic, bound)).code).toBe('seal_object_invalid');
    // Garbage payload.
    expect(failure(() => decompressSealObject(sealObject(MODE.zstd, Uint8Array.from({ length: 64 }, (_, i) => (i * 37) & 0xff)), bound)).code).toBe('seal_object_invalid');
    // A frame cut in half (with its header's size fixed so that only the payload is wrong).
    const payload = compressed.subarray(16, 16 + Math.floor((compressed.length - 16) / 2));
    expect(failure(() => decompressSealObject(sealObject(MODE.zstd, payload), bound)).code).toBe('seal_object_invalid');
    // Empty payload.
    expect(failure(() => decompressSealObject(sealObject(MODE.zstd, new Uint8Array(0)), bound)).code).toBe('seal_object_invalid');
    // zlib: not a zlib stream.
    expect(failure(() => decompressSealObject(sealObject(MODE.zlib, Uint8Array.from([1, 2, 3, 4, 5])), bound)).code).toBe('seal_object_invalid');
  });

  it('checks the header before decompressing', () => {
    const compressed = save('zstd');
    expect(failure(() => decompressSealObject(patch(compressed, (v) => v.setUint8(5, 3)), 1e7)).message).toBe('unknown SEAL compression mode 3');
    expect(failure(() => decompressSealObject(compressed.subarray(0, compressed.length - 1), 1e7)).code).toBe('seal_object_invalid');
  });
});
