import type { PublicPlan } from '../compiler/plan.js';
import type { ExpectedSizes } from '../protocol/api.js';
import { packedResultBytes } from './packed-result.js';

/** The envelope's fixed header: magic, version, kind, reserved, fingerprint, count (docs/protocol.md). */
export const ENVELOPE_HEADER_BYTES = 44;

/** An uncompressed SEAL object's header, a ciphertext's metadata, its coefficient array's header and count, a seed record. */
const SEAL_HEADER = 16;
const CIPHERTEXT_METADATA = 32 + 1 + 5 * 8;
const ARRAY_HEADER = SEAL_HEADER + 8;
const SEED_RECORD = SEAL_HEADER + 1 + 64;

/**
 * Upper estimate of the zstd-compressed bytes of one polynomial's residues over primes of these
 * bit sizes. A residue of b bits travels as a little-endian 64-bit word: its b random bits cost
 * about b / 8 bytes, the zero bytes above them and zstd's tables about one and a half more.
 * Measured on the bundled plans (SEAL's own zstd and Node's native zstd at level 1): the real
 * bodies are 0.79 to 0.93 of this, never more (tests/service/expected-sizes.test.ts).
 */
function compressedResidueBytes(polyModulusDegree: number, bits: readonly number[]): number {
  return Math.ceil(polyModulusDegree * bits.reduce((a, b) => a + b / 8 + 1.5, 0));
}

/** Upper estimate of one fresh seeded ciphertext (one polynomial over the data primes and a seed), zstd-compressed. */
export function seededCiphertextBytes(plan: PublicPlan): number {
  const { polyModulusDegree: n, coeffModulusBits } = plan.params;
  return SEAL_HEADER + CIPHERTEXT_METADATA + ARRAY_HEADER + SEED_RECORD + compressedResidueBytes(n, coeffModulusBits.slice(0, -1));
}

/**
 * Upper estimate of one seeded key-switching key set (relinearisation: one key; Galois: one per
 * step), zstd-compressed: per key, one component per data prime, each a seeded two-polynomial
 * ciphertext over every prime (the special one included) of which only the first polynomial and
 * the seed travel; plus the parms id and SEAL's table of key slots (Galois: N entries).
 */
function seededKeySetBytes(plan: PublicPlan, keys: number, slots: number): number {
  const { polyModulusDegree: n, coeffModulusBits } = plan.params;
  const component = SEAL_HEADER + CIPHERTEXT_METADATA + ARRAY_HEADER + SEED_RECORD + compressedResidueBytes(n, coeffModulusBits);
  return SEAL_HEADER + 32 + 8 + 8 * slots + keys * (coeffModulusBits.length - 1) * component;
}

/**
 * The catalog's `expectedSizes` of a plan, each the size of a whole HTTP body:
 * `responseBytes` exactly (packed answers have a fixed size); `requestBytes` and
 * `evaluationKeyBytes` as upper estimates of what a client that compresses with zstd sends (the
 * compressed size of random residues varies by a few bytes and with the zstd build).
 */
export function expectedSizes(plan: PublicPlan): ExpectedSizes {
  const n = plan.params.polyModulusDegree;
  const relin = plan.relinearization ? seededKeySetBytes(plan, 1, 1) : 0;
  const galois = plan.galoisSteps.length > 0 ? seededKeySetBytes(plan, plan.galoisSteps.length, n) : 0;
  return {
    evaluationKeyBytes: ENVELOPE_HEADER_BYTES + 2 * 4 + relin + galois,
    requestBytes: ENVELOPE_HEADER_BYTES + plan.input.count * (4 + seededCiphertextBytes(plan)),
    responseBytes: ENVELOPE_HEADER_BYTES + plan.output.count * (4 + packedResultBytes(n, plan.output.packing)),
  };
}
