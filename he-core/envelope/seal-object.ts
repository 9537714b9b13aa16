import { constants as zlibConstants, inflateSync, zstdDecompressSync } from 'node:zlib';
import type { ComprModeType, MainModule } from 'node-seal';
import { HeError } from '../errors.js';
import { ZstdInputError, zstdCompressScratch, zstdDecompressInto } from './zstd.js';

const SEAL_MAGIC = 0xa15e;
const SEAL_HEADER_BYTES = 16;

export type SealCompression = 'none' | 'zlib' | 'zstd';

export interface SealHeader {
  compression: SealCompression;
  /** Total size of the object as its header declares it (header included). */
  size: number;
}

/** Reads and checks SEAL's 16-byte serialisation header without touching the payload. */
export function readSealHeader(bytes: Uint8Array): SealHeader {
  if (bytes.length < SEAL_HEADER_BYTES) throw new HeError('seal_object_invalid', `a SEAL object needs at least ${SEAL_HEADER_BYTES} bytes, got ${bytes.length}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint16(0, true) !== SEAL_MAGIC) throw new HeError('seal_object_invalid', 'not a SEAL object (bad magic)');
  if (view.getUint8(2) !== SEAL_HEADER_BYTES) throw new HeError('seal_object_invalid', 'unexpected SEAL header size');
  if (view.getUint8(3) !== 4 || view.getUint8(4) > 1) throw new HeError('seal_object_invalid', `SEAL version ${view.getUint8(3)}.${view.getUint8(4)} is not 4.0/4.1`);
  const mode = view.getUint8(5);
  const compression: SealCompression | undefined = (['none', 'zlib', 'zstd'] as const)[mode];
  if (!compression) throw new HeError('seal_object_invalid', `unknown SEAL compression mode ${mode}`);
  if (view.getUint16(6, true) !== 0) throw new HeError('seal_object_invalid', 'SEAL header reserved bytes are not zero');
  const size = view.getBigUint64(8, true);
  if (size !== BigInt(bytes.length)) throw new HeError('seal_object_invalid', `the SEAL header declares ${size} bytes but the object has ${bytes.length}`);
  return { compression, size: bytes.length };
}

/**
 * Returns the object uncompressed, decompressing it here with a hard output bound (a compression
 * bomb stops at `maxUncompressedBytes`) so that SEAL never inflates untrusted data itself.
 */
export function decompressSealObject(bytes: Uint8Array, maxUncompressedBytes: number): Uint8Array {
  const header = readSealHeader(bytes);
  if (header.compression === 'none') {
    if (bytes.length > maxUncompressedBytes) throw tooLarge(bytes.length, maxUncompressedBytes);
    return bytes;
  }
  const payload = bytes.subarray(SEAL_HEADER_BYTES);
  const limit = maxUncompressedBytes - SEAL_HEADER_BYTES;
  let body: Buffer;
  try {
    body =
      header.compression === 'zstd'
        ? zstdDecompressSync(payload, { maxOutputLength: limit, params: { [zlibConstants.ZSTD_d_windowLogMax]: windowLogMaxFor(limit) } })
        : inflateSync(payload, { maxOutputLength: limit });
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'ERR_BUFFER_TOO_LARGE' || /too large|exceeds|maxOutputLength|too much memory/i.test((err as Error).message)) throw inflatesBeyond(maxUncompressedBytes);
    throw doesNotDecompress((err as Error).message);
  }
  return reframe(bytes, 0, body);
}

/**
 * `decompressSealObject` into this thread's kept buffer (`zstd.ts`: the zstd context and the
 * output are reused, no fresh memory per object): the view it returns is valid only until the
 * next call on this thread, so the caller must be done with it (SEAL's load copies it) before.
 * For the hot path, the ciphertexts of a request; same bounds and errors.
 */
export function decompressSealObjectScratch(bytes: Uint8Array, maxUncompressedBytes: number): Uint8Array {
  const header = readSealHeader(bytes);
  if (header.compression === 'none') {
    // Copied too: the request may be in shared memory, and the layout check and SEAL's load must
    // read the same bytes.
    if (bytes.length > maxUncompressedBytes) throw tooLarge(bytes.length, maxUncompressedBytes);
    if (objectScratch.length < bytes.length) objectScratch = new Uint8Array(Math.max(bytes.length, maxUncompressedBytes + 1));
    objectScratch.set(bytes);
    return objectScratch.subarray(0, bytes.length);
  }
  if (header.compression !== 'zstd') return decompressSealObject(bytes, maxUncompressedBytes);
  const limit = maxUncompressedBytes - SEAL_HEADER_BYTES;
  if (objectScratch.length < maxUncompressedBytes + 1) objectScratch = new Uint8Array(maxUncompressedBytes + 1);
  let written: number;
  try {
    written = zstdDecompressInto(bytes.subarray(SEAL_HEADER_BYTES), objectScratch, SEAL_HEADER_BYTES, limit, windowLogMaxFor(limit));
  } catch (err) {
    if (err instanceof ZstdInputError) throw err.kind === 'too_large' ? inflatesBeyond(maxUncompressedBytes) : doesNotDecompress(err.message);
    throw err;
  }
  objectScratch.set(bytes.subarray(0, SEAL_HEADER_BYTES));
  const out = objectScratch.subarray(0, SEAL_HEADER_BYTES + written);
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  view.setUint8(5, 0);
  view.setBigUint64(8, BigInt(out.length), true);
  return out;
}

let objectScratch = new Uint8Array(0);

// The window too: a frame may declare any window (up to 128 MiB by default) and the decoder
// allocates it before producing a byte; no object here needs one larger than itself.
function windowLogMaxFor(limit: number): number {
  return Math.max(10, Math.ceil(Math.log2(Math.max(limit, 1))));
}

function tooLarge(bytes: number, max: number): HeError {
  return new HeError('seal_object_too_large', `a SEAL object of ${bytes} bytes exceeds the ${max}-byte bound`);
}

function inflatesBeyond(max: number): HeError {
  return new HeError('seal_object_too_large', `the SEAL object inflates beyond the ${max}-byte bound`);
}

function doesNotDecompress(why: string): HeError {
  return new HeError('seal_object_invalid', `the SEAL object does not decompress: ${why}`);
}

/** `original`'s SEAL header with another compression mode and the new size, then `payload`. */
function reframe(original: Uint8Array, mode: 0 | 2, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(SEAL_HEADER_BYTES + payload.length);
  out.set(original.subarray(0, SEAL_HEADER_BYTES));
  out.set(payload, SEAL_HEADER_BYTES);
  const view = new DataView(out.buffer);
  view.setUint8(5, mode);
  view.setBigUint64(8, BigInt(out.length), true);
  return out;
}

/**
 * Compresses an uncompressed SEAL serialisation the way SEAL's own `zstd` mode frames it (the
 * 16-byte header, compression mode 2, then one zstd frame of the rest), with Node's native zstd at
 * level 1 (by default) instead of SEAL's WebAssembly build: about 2.5× faster and a little
 * smaller on fresh ciphertexts (mnist-cnn: 206 kB instead of 217 kB), since random residues only
 * compress their unused high bits anyway. (Answers do not travel in SEAL's format: see
 * packed-result.ts.) Every reader here decompresses with `decompressSealObject`.
 */
export function compressSealObject(uncompressed: Uint8Array, level = 1): Uint8Array {
  const header = readSealHeader(uncompressed);
  if (header.compression !== 'none') throw new HeError('seal_object_invalid', `expected an uncompressed SEAL object, got ${header.compression}`);
  // Compressed into this thread's kept buffer after room for the header (`zstd.ts`), then copied out once.
  const framed = zstdCompressScratch(uncompressed.subarray(SEAL_HEADER_BYTES), level, SEAL_HEADER_BYTES);
  framed.set(uncompressed.subarray(0, SEAL_HEADER_BYTES));
  const out = framed.slice();
  const view = new DataView(out.buffer);
  view.setUint8(5, 2);
  view.setBigUint64(8, BigInt(out.length), true);
  return out;
}

/** A SEAL object (ciphertext, keys) serialised uncompressed, then compressed with `compressSealObject`. */
export function saveCompressed(seal: MainModule, object: { saveToArray(mode: ComprModeType): unknown }, level = 1): Uint8Array {
  return compressSealObject(object.saveToArray(seal.ComprModeType.none) as Uint8Array, level);
}

/** Largest uncompressed ciphertext for these parameters: 3 polynomials at every prime, plus metadata. */
export function maxCiphertextBytes(polyModulusDegree: number, primes: number): number {
  return 3 * polyModulusDegree * primes * 8 + 1024;
}

/**
 * Largest uncompressed key-switching key set: the header, parms id and SEAL's table of key slots
 * (one 8-byte count per possible index, at most N for Galois keys), then `keys` keys of
 * (primes - 1) components of 2 polynomials each, with slack for their headers. It holds unseeded
 * keys, which the layout check then refuses by name (`checkKeySwitchingKeys`: keys must be seeded).
 */
export function maxKeyBytes(polyModulusDegree: number, primes: number, keys: number): number {
  return 8 * polyModulusDegree + keys * (primes - 1) * (2 * polyModulusDegree * primes * 8 + 256) + 4096 * (keys + 1);
}

/** A seeded ciphertext's seed record after its first polynomial: header, generator type, 64-byte seed. */
const SEED_RECORD_BYTES = SEAL_HEADER_BYTES + 1 + 64;

/**
 * Checks an uncompressed ciphertext serialisation before SEAL loads it: the metadata (NTT form,
 * two or three polynomials, this degree, at most `maxPrimes` primes), then the nested coefficient array's
 * header and count (both polynomials, or the first one and a seed record for a seeded
 * ciphertext), the seed record's own header, and that the lengths add up exactly. SEAL's loader sizes its buffers from these fields, so a
 * mutated one could otherwise make it allocate gigabytes (the hostile-input test found one).
 */
export function checkCiphertextLayout(bytes: Uint8Array, polyModulusDegree: number, maxPrimes: number): void {
  const fail = (why: string): never => {
    throw new HeError('seal_object_invalid', `malformed ciphertext: ${why}`);
  };
  const header = readSealHeader(bytes);
  if (header.compression !== 'none') fail('expected an uncompressed object');
  const meta = SEAL_HEADER_BYTES + 32; // after the parms id
  const nested = meta + 1 + 5 * 8; // NTT flag, size, degree, primes, scale, correction factor
  if (bytes.length < nested + SEAL_HEADER_BYTES + 8) fail('truncated');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u64 = (at: number): bigint => view.getBigUint64(at, true);
  if (bytes[meta] !== 1) fail('not in NTT form');
  // Two polynomials, or three (an unrelinearised product: a shape the caller refuses by name).
  const size = u64(meta + 1);
  if (size !== 2n && size !== 3n) fail(`${size} polynomials`);
  if (u64(meta + 9) !== BigInt(polyModulusDegree)) fail(`degree ${u64(meta + 9)}, expected ${polyModulusDegree}`);
  const primes = u64(meta + 17);
  if (primes < 1n || primes > BigInt(maxPrimes)) fail(`${primes} primes, expected 1 to ${maxPrimes}`);
  if (!(view.getFloat64(meta + 25, true) > 0)) fail('the scale is not a positive number');
  // The coefficient array: its own SEAL header, a count, then the coefficients.
  if (view.getUint16(nested, true) !== SEAL_MAGIC || bytes[nested + 2] !== SEAL_HEADER_BYTES || bytes[nested + 3] !== 4 || bytes[nested + 4]! > 1) fail('bad coefficient array header');
  if (bytes[nested + 5] !== 0 || view.getUint16(nested + 6, true) !== 0) fail('the coefficient array is compressed or has reserved bits set');
  const polynomial = BigInt(polyModulusDegree) * primes;
  const count = u64(nested + SEAL_HEADER_BYTES);
  const seeded = size === 2n && count === polynomial;
  if (!seeded && count !== size * polynomial) fail(`${count} coefficients, expected ${size * polynomial}${size === 2n ? ` (or ${polynomial} with a seed)` : ''}`);
  const arrayBytes = SEAL_HEADER_BYTES + 8 + Number(count) * 8;
  if (u64(nested + 8) !== BigInt(arrayBytes)) fail('the coefficient array declares another size');
  const rest = bytes.length - nested - arrayBytes;
  if (!seeded) {
    if (rest !== 0) fail(`${rest} bytes after the coefficients`);
    return;
  }
  // The seed record: its own uncompressed SEAL object (a flipped compression mode would make SEAL
  // inflate it itself, sized by what it declares), a generator type (1 Blake2xb, 2 SHAKE-256) and
  // a 512-bit seed.
  const seed = nested + arrayBytes;
  if (rest !== SEED_RECORD_BYTES) fail(`a seed record of ${rest} bytes, expected ${SEED_RECORD_BYTES}`);
  if (view.getUint16(seed, true) !== SEAL_MAGIC || bytes[seed + 2] !== SEAL_HEADER_BYTES || bytes[seed + 3] !== 4 || bytes[seed + 4]! > 1) fail('bad seed record header');
  if (bytes[seed + 5] !== 0 || view.getUint16(seed + 6, true) !== 0 || u64(seed + 8) !== BigInt(SEED_RECORD_BYTES)) fail('the seed record is compressed or declares another size');
  if (bytes[seed + SEAL_HEADER_BYTES] !== 1 && bytes[seed + SEAL_HEADER_BYTES] !== 2) fail('unknown random generator in the seed record');
}

export interface KeySwitchingShape {
  polyModulusDegree: number;
  /** All primes of the chain (the special prime included): a key component spans them all. */
  primes: number;
  /** Key components per key: the number of data primes (the decomposition). */
  decomposition: number;
  /** How many keys must be present (relinearisation: 1; Galois: the plan's steps). */
  keys: number;
  /** Largest index table SEAL may declare (Galois: the degree; relinearisation: 1). */
  maxIndices: number;
}

/**
 * Walks an uncompressed KSwitchKeys serialisation (header, parms id, index count, then per index
 * a component count and that many nested public-key objects) and checks every declared size
 * before SEAL sees it: SEAL's own loader resizes its tables to whatever the bytes declare, so one
 * flipped bit could otherwise make it allocate gigabytes.
 */
export function checkKeySwitchingKeys(bytes: Uint8Array, shape: KeySwitchingShape): void {
  const fail = (why: string): never => {
    throw new HeError('keys_invalid', `malformed evaluation keys: ${why}`);
  };
  const header = readSealHeader(bytes);
  if (header.compression !== 'none') fail('expected an uncompressed object');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u64 = (at: number): number => {
    if (at + 8 > bytes.length) fail('truncated');
    const v = view.getBigUint64(at, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail('a size field is out of range');
    return Number(v);
  };
  let at = SEAL_HEADER_BYTES + 32;
  const indices = u64(at);
  at += 8;
  if (indices < 1 || indices > shape.maxIndices) fail(`${indices} key slots declared, at most ${shape.maxIndices} allowed`);
  const maxComponent = 2 * shape.polyModulusDegree * shape.primes * 8 + 1024;
  let present = 0;
  for (let i = 0; i < indices; i++) {
    const components = u64(at);
    at += 8;
    if (components === 0) continue;
    if (components !== shape.decomposition) fail(`a key has ${components} components, expected ${shape.decomposition}`);
    present++;
    if (present > shape.keys) fail(`more than the ${shape.keys} expected key(s)`);
    for (let j = 0; j < components; j++) {
      if (at + SEAL_HEADER_BYTES > bytes.length) fail('truncated inside a key');
      if (view.getUint16(at, true) !== SEAL_MAGIC || view.getUint8(at + 5) !== 0) fail('a key component is not an uncompressed SEAL object');
      const size = u64(at + 8);
      if (size < SEAL_HEADER_BYTES || size > maxComponent || at + size > bytes.length) fail(`a key component declares ${size} bytes`);
      checkKeyComponent(view, at, size, shape, fail);
      at += size;
    }
  }
  if (present !== shape.keys) fail(`${present} key(s) present, expected ${shape.keys}`);
  if (at !== bytes.length) fail(`${bytes.length - at} trailing bytes`);
}

/**
 * One key component is a serialised two-polynomial ciphertext: parms id, NTT flag, size, degree,
 * modulus count, scale, correction factor, then its coefficients (one polynomial when seeded, two
 * otherwise) and possibly the seed. Every count is checked against the parameters.
 */
function checkKeyComponent(view: DataView, start: number, size: number, shape: KeySwitchingShape, fail: (why: string) => never): void {
  const end = start + size;
  const u64 = (at: number): number => {
    if (at + 8 > end) fail('truncated key component');
    const v = view.getBigUint64(at, true);
    return v > BigInt(Number.MAX_SAFE_INTEGER) ? fail('a key component size field is out of range') : Number(v);
  };
  let at = start + SEAL_HEADER_BYTES + 32;
  if (at + 1 > end || view.getUint8(at) > 1) fail('a key component has a bad NTT flag');
  at += 1;
  if (u64(at) !== 2) fail('a key component is not a two-polynomial ciphertext');
  if (u64(at + 8) !== shape.polyModulusDegree) fail('a key component has another polynomial degree');
  if (u64(at + 16) !== shape.primes) fail('a key component has another number of primes');
  at += 40;
  if (at + SEAL_HEADER_BYTES + 8 > end || view.getUint16(at, true) !== SEAL_MAGIC || view.getUint8(at + 5) !== 0) fail('a key component has no uncompressed coefficient array');
  const arrayBytes = u64(at + 8);
  const count = u64(at + SEAL_HEADER_BYTES);
  const polynomial = shape.polyModulusDegree * shape.primes;
  if (count === 2 * polynomial) fail('keys must be seeded: a key component carries both polynomials (send the keys SEAL\'s create*KeysSerializable makes)');
  if (count !== polynomial) fail(`a key component declares ${count} coefficients`);
  if (arrayBytes !== SEAL_HEADER_BYTES + 8 + count * 8 || at + arrayBytes > end) fail('a key component has an inconsistent coefficient array');
  // A seeded component ends with one more SEAL object (the seed); its declared size must be exactly
  // what is left, or SEAL would allocate whatever it declares.
  const seedAt = at + arrayBytes;
  const rest = end - seedAt;
  if (count === polynomial && rest === 0) fail('a seeded key component has no seed');
  if (rest > 0) {
    if (rest < SEAL_HEADER_BYTES || rest > 4096 || view.getUint16(seedAt, true) !== SEAL_MAGIC || view.getUint8(seedAt + 5) !== 0) fail('a key component ends with a malformed seed');
    if (view.getBigUint64(seedAt + 8, true) !== BigInt(rest)) fail('a key component seed declares another size');
  }
}
