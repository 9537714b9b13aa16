import { DATA_KEY_BYTES, SEALED_OVERHEAD, seal, unseal } from './crypto.js';
import { VaultError } from './errors.js';
import type { ScryptParams } from './kdf.js';
import { SALT_BYTES, checkScryptParams, newSalt } from './kdf.js';
import { unwrapWithPassphrase, wrapWithPassphrase } from './key-wraps.js';

/**
 * The backup file, a binary container:
 *
 *   magic "CCVBAK\0", then the format version byte                         8 bytes
 *   header length, u32 big-endian                                          4 bytes
 *   header: UTF-8 JSON {format, version, createdAt, kdf: {name, N, r, p, salt}}
 *   the data key sealed (AES-256-GCM) under scrypt(backup passphrase)     60 bytes
 *   the body sealed under the data key: UTF-8 JSON of every row, each secret field still
 *   sealed as in the vault, so the rows' own authentication carries over unchanged
 *
 * Both seals take the preamble (magic, version, length, header) plus a label as associated
 * data, so the header cannot be edited either. A wrong passphrase fails on the small wrapped
 * key; a modified body fails on the body's tag.
 */
const MAGIC = Buffer.from('CCVBAK\0', 'latin1');
export const BACKUP_FORMAT_VERSION = 1;
const PREFIX_BYTES = MAGIC.length + 1 + 4;
const MAX_HEADER_BYTES = 64 * 1024;
const WRAPPED_KEY_BYTES = DATA_KEY_BYTES + SEALED_OVERHEAD;

export interface BackupContents {
  readonly vault: { readonly vaultId: string; readonly createdAt: string; readonly keyCheck: Buffer };
  readonly secretKeys: ReadonlyArray<{ readonly fingerprint: string; readonly version: number; readonly createdAt: string; readonly sealed: Buffer }>;
  readonly history: ReadonlyArray<{ readonly id: number; readonly modelId: string; readonly modelVersion: string; readonly provider: string; readonly createdAt: string; readonly input: Buffer; readonly result: Buffer }>;
  readonly settings: ReadonlyArray<{ readonly name: string; readonly value: string }>;
  readonly secretSettings: ReadonlyArray<{ readonly name: string; readonly sealed: Buffer }>;
}

export async function encodeBackup(contents: BackupContents, dataKey: Buffer, passphrase: string, params: ScryptParams): Promise<Buffer> {
  checkScryptParams(params, 'options');
  const salt = newSalt();
  const header = {
    format: 'ciphercare-vault-backup',
    version: BACKUP_FORMAT_VERSION,
    createdAt: new Date().toISOString(),
    kdf: { name: 'scrypt', N: params.N, r: params.r, p: params.p, salt: salt.toString('base64') },
  };
  const headerBytes = Buffer.from(JSON.stringify(header), 'utf8');
  const preamble = Buffer.alloc(PREFIX_BYTES + headerBytes.length);
  MAGIC.copy(preamble, 0);
  preamble.writeUInt8(BACKUP_FORMAT_VERSION, MAGIC.length);
  preamble.writeUInt32BE(headerBytes.length, MAGIC.length + 1);
  headerBytes.copy(preamble, PREFIX_BYTES);
  const wrap = await wrapWithPassphrase(dataKey, passphrase, params, { salt, ad: labelled(preamble, 'data_key') });
  const body = seal(dataKey, Buffer.from(JSON.stringify(toJson(contents)), 'utf8'), labelled(preamble, 'body'));
  return Buffer.concat([preamble, wrap.wrapped, body]);
}

/**
 * Reads a backup. Throws `backup_invalid` (not a backup, truncated, modified), `vault_too_new`,
 * `kdf_downgrade` / `kdf_unsupported` (checked before any work) or `wrong_passphrase`.
 * The caller owns (and must zero) the returned data key.
 */
export async function decodeBackup(file: Buffer, passphrase: string): Promise<{ contents: BackupContents; dataKey: Buffer }> {
  if (file.length < PREFIX_BYTES || !file.subarray(0, MAGIC.length).equals(MAGIC)) throw invalid('it is not a CipherCare vault backup');
  const version = file.readUInt8(MAGIC.length);
  if (version > BACKUP_FORMAT_VERSION) {
    throw new VaultError('vault_too_new', `This backup was made by a newer version of CipherCare (backup format ${version}; this version reads up to ${BACKUP_FORMAT_VERSION}). Update CipherCare to restore it.`, { found: version, supported: BACKUP_FORMAT_VERSION });
  }
  if (version !== BACKUP_FORMAT_VERSION) throw invalid(`its format version ${version} is unknown`);
  const headerLength = file.readUInt32BE(MAGIC.length + 1);
  if (headerLength > MAX_HEADER_BYTES || file.length < PREFIX_BYTES + headerLength + WRAPPED_KEY_BYTES + SEALED_OVERHEAD) throw invalid('it is truncated');
  const preamble = file.subarray(0, PREFIX_BYTES + headerLength);
  const kdf = parseHeader(preamble.subarray(PREFIX_BYTES));
  const params: ScryptParams = { N: kdf.N, r: kdf.r, p: kdf.p };
  checkScryptParams(params, 'backup file');
  const wrapped = file.subarray(preamble.length, preamble.length + WRAPPED_KEY_BYTES);
  const dataKey = await unwrapWithPassphrase({ params, salt: kdf.salt, wrapped }, passphrase, 'backup file', labelled(preamble, 'data_key'));
  try {
    const body = unseal(dataKey, file.subarray(preamble.length + WRAPPED_KEY_BYTES), labelled(preamble, 'body'));
    if (body === undefined) throw invalid('its contents failed authentication (the file was modified or damaged)');
    let json: unknown;
    try {
      json = JSON.parse(body.toString('utf8'));
    } catch {
      throw invalid('its contents are not readable');
    } finally {
      body.fill(0);
    }
    return { contents: fromJson(json), dataKey };
  } catch (error) {
    dataKey.fill(0);
    throw error;
  }
}

function labelled(preamble: Buffer, label: 'data_key' | 'body'): Buffer {
  return Buffer.concat([preamble, Buffer.from(`\0${label}`, 'latin1')]);
}

function parseHeader(bytes: Buffer): { N: number; r: number; p: number; salt: Buffer } {
  let header: unknown;
  try {
    header = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw invalid('its header is not readable');
  }
  const h = record(header, 'header');
  if (h.format !== 'ciphercare-vault-backup' || h.version !== BACKUP_FORMAT_VERSION) throw invalid('its header does not describe a CipherCare vault backup');
  const kdf = record(h.kdf, 'key derivation');
  if (kdf.name !== 'scrypt') throw invalid(`its key derivation "${String(kdf.name)}" is unknown`);
  const salt = bytesField(kdf, 'salt');
  if (salt.length !== SALT_BYTES) throw invalid('its salt has the wrong size');
  return { N: integer(kdf, 'N'), r: integer(kdf, 'r'), p: integer(kdf, 'p'), salt };
}

/** JSON form: byte fields as base64 strings. */
function toJson(contents: BackupContents): unknown {
  const b64 = (bytes: Buffer): string => bytes.toString('base64');
  return {
    vault: { vaultId: contents.vault.vaultId, createdAt: contents.vault.createdAt, keyCheck: b64(contents.vault.keyCheck) },
    secretKeys: contents.secretKeys.map((k) => ({ ...k, sealed: b64(k.sealed) })),
    history: contents.history.map((h) => ({ ...h, input: b64(h.input), result: b64(h.result) })),
    settings: contents.settings.map((s) => ({ name: s.name, value: s.value })),
    secretSettings: contents.secretSettings.map((s) => ({ name: s.name, sealed: b64(s.sealed) })),
  };
}

/** Authenticated already, but checked anyway: a bug in an older writer must not become a crash. */
function fromJson(json: unknown): BackupContents {
  const root = record(json, 'contents');
  const vault = record(root.vault, 'vault');
  return {
    vault: { vaultId: text(vault, 'vaultId'), createdAt: text(vault, 'createdAt'), keyCheck: bytesField(vault, 'keyCheck') },
    secretKeys: list(root.secretKeys, 'secret keys').map((item) => {
      const k = record(item, 'secret key');
      return { fingerprint: text(k, 'fingerprint'), version: integer(k, 'version'), createdAt: text(k, 'createdAt'), sealed: bytesField(k, 'sealed') };
    }),
    history: list(root.history, 'history').map((item) => {
      const h = record(item, 'history entry');
      return { id: integer(h, 'id'), modelId: text(h, 'modelId'), modelVersion: text(h, 'modelVersion'), provider: text(h, 'provider'), createdAt: text(h, 'createdAt'), input: bytesField(h, 'input'), result: bytesField(h, 'result') };
    }),
    settings: list(root.settings, 'settings').map((item) => {
      const s = record(item, 'setting');
      return { name: text(s, 'name'), value: text(s, 'value') };
    }),
    secretSettings: list(root.secretSettings, 'secret settings').map((item) => {
      const s = record(item, 'secret setting');
      return { name: text(s, 'name'), sealed: bytesField(s, 'sealed') };
    }),
  };
}

function record(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid(`its ${what} is malformed`);
  return value as Record<string, unknown>;
}

function list(value: unknown, what: string): unknown[] {
  if (!Array.isArray(value)) throw invalid(`its ${what} are malformed`);
  return value;
}

function text(object: Record<string, unknown>, key: string): string {
  const value = object[key];
  if (typeof value !== 'string') throw invalid(`the field ${key} is malformed`);
  return value;
}

function integer(object: Record<string, unknown>, key: string): number {
  const value = object[key];
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw invalid(`the field ${key} is malformed`);
  return value;
}

function bytesField(object: Record<string, unknown>, key: string): Buffer {
  const value = text(object, key);
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(value)) throw invalid(`the field ${key} is malformed`);
  return Buffer.from(value, 'base64');
}

export function invalid(why: string): VaultError {
  return new VaultError('backup_invalid', `This file cannot be restored: ${why}. Use another backup file.`, { reason: why });
}
