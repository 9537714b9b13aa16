import type { MainModule } from 'node-seal';
import { HeError } from '../errors.js';
import { free } from '../seal/scope.js';
import { sealCall } from '../seal/runtime.js';
import { parametersFingerprint } from './parameters.js';
import type { HeParameters } from './parameters.js';

/** What a plan needs of its parameters. */
export interface ParameterRequirements {
  /** Number of rescalings (multiplicative depth). */
  depth: number;
  /** log2 of the scale; also the size of every rescaling prime. */
  scaleBits: number;
  /** Bits above the scale needed by the largest value decrypted at the last level. */
  headroomBits: number;
  /** Slots the layout needs (the polynomial degree is twice the slot count). */
  minSlots: number;
  /**
   * Headroom bits the plan would like beyond `headroomBits` (for example the worst case over the
   * declared input box): granted as far as the degree's security budget allows while the special
   * prime stays SPECIAL_MARGIN_BITS above the first prime. Never changes the degree.
   */
  wantedHeadroomBits?: number;
}

/** How many bits the special prime keeps above the first prime when extra headroom is granted. */
export const SPECIAL_MARGIN_BITS = 4;

/**
 * The special prime takes what the security budget leaves, up to this size (unless the first prime
 * needs it larger, by SPECIAL_MARGIN_BITS). Its NTTs are then those of the key-switching kernel's
 * fused multiply-add path (primes below 2^48, he-core/evaluator/kernels/keyswitch.wat): a 60-bit
 * one needs 64-bit products that WebAssembly emulates, about half of every key switch's time.
 * Key switching divides its noise by the special prime: 11 bits above breast-cancer-mlp's 37-bit
 * first prime, what a rotation adds to the error is within 2% of what it adds with a 60-bit special
 * prime (special-prime-noise.test.ts, docs/he-core.md).
 */
export const FAST_SPECIAL_PRIME_BITS = 48;

const DEGREES = [1024, 2048, 4096, 8192, 16384, 32768];
const MAX_PRIME_BITS = 60;

/** The minimal modulus chain bit sizes for the requirements: [q0, scale x depth, special]. */
export function chainBits(req: ParameterRequirements): number[] {
  const q0 = req.scaleBits + req.headroomBits;
  if (q0 > MAX_PRIME_BITS) {
    throw new HeError('params_unsatisfiable', `the first prime would need ${q0} bits (scale ${req.scaleBits} + headroom ${req.headroomBits}); SEAL allows ${MAX_PRIME_BITS}`);
  }
  const special = Math.max(q0, req.scaleBits);
  return [q0, ...Array.from({ length: req.depth }, () => req.scaleBits), special];
}

/**
 * Picks the smallest polynomial degree whose 128-bit-secure modulus budget (SEAL's tc128 table)
 * holds the chain and whose slot count holds the layout; SEAL itself then confirms the level.
 */
export function selectParameters(seal: MainModule, req: ParameterRequirements): HeParameters {
  if (!Number.isInteger(req.depth) || req.depth < 1) throw new HeError('params_unsatisfiable', 'a plan needs a depth of at least 1');
  const bits = chainBits(req);
  const total = bits.reduce((a, b) => a + b, 0);
  for (const degree of DEGREES) {
    if (degree / 2 < req.minSlots) continue;
    const budget = seal.CoeffModulus.MaxBitCount(degree, seal.SecLevelType.tc128);
    if (total > budget) continue;
    // Every prime must be congruent to 1 mod 2N, so it needs more bits than log2(2N).
    if (Math.min(...bits) <= Math.log2(2 * degree) + 1) continue;
    // Key-switching noise scales with (largest data prime / special prime): the special prime takes
    // the rest of the security budget at this degree, up to FAST_SPECIAL_PRIME_BITS (or
    // SPECIAL_MARGIN_BITS above the first prime, if that is more). Ciphertexts never carry it.
    const q0 = bits[0]!;
    const minimalData = total - bits[bits.length - 1]!;
    // Extra headroom on the first prime, where the budget leaves room for it: the special prime
    // (what is left) must stay SPECIAL_MARGIN_BITS above it so key switching stays as quiet.
    const room = Math.floor((budget - minimalData - q0 - SPECIAL_MARGIN_BITS) / 2);
    const extra = Math.max(0, Math.min((req.wantedHeadroomBits ?? 0) - req.headroomBits, room, MAX_PRIME_BITS - q0));
    const dataBits = minimalData + extra;
    const special = Math.min(MAX_PRIME_BITS, budget - dataBits, Math.max(FAST_SPECIAL_PRIME_BITS, q0 + extra + SPECIAL_MARGIN_BITS));
    const chain = [q0 + extra, ...bits.slice(1, -1), special];
    return buildParameters(seal, degree, chain, req.scaleBits);
  }
  throw new HeError(
    'params_unsatisfiable',
    `no polynomial degree up to 32768 holds a ${total}-bit chain with ${req.minSlots} slots at 128-bit security`,
  );
}

/** Builds and checks a parameter set from a degree and chain; refuses anything below 128-bit security. */
export function buildParameters(seal: MainModule, degree: number, bits: number[], scaleBits: number): HeParameters {
  const moduli = sealCall(seal, 'params_unsatisfiable', 'creating the modulus chain', () =>
    seal.CoeffModulus.Create(degree, Int32Array.from(bits)),
  );
  try {
    const values = seal.jsArrayFromVecModulus(moduli) as bigint[];
    const params: Omit<HeParameters, 'fingerprint'> = {
      scheme: 'ckks',
      polyModulusDegree: degree,
      coeffModulusBits: bits,
      primes: values.map((v) => v.toString()),
      scaleBits,
      securityLevel: 128,
    };
    const full = { ...params, fingerprint: parametersFingerprint(params) };
    assertSecure(seal, full);
    return full;
  } finally {
    free(moduli);
  }
}

/** Confirms with SEAL that the parameters are valid at 128-bit security (throws params_insecure otherwise). */
export function assertSecure(seal: MainModule, params: HeParameters): void {
  const budget = seal.CoeffModulus.MaxBitCount(params.polyModulusDegree, seal.SecLevelType.tc128);
  const total = params.primes.reduce((a, p) => a + BigInt(p).toString(2).length, 0);
  if (budget <= 0 || total > budget) {
    throw new HeError('params_insecure', `a ${total}-bit modulus at degree ${params.polyModulusDegree} is below 128-bit security (limit ${budget} bits)`);
  }
}
