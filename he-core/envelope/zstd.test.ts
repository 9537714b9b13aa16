// The kept zstd contexts (zstd.ts) against Node's one-shot functions, on real SEAL objects and on
// hostile frames: the same bytes, the same bounds and the same refusals, through the kept
// contexts and through the fallback that runs where Node's internals are missing.
import { randomBytes } from 'node:crypto';
import { zstdCompressSync, zstdDecompressSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { HeContext } from '../params/context.js';
import { selectParameters } from '../params/select.js';
import { loadSeal } from '../seal/runtime.js';
import type { SealRuntime } from '../seal/runtime.js';
import { free } from '../seal/scope.js';
import { compressSealObject, decompressSealObject, decompressSealObjectScratch, maxCiphertextBytes } from './seal-object.js';
import { failure, sealObject, zstdRleBomb } from '../testing/seal-objects.js';
import { forceZstdFallback, zstdCompressScratch, zstdDecompressInto, zstdFallback } from './zstd.js';

/** A zstd-compressed SEAL object around `frame`. */
const zstdObject = (frame: Uint8Array): Uint8Array => sealObject(2, frame);

describe.each([
  ['the kept contexts', false],
  ['the fallback (Node internals missing)', true],
])('zstd through %s', (_name, fallback) => {
  let rt: SealRuntime;
  let ctx: HeContext;
  const cts: Uint8Array[] = [];

  beforeAll(async () => {
    forceZstdFallback(fallback);
    rt = await loadSeal();
    ctx = HeContext.create(rt, selectParameters(rt.seal, { depth: 2, scaleBits: 26, headroomBits: 9, minSlots: 32 }));
    const keygen = new rt.seal.KeyGenerator(ctx.context);
    const sk = keygen.secretKey();
    const pk = keygen.createPublicKey();
    const encryptor = new rt.seal.Encryptor(ctx.context, pk, sk);
    const pt = new rt.seal.Plaintext();
    try {
      for (let i = 0; i < 4; i++) {
        ctx.encoder.encode(Float64Array.from({ length: 64 }, (_, j) => Math.sin(i + j)), 2 ** 26, pt);
        const s = encryptor.encryptSymmetricSerializable(pt);
        cts.push(s.saveToArray(rt.seal.ComprModeType.none) as Uint8Array);
        free(s);
      }
    } finally {
      free(pt, encryptor, pk, sk, keygen);
    }
  });

  afterAll(() => {
    ctx?.dispose();
    forceZstdFallback(false);
  });

  afterEach(() => {
    expect(zstdFallback()).toBe(fallback);
  });

  it('compresses SEAL objects to frames that Node, SEAL and the scratch path read back to the same bytes, object after object', () => {
    const bound = maxCiphertextBytes(ctx.params.polyModulusDegree, ctx.params.primes.length);
    for (let round = 0; round < 3; round++) {
      for (const raw of cts) {
        const compressed = compressSealObject(raw);
        expect(compressed.length).toBeLessThan(raw.length);
        expect(Buffer.from(zstdDecompressSync(compressed.subarray(16))).equals(Buffer.from(raw.subarray(16)))).toBe(true);
        const back = decompressSealObjectScratch(compressed, bound);
        expect(Buffer.from(back).equals(Buffer.from(raw))).toBe(true);
        expect(Buffer.from(decompressSealObject(compressed, bound)).equals(Buffer.from(raw))).toBe(true);
        // SEAL's own loader reads the frame (its zstd mode) and the scratch view alike: the same
        // ciphertext as from the raw bytes (loaded, its seed expanded).
        const c = new rt.seal.Ciphertext();
        try {
          const loaded = (bytes: Uint8Array): Buffer => {
            c.loadFromArray(ctx.context, bytes);
            return Buffer.from(c.saveToArray(rt.seal.ComprModeType.none) as Uint8Array);
          };
          const expected = loaded(raw);
          expect(loaded(compressed).equals(expected)).toBe(true);
          expect(loaded(back).equals(expected)).toBe(true);
        } finally {
          free(c);
        }
      }
    }
    // Incompressible input and an empty one: still one frame each, read back exactly.
    for (const input of [randomBytes(3_000_000), new Uint8Array(0)]) {
      const framed = zstdCompressScratch(input, 1, 16).slice(16);
      expect(Buffer.from(zstdDecompressSync(framed)).equals(Buffer.from(input))).toBe(true);
    }
  });

  it('the bound is exact: the uncompressed size passes, one byte less is seal_object_too_large', () => {
    const raw = cts[0]!;
    const compressed = compressSealObject(raw);
    expect(decompressSealObjectScratch(compressed, raw.length).length).toBe(raw.length);
    expect(failure(() => decompressSealObjectScratch(compressed, raw.length - 1)).code).toBe('seal_object_too_large');
    // And the context is usable after the refusal.
    expect(decompressSealObjectScratch(compressed, raw.length).length).toBe(raw.length);
  });

  it('refuses bombs at the bound, quickly and without allocating what they declare', () => {
    const bomb = zstdObject(zstdCompressSync(new Uint8Array(50_000_000)));
    const started = performance.now();
    expect(failure(() => decompressSealObjectScratch(bomb, 1_000_000))).toEqual({ code: 'seal_object_too_large', message: expect.stringMatching(/1000000-byte bound/) });
    expect(performance.now() - started).toBeLessThan(500);
    const peakBefore = process.resourceUsage().maxRSS;
    expect(failure(() => decompressSealObjectScratch(zstdObject(zstdRleBomb(32768)), 8_000_000)).code).toBe('seal_object_too_large');
    expect(process.resourceUsage().maxRSS - peakBefore).toBeLessThan(128 * 1024);
    // Well formed below its size: 2 blocks, 256 KiB of zeros.
    const small = decompressSealObjectScratch(zstdObject(zstdRleBomb(2)), 16 + 256 * 1024);
    expect(small.length).toBe(16 + 256 * 1024);
    expect(small.subarray(16).every((b) => b === 0)).toBe(true);
  });

  it('refuses corrupt, truncated, empty and over-long frames and a window beyond the object, as seal_object_invalid (or too large)', () => {
    const raw = cts[1]!;
    const compressed = compressSealObject(raw);
    const bound = 10 * raw.length;
    const badMagic = compressed.slice();
    badMagic[16]! ^= 0xff;
    expect(failure(() => decompressSealObjectScratch(badMagic, bound)).code).toBe('seal_object_invalid');
    expect(failure(() => decompressSealObjectScratch(zstdObject(Uint8Array.from({ length: 64 }, (_, i) => (i * 37) & 0xff)), bound)).code).toBe('seal_object_invalid');
    const half = compressed.subarray(16, 16 + Math.floor((compressed.length - 16) / 2));
    expect(failure(() => decompressSealObjectScratch(zstdObject(half), bound)).code).toBe('seal_object_invalid');
    expect(failure(() => decompressSealObjectScratch(zstdObject(new Uint8Array(0)), bound)).code).toBe('seal_object_invalid');
    // Garbage after a complete frame.
    const trailing = new Uint8Array(compressed.length - 16 + 5);
    trailing.set(compressed.subarray(16));
    trailing.set([1, 2, 3, 4, 5], compressed.length - 16);
    // The kept context refuses it; Node's one-shot function (the fallback) ignores what follows
    // the frame, and then the frame's own content comes out, whole.
    if (fallback) expect(Buffer.from(decompressSealObjectScratch(zstdObject(trailing), bound)).equals(Buffer.from(raw))).toBe(true);
    else expect(failure(() => decompressSealObjectScratch(zstdObject(trailing), bound)).code).toBe('seal_object_invalid');
    // A 128 MiB window for a 1 MiB object.
    const window = zstdObject(Uint8Array.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 17 << 3, (4 << 3) | 1, 0, 0, 1, 2, 3, 4]));
    expect(['seal_object_invalid', 'seal_object_too_large']).toContain(failure(() => decompressSealObjectScratch(window, 1024 * 1024)).code);
    // A truncated frame, then a good object straight after: the context must not still be
    // mid-frame (it would decode the good object as the rest of the bad one).
    expect(failure(() => decompressSealObjectScratch(zstdObject(half), bound)).code).toBe('seal_object_invalid');
    expect(Buffer.from(decompressSealObjectScratch(compressed, bound)).equals(Buffer.from(raw))).toBe(true);
    // An uncompressed object comes back as a copy (a request may sit in shared memory).
    expect(decompressSealObjectScratch(raw, bound)).not.toBe(raw);
    expect(Buffer.from(decompressSealObjectScratch(raw, bound)).equals(Buffer.from(raw))).toBe(true);
    // After every refusal the next good object still decompresses exactly.
    expect(Buffer.from(decompressSealObjectScratch(compressed, bound)).equals(Buffer.from(raw))).toBe(true);
  });

  it('zstdDecompressInto needs room for the bound plus one byte', () => {
    const frame = zstdCompressSync(new Uint8Array(100));
    expect(() => zstdDecompressInto(frame, new Uint8Array(100), 0, 100, 20)).toThrow(RangeError);
    expect(zstdDecompressInto(frame, new Uint8Array(101), 0, 100, 20)).toBe(100);
  });
});

describe('zstd fallback switch', () => {
  it('is off by default here (Node 24 has the internals), and on when forced', () => {
    expect(zstdFallback()).toBe(false);
    forceZstdFallback(true);
    expect(zstdFallback()).toBe(true);
    forceZstdFallback(false);
    expect(zstdFallback()).toBe(false);
  });
});
