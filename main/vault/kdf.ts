import { randomFillSync, scrypt } from 'node:crypto';
import { VaultError } from './errors.js';

/** scrypt cost parameters, stored beside every passphrase-wrapped key. */
export interface ScryptParams {
  readonly N: number;
  readonly r: number;
  readonly p: number;
}

/**
 * The floor an attacker-controlled file cannot lower: a file (or backup, or option) asking
 * for less is refused, never honoured. N = 2^15, r = 8 is 32 MiB of memory per guess.
 */
export const SCRYPT_FLOOR: ScryptParams = Object.freeze({ N: 2 ** 15, r: 8, p: 1 });

/** The default for new wraps: 128 MiB per guess, about half a second on a laptop. */
export const SCRYPT_DEFAULT: ScryptParams = Object.freeze({ N: 2 ** 17, r: 8, p: 1 });

/**
 * The ceilings, so that a modified file cannot make unlocking exhaust memory or take minutes
 * (raising r and p in the file once made an unlock take 35 s). Memory: 128 * N * r at most
 * 512 MiB. Work, which scrypt's time follows: N * r * p at most 4x the default (about 2 s where
 * the default takes 0.5 s). r and p alone: 16 and 4. Checked before any derivation, so a file
 * over them is refused in microseconds.
 */
export const SCRYPT_CEILING = Object.freeze({ memoryBytes: 2 ** 29, work: 4 * SCRYPT_DEFAULT.N * SCRYPT_DEFAULT.r * SCRYPT_DEFAULT.p, r: 16, p: 4 });

export const SALT_BYTES = 16;
export const DERIVED_KEY_BYTES = 32;

/** Where parameters came from, for the error message. */
export type KdfSource = 'vault file' | 'backup file' | 'options';

/** Throws `kdf_downgrade` below the floor and `kdf_unsupported` for values scrypt cannot or should not run. */
export function checkScryptParams(params: ScryptParams, source: KdfSource): void {
  const { N, r, p } = params;
  if (![N, r, p].every((value) => Number.isSafeInteger(value) && value > 0) || (N & (N - 1)) !== 0 || N < 2) {
    throw new VaultError('kdf_unsupported', `The scrypt parameters in the ${source} are not valid (N must be a power of two; N, r, p positive integers). The ${source} may have been modified.`, { N, r, p });
  }
  if (N < SCRYPT_FLOOR.N || r < SCRYPT_FLOOR.r || p < SCRYPT_FLOOR.p) {
    throw new VaultError(
      'kdf_downgrade',
      `The scrypt parameters in the ${source} (N=${N}, r=${r}, p=${p}) are below the minimum (N=${SCRYPT_FLOOR.N}, r=${SCRYPT_FLOOR.r}, p=${SCRYPT_FLOOR.p}). Refusing them: a weaker setting would make the passphrase easier to guess, and may mean the ${source} was modified.`,
      { N, r, p, floor: { ...SCRYPT_FLOOR } },
    );
  }
  const { memoryBytes, work, r: maxR, p: maxP } = SCRYPT_CEILING;
  if (128 * N * r > memoryBytes || N * r * p > work || r > maxR || p > maxP) {
    throw new VaultError(
      'kdf_unsupported',
      `The scrypt parameters in the ${source} (N=${N}, r=${r}, p=${p}) ask for more memory or time than CipherCare ever writes (at most ${memoryBytes / 2 ** 20} MiB, N*r*p <= ${work}, r <= ${maxR}, p <= ${maxP}). ` +
        (source === 'options' ? 'Choose parameters within these limits.' : `Refusing them without trying: the ${source} was probably modified. Restore it from a backup.`),
      { N, r, p, reason: 'above_ceiling', ceiling: { ...SCRYPT_CEILING } },
    );
  }
}

export function newSalt(): Buffer {
  const salt = Buffer.alloc(SALT_BYTES);
  randomFillSync(salt);
  return salt;
}

/**
 * Derives a 256-bit key-encryption key. Asynchronous so that the half second of scrypt runs
 * on libuv's thread pool, not on the (Electron main) event loop.
 */
export async function deriveKey(passphrase: string, salt: Uint8Array, params: ScryptParams, source: KdfSource): Promise<Buffer> {
  checkScryptParams(params, source);
  // NFC, so that the same passphrase typed on two systems (composed or decomposed accents) gives the same key.
  const secret = Buffer.from(passphrase.normalize('NFC'), 'utf8');
  try {
    return await new Promise<Buffer>((resolve, reject) => {
      scrypt(secret, salt, DERIVED_KEY_BYTES, { N: params.N, r: params.r, p: params.p, maxmem: scryptMemory(params) + 2 ** 20 }, (error, key) => {
        if (error) reject(error);
        else resolve(key);
      });
    });
  } finally {
    secret.fill(0);
  }
}

/** Memory scrypt needs: 128 * N * r for V plus 128 * r * p for B. */
function scryptMemory(params: ScryptParams): number {
  return 128 * params.N * params.r + 128 * params.r * params.p;
}

export function checkPassphrase(passphrase: unknown, what: string): asserts passphrase is string {
  if (typeof passphrase !== 'string' || passphrase.length === 0) {
    throw new VaultError('invalid_argument', `The ${what} must be a non-empty string.`);
  }
}
