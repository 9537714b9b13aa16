import { canonicalJson, sha256Hex } from '../model/canonical.js';

/** A CKKS parameter set, fully determined by its degree and primes. */
export interface HeParameters {
  scheme: 'ckks';
  polyModulusDegree: number;
  /** Bit sizes of the modulus chain: q0, the rescaling primes, then the special (key-switching) prime. */
  coeffModulusBits: number[];
  /** The primes themselves, as decimal strings, in the same order. */
  primes: string[];
  /** log2 of the scale inputs are encoded at. */
  scaleBits: number;
  securityLevel: 128;
  /** SHA-256 (hex) of the canonical parameters: scheme, degree, primes, security level. */
  fingerprint: string;
}

export function parametersFingerprint(p: Pick<HeParameters, 'scheme' | 'polyModulusDegree' | 'primes' | 'securityLevel'>): string {
  return sha256Hex(
    canonicalJson({ scheme: p.scheme, polyModulusDegree: p.polyModulusDegree, primes: p.primes, securityLevel: p.securityLevel }),
  );
}

/** Number of rescalings the chain allows: data primes minus one. The first (top) level index. */
export function topLevel(p: HeParameters): number {
  return p.primes.length - 2;
}

export function slotCount(p: HeParameters): number {
  return p.polyModulusDegree / 2;
}

/** The data prime that a rescale at `level` removes, as a double (what SEAL divides the scale by). */
export function primeAt(p: HeParameters, level: number): number {
  return Number(p.primes[level]);
}

export function fingerprintBytes(fingerprint: string): Uint8Array {
  return Uint8Array.from(Buffer.from(fingerprint, 'hex'));
}
