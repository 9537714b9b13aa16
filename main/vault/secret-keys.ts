import type Database from 'better-sqlite3';
import { associatedData, seal, unseal } from './crypto.js';
import { VaultError } from './errors.js';
import { checkName, rowTampered } from './rows.js';

/** One version of the HE secret key for a parameter fingerprint. */
export interface StoredSecretKey {
  readonly fingerprint: string;
  readonly version: number;
  readonly createdAt: string;
  readonly bytes: Buffer;
}

interface SecretKeyRow {
  version: number;
  created_at: string;
  sealed: Buffer;
}

/** Fingerprint and version are the row's identity; both are bound into the seal. */
export function secretKeyAd(fingerprint: string, version: number): Buffer {
  return associatedData('secret_keys', fingerprint, version, 'secret_key');
}

/**
 * Adds version n+1 for the fingerprint, which becomes the current one. Rotation is exactly
 * this: older versions stay readable, so that history encrypted under them still decrypts.
 */
export function putSecretKey(db: Database.Database, dataKey: Buffer, fingerprint: string, bytes: Uint8Array): number {
  checkName(fingerprint, 'parameter fingerprint');
  if (!(bytes instanceof Uint8Array) || bytes.length === 0) throw new VaultError('invalid_argument', 'The secret key must be non-empty bytes.');
  return db.transaction(() => {
    // Above every version ever given (secret_key_sequence, kept even when the newest row is
    // gone), not only above the versions present: a version number is never reused.
    const latest = db.prepare<[string, string], { v: number | null }>('SELECT max(v) AS v FROM (SELECT max(version) AS v FROM secret_keys WHERE fingerprint = ? UNION ALL SELECT last_version FROM secret_key_sequence WHERE fingerprint = ?)').get(fingerprint, fingerprint);
    const version = (latest?.v ?? 0) + 1;
    db.prepare('INSERT INTO secret_keys (fingerprint, version, created_at, sealed) VALUES (?, ?, ?, ?)')
      .run(fingerprint, version, new Date().toISOString(), seal(dataKey, bytes, secretKeyAd(fingerprint, version)));
    db.prepare('INSERT INTO secret_key_sequence (fingerprint, last_version) VALUES (?, ?) ON CONFLICT (fingerprint) DO UPDATE SET last_version = max(last_version, excluded.last_version)').run(fingerprint, version);
    return version;
  }).immediate();
}

/**
 * The highest version. If that row fails authentication the error says so: falling back to an
 * older key silently would hide the tampering (and could roll a rotation back).
 */
export function currentSecretKey(db: Database.Database, dataKey: Buffer, fingerprint: string): StoredSecretKey | undefined {
  checkName(fingerprint, 'parameter fingerprint');
  const row = db.prepare<[string], SecretKeyRow>('SELECT version, created_at, sealed FROM secret_keys WHERE fingerprint = ? ORDER BY version DESC LIMIT 1').get(fingerprint);
  return row === undefined ? undefined : openRow(dataKey, fingerprint, row);
}

export function secretKey(db: Database.Database, dataKey: Buffer, fingerprint: string, version: number): StoredSecretKey | undefined {
  checkName(fingerprint, 'parameter fingerprint');
  if (!Number.isSafeInteger(version) || version < 1) throw new VaultError('invalid_argument', 'A secret key version is an integer from 1.');
  const row = db.prepare<[string, number], SecretKeyRow>('SELECT version, created_at, sealed FROM secret_keys WHERE fingerprint = ? AND version = ?').get(fingerprint, version);
  return row === undefined ? undefined : openRow(dataKey, fingerprint, row);
}

/** Versions stored for the fingerprint, oldest first; needs no key (versions are not secret). */
export function secretKeyVersions(db: Database.Database, fingerprint: string): number[] {
  checkName(fingerprint, 'parameter fingerprint');
  return db.prepare<[string], { version: number }>('SELECT version FROM secret_keys WHERE fingerprint = ? ORDER BY version').all(fingerprint).map((row) => row.version);
}

function openRow(dataKey: Buffer, fingerprint: string, row: SecretKeyRow): StoredSecretKey {
  const bytes = Buffer.isBuffer(row.sealed) ? unseal(dataKey, row.sealed, secretKeyAd(fingerprint, row.version)) : undefined;
  if (bytes === undefined) throw rowTampered('secret key', `${fingerprint} v${row.version}`, 'key');
  return { fingerprint, version: row.version, createdAt: row.created_at, bytes };
}
