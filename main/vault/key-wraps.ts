import type Database from 'better-sqlite3';
import { DATA_KEY_BYTES, associatedData, seal, unseal } from './crypto.js';
import { VaultError } from './errors.js';
import type { KdfSource, ScryptParams } from './kdf.js';
import { checkScryptParams, deriveKey, newSalt } from './kdf.js';
import { checkKeyRecord, keyRecordCheck } from './key-record.js';
import type { KeyRecordFields } from './key-record.js';
import type { KeyWrapper } from './key-wrapper.js';

/** The data key wrapped under a passphrase-derived key, with what is needed to derive it again. */
export interface PassphraseWrap {
  readonly params: ScryptParams;
  readonly salt: Buffer;
  readonly wrapped: Buffer;
}

interface KeyWrapRow extends KeyRecordFields {
  record_check: Buffer | null;
}

const SELECT_WRAP = 'SELECT method, kdf, kdf_n, kdf_r, kdf_p, salt, wrapper_name, wrapped_key, record_check FROM key_wraps WHERE method = ?';

/** The identity of the wrapped data key; the wrapping key already depends on salt and parameters. */
const PASSPHRASE_WRAP_AD = associatedData('key_wraps', 'passphrase', 'data_key');
const KEY_CHECK_AD_KIND = 'key_check';

/** `ad` defaults to the vault's key record identity; a backup binds its header instead. */
export async function wrapWithPassphrase(dataKey: Uint8Array, passphrase: string, params: ScryptParams, options: { salt?: Buffer; ad?: Buffer } = {}): Promise<PassphraseWrap> {
  const salt = options.salt ?? newSalt();
  const kek = await deriveKey(passphrase, salt, params, 'options');
  try {
    return { params, salt, wrapped: seal(kek, dataKey, options.ad ?? PASSPHRASE_WRAP_AD) };
  } finally {
    kek.fill(0);
  }
}

/** Unwraps, or throws `wrong_passphrase` (GCM fails), `kdf_downgrade` or `kdf_unsupported` (checked before any work). */
export async function unwrapWithPassphrase(wrap: PassphraseWrap, passphrase: string, source: KdfSource = 'vault file', ad: Buffer = PASSPHRASE_WRAP_AD): Promise<Buffer> {
  const kek = await deriveKey(passphrase, wrap.salt, wrap.params, source);
  try {
    const dataKey = unseal(kek, wrap.wrapped, ad);
    if (dataKey === undefined || dataKey.length !== DATA_KEY_BYTES) {
      dataKey?.fill(0);
      throw new VaultError('wrong_passphrase', source === 'backup file' ? 'The backup passphrase is wrong (or the backup header was modified).' : 'The passphrase is wrong. Check the keyboard layout and caps lock, and try again.');
    }
    return dataKey;
  } finally {
    kek.fill(0);
  }
}

/**
 * Reads and checks the passphrase record, in order and before any derivation: present
 * (`not_a_vault`), scrypt parameters within floor and ceiling (`kdf_downgrade`,
 * `kdf_unsupported`), sizes and checksum (`key_record_damaged`). What fails after this, when the
 * passphrase is tried, can only be the passphrase.
 */
export function readPassphraseWrap(db: Database.Database): PassphraseWrap {
  const row = db.prepare<[string], KeyWrapRow>(SELECT_WRAP).get('passphrase');
  if (row === undefined || row.kdf !== 'scrypt' || row.kdf_n === null || row.kdf_r === null || row.kdf_p === null || !Buffer.isBuffer(row.salt) || !Buffer.isBuffer(row.wrapped_key)) {
    throw new VaultError('not_a_vault', 'The vault has no usable passphrase key record; restore it from a backup.', { reason: 'incomplete' });
  }
  const params = { N: row.kdf_n, r: row.kdf_r, p: row.kdf_p };
  checkScryptParams(params, 'vault file');
  checkKeyRecord(row, row.record_check);
  return { params, salt: row.salt, wrapped: row.wrapped_key };
}

function passphraseRecord(wrap: PassphraseWrap): KeyRecordFields {
  return { method: 'passphrase', kdf: 'scrypt', kdf_n: wrap.params.N, kdf_r: wrap.params.r, kdf_p: wrap.params.p, salt: wrap.salt, wrapper_name: null, wrapped_key: wrap.wrapped };
}

/**
 * Stores the passphrase wrap. With `replacing`, only if the stored wrap is still that one
 * (compare-and-swap), so that two concurrent passphrase changes cannot both win.
 */
export function writePassphraseWrap(db: Database.Database, wrap: PassphraseWrap, replacing?: PassphraseWrap): void {
  const now = new Date().toISOString();
  if (replacing === undefined) {
    db.prepare("INSERT INTO key_wraps (method, kdf, kdf_n, kdf_r, kdf_p, salt, wrapped_key, record_check, updated_at) VALUES ('passphrase', 'scrypt', ?, ?, ?, ?, ?, ?, ?)")
      .run(wrap.params.N, wrap.params.r, wrap.params.p, wrap.salt, wrap.wrapped, keyRecordCheck(passphraseRecord(wrap)), now);
    return;
  }
  const result = db.prepare("UPDATE key_wraps SET kdf_n = ?, kdf_r = ?, kdf_p = ?, salt = ?, wrapped_key = ?, record_check = ?, updated_at = ? WHERE method = 'passphrase' AND wrapped_key = ?")
    .run(wrap.params.N, wrap.params.r, wrap.params.p, wrap.salt, wrap.wrapped, keyRecordCheck(passphraseRecord(wrap)), now, replacing.wrapped);
  if (result.changes !== 1) {
    throw new VaultError('wrong_passphrase', 'The passphrase was changed by another window or process meanwhile; unlock with the current passphrase and try again.');
  }
}

export function keychainWrapName(db: Database.Database): string | undefined {
  const row = db.prepare<[], { wrapper_name: string }>("SELECT wrapper_name FROM key_wraps WHERE method = 'keychain'").get();
  return row?.wrapper_name;
}

export function assertSecure(wrapper: KeyWrapper): void {
  if (!wrapper.isSecure()) {
    throw new VaultError('keychain_insecure', `The system keychain "${wrapper.name}" does not protect secrets (it only obfuscates them), so CipherCare will not keep the vault key there. Use the passphrase instead.`, { wrapper: wrapper.name });
  }
}

export function writeKeychainWrap(db: Database.Database, wrapper: KeyWrapper, dataKey: Buffer): void {
  assertSecure(wrapper);
  const blob = Buffer.from(wrapper.wrap(dataKey));
  // Prove the backend gives the key back before relying on it.
  const back = Buffer.from(wrapper.unwrap(blob));
  const same = back.equals(dataKey);
  back.fill(0);
  if (!same) throw new VaultError('keychain_unavailable', `The system keychain "${wrapper.name}" did not return the key it was given; keychain unlock was not enabled.`, { wrapper: wrapper.name });
  const check = keyRecordCheck({ method: 'keychain', kdf: null, kdf_n: null, kdf_r: null, kdf_p: null, salt: null, wrapper_name: wrapper.name, wrapped_key: blob });
  db.prepare("INSERT OR REPLACE INTO key_wraps (method, wrapper_name, wrapped_key, record_check, updated_at) VALUES ('keychain', ?, ?, ?, ?)").run(wrapper.name, blob, check, new Date().toISOString());
}

export function readKeychainWrap(db: Database.Database, wrapper: KeyWrapper): Buffer {
  assertSecure(wrapper);
  const row = db.prepare<[string], KeyWrapRow>(SELECT_WRAP).get('keychain');
  if (row === undefined || !Buffer.isBuffer(row.wrapped_key)) {
    throw new VaultError('keychain_unavailable', 'Keychain unlock is not set up for this vault. Unlock with the passphrase, then enable it.');
  }
  checkKeyRecord(row, row.record_check);
  if (row.wrapper_name !== wrapper.name) {
    // Signal's lesson: a changed backend (say, from libsecret to kwallet) is noticed, not guessed around.
    throw new VaultError('keychain_unavailable', `Keychain unlock was set up with "${row.wrapper_name ?? '?'}" but the system now offers "${wrapper.name}". Unlock with the passphrase, then enable keychain unlock again.`, { stored: row.wrapper_name, offered: wrapper.name });
  }
  let key: Buffer;
  try {
    key = Buffer.from(wrapper.unwrap(row.wrapped_key));
  } catch (error) {
    throw new VaultError('keychain_unavailable', `The system keychain "${wrapper.name}" could not unwrap the vault key. Unlock with the passphrase.`, { wrapper: wrapper.name }, { cause: error });
  }
  if (key.length !== DATA_KEY_BYTES) {
    key.fill(0);
    throw new VaultError('keychain_unavailable', `The system keychain "${wrapper.name}" returned a key of the wrong size. Unlock with the passphrase.`, { wrapper: wrapper.name });
  }
  return key;
}

/** A known plaintext sealed under the data key: proves a key from any source is the right one. */
export function makeKeyCheck(dataKey: Uint8Array, vaultId: string): Buffer {
  return seal(dataKey, Buffer.from(vaultId, 'utf8'), associatedData('vault_meta', vaultId, KEY_CHECK_AD_KIND));
}

export function verifyKeyCheck(dataKey: Uint8Array, vaultId: string, keyCheck: Uint8Array): boolean {
  const plain = unseal(dataKey, keyCheck, associatedData('vault_meta', vaultId, KEY_CHECK_AD_KIND));
  return plain !== undefined && plain.equals(Buffer.from(vaultId, 'utf8'));
}
