import type { Ciphertext, Plaintext, SecretKey } from 'node-seal';
import type { SealRuntime } from './runtime.js';

// Where SEAL 4.1 keeps its objects' coefficients in node-seal 7's 32-bit WebAssembly build, for
// the code that reads and writes them in place (evaluator/constants.ts, evaluator/mac.ts). Each
// lookup checks the fields beside the pointer and returns null when they are not as expected.
//   Plaintext:  parms_id (32) | coeff_count (4 + 4) | scale (8) | DynArray: pool (8), capacity, size, data
//   Ciphertext: parms_id (32) | ntt flag (4) | size | degree | primes | scale (8) | correction (8) | DynArray as above

function objectWords(runtime: SealRuntime, object: Plaintext | Ciphertext | SecretKey, words: number): Uint32Array | null {
  const ptr = (object as unknown as { $$?: { ptr?: unknown } }).$$?.ptr;
  if (typeof ptr !== 'number' || ptr % 4 !== 0 || ptr + words * 4 > runtime.heapBytes()) return null;
  return new Uint32Array(runtime.heapBuffer(), ptr, words);
}

/** Byte offset of `count` checked coefficients at `data`, or null. */
function checkedData(runtime: SealRuntime, capacity: number, size: number, data: number, count: number): number | null {
  if (size !== count || capacity < count || data % 8 !== 0 || data + count * 8 > runtime.heapBytes()) return null;
  return data;
}

/** The byte offset of a plaintext's coefficients in SEAL's heap, or null if its layout is not the expected one. */
export function plaintextData(runtime: SealRuntime, pt: Plaintext): number | null {
  const w = objectWords(runtime, pt, 17);
  return w && checkedData(runtime, w[14]!, w[15]!, w[16]!, pt.coeffCount());
}

/**
 * The byte offset of a two-polynomial ciphertext's coefficients (degree N, `primes` primes, in NTT
 * form or, with `nttForm` false, in coefficient form) in SEAL's heap, or null if its header or
 * layout is not the expected one.
 */
export function ciphertextData(runtime: SealRuntime, ct: Ciphertext, N: number, primes: number, nttForm = true): number | null {
  const w = objectWords(runtime, ct, 21);
  if (!w || w[9] !== 2 || w[10] !== N || w[11] !== primes) return null;
  if (ct.size() !== 2 || ct.coeffModulusSize() !== primes || ct.isNttForm() !== nttForm) return null;
  return checkedData(runtime, w[18]!, w[19]!, w[20]!, 2 * N * primes);
}

/** Whether two plaintexts carry the same parms_id (the first 32 bytes of SEAL's object); false if either layout is not the expected one. */
export function sameParmsId(runtime: SealRuntime, a: Plaintext, b: Plaintext): boolean {
  const x = objectWords(runtime, a, 8);
  const y = objectWords(runtime, b, 8);
  if (!x || !y) return false;
  for (let i = 0; i < 8; i++) if (x[i] !== y[i]) return false;
  return true;
}

/**
 * The byte offset of a secret key's coefficients in SEAL's heap (`count`: N × all key primes, in
 * NTT form), or null if its layout is not the expected one. SEAL's SecretKey holds one Plaintext
 * and nothing else, so its object is laid out as a plaintext's.
 */
export function secretKeyData(runtime: SealRuntime, sk: SecretKey, count: number): number | null {
  const w = objectWords(runtime, sk, 17);
  if (!w || w[8] !== count) return null;
  return checkedData(runtime, w[14]!, w[15]!, w[16]!, count);
}
