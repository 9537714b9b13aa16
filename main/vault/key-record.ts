import { createHash } from 'node:crypto';
import { DATA_KEY_BYTES, SEALED_OVERHEAD, associatedData } from './crypto.js';
import { VaultError } from './errors.js';
import { SALT_BYTES } from './kdf.js';

/**
 * The checksum of a key record (a row of `key_wraps`), which tells a damaged record from a wrong
 * passphrase. AES-GCM alone cannot: a flipped bit in the wrapped key and a wrong passphrase both
 * fail the tag. The checksum is SHA-256 over every field of the record, so it depends on no
 * passphrase and is checked before any derivation. It detects damage (a bad disk, a truncated
 * or hand-edited record), not a forger: whoever can write the file can recompute it, but then
 * gains nothing, since the passphrase check that follows still refuses a key it did not wrap.
 *
 * Frozen format: migration 3 computed it for existing records, so it never changes.
 */
export interface KeyRecordFields {
  method: string;
  kdf: string | null;
  kdf_n: number | null;
  kdf_r: number | null;
  kdf_p: number | null;
  salt: Buffer | null;
  wrapper_name: string | null;
  wrapped_key: Buffer;
}

export const RECORD_CHECK_BYTES = 32;
/** A passphrase wrap is the sealed data key: nonce | 32 bytes | tag. */
export const PASSPHRASE_WRAPPED_BYTES = DATA_KEY_BYTES + SEALED_OVERHEAD;

export function keyRecordCheck(row: KeyRecordFields): Buffer {
  const bytes = (value: Buffer | null): string => (Buffer.isBuffer(value) ? value.toString('base64') : '-');
  const ad = associatedData('key_wraps', row.method, row.kdf ?? '-', row.kdf_n ?? -1, row.kdf_r ?? -1, row.kdf_p ?? -1, bytes(row.salt), row.wrapper_name ?? '-', bytes(row.wrapped_key), 'record_check');
  return createHash('sha256').update(ad).digest();
}

/**
 * Throws `key_record_damaged` if the record is structurally wrong (sizes) or its checksum does not
 * match; says nothing about the passphrase. Called after the scrypt bounds, before scrypt.
 */
export function checkKeyRecord(row: KeyRecordFields, check: Buffer | null): void {
  const method = row.method === 'keychain' ? 'keychain' : 'passphrase';
  if (method === 'passphrase') {
    if (!Buffer.isBuffer(row.salt) || row.salt.length !== SALT_BYTES) throw damaged(method, `its salt is ${Buffer.isBuffer(row.salt) ? row.salt.length : 0} bytes instead of ${SALT_BYTES}`);
    if (!Buffer.isBuffer(row.wrapped_key) || row.wrapped_key.length !== PASSPHRASE_WRAPPED_BYTES) {
      throw damaged(method, `its wrapped key is ${Buffer.isBuffer(row.wrapped_key) ? row.wrapped_key.length : 0} bytes instead of ${PASSPHRASE_WRAPPED_BYTES}`);
    }
  } else if (!Buffer.isBuffer(row.wrapped_key) || row.wrapped_key.length === 0) {
    throw damaged(method, 'its wrapped key is empty');
  }
  if (!Buffer.isBuffer(check) || check.length !== RECORD_CHECK_BYTES) throw damaged(method, 'its checksum is missing');
  if (!keyRecordCheck(row).equals(check)) throw damaged(method, 'its checksum does not match its contents');
}

function damaged(method: 'passphrase' | 'keychain', why: string): VaultError {
  const advice = method === 'passphrase'
    ? 'Your passphrase was not tried, so this is not a wrong passphrase. Unlock with the system keychain if it is set up, then change the passphrase (which writes a new record); otherwise restore the vault from a backup.'
    : 'Unlock with the passphrase, then enable keychain unlock again (which writes a new record).';
  return new VaultError('key_record_damaged', `The vault's ${method} key record is damaged: ${why}. The file was modified or damaged there; the rest of the vault is unaffected. ${advice}`, { method, reason: why });
}
