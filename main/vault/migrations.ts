import type Database from 'better-sqlite3';
import { VaultError } from './errors.js';

/**
 * The SQLite `application_id` of a vault ("CCVT"), written by migration 1. A file without it
 * is somebody else's database and is never touched.
 */
export const VAULT_APPLICATION_ID = 0x43435654;

export interface Migration {
  /** The `user_version` the database has after this migration. */
  readonly version: number;
  readonly name: string;
  readonly up: (db: Database.Database) => void;
}

/**
 * Numbered schema migrations. Append only: a released migration is never edited, since
 * vaults in the field have already run it. Tables are STRICT, so a value of the wrong type
 * cannot be stored even by a buggy caller. Migrations change the schema only: they run
 * before unlocking, without the data key.
 */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'vault core: meta, key wraps, secret keys, settings',
    up: (db) => {
      db.pragma(`application_id = ${VAULT_APPLICATION_ID}`);
      db.exec(`
        CREATE TABLE vault_meta (
          singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
          vault_id TEXT NOT NULL,
          created_at TEXT NOT NULL,
          key_check BLOB NOT NULL
        ) STRICT;
        CREATE TABLE key_wraps (
          method TEXT PRIMARY KEY CHECK (method IN ('passphrase', 'keychain')),
          kdf TEXT CHECK (kdf IS NULL OR kdf = 'scrypt'),
          kdf_n INTEGER,
          kdf_r INTEGER,
          kdf_p INTEGER,
          salt BLOB,
          wrapper_name TEXT,
          wrapped_key BLOB NOT NULL,
          updated_at TEXT NOT NULL,
          CHECK ((method = 'passphrase') = (kdf IS NOT NULL AND salt IS NOT NULL AND kdf_n IS NOT NULL AND kdf_r IS NOT NULL AND kdf_p IS NOT NULL)),
          CHECK ((method = 'keychain') = (wrapper_name IS NOT NULL))
        ) STRICT;
        CREATE TABLE secret_keys (
          fingerprint TEXT NOT NULL,
          version INTEGER NOT NULL CHECK (version >= 1),
          created_at TEXT NOT NULL,
          sealed BLOB NOT NULL,
          PRIMARY KEY (fingerprint, version)
        ) STRICT;
        CREATE TABLE settings (
          name TEXT PRIMARY KEY,
          value TEXT NOT NULL
        ) STRICT;
        CREATE TABLE secret_settings (
          name TEXT PRIMARY KEY,
          sealed BLOB NOT NULL
        ) STRICT;
      `);
    },
  },
  {
    version: 2,
    name: 'prediction history',
    up: (db) => {
      // AUTOINCREMENT: an id is never reused, so a row sealed for an id (which the
      // associated data binds) can never be confused with a later row of the same id.
      db.exec(`
        CREATE TABLE history (
          id INTEGER PRIMARY KEY AUTOINCREMENT,
          model_id TEXT NOT NULL,
          model_version TEXT NOT NULL,
          provider TEXT NOT NULL,
          created_at TEXT NOT NULL,
          input BLOB NOT NULL,
          result BLOB NOT NULL
        ) STRICT;
        CREATE INDEX history_by_time ON history (created_at DESC, id DESC);
      `);
    },
  },
];

export const LATEST_SCHEMA_VERSION: number = MIGRATIONS.length;

export function schemaVersion(db: Database.Database): number {
  return db.pragma('user_version', { simple: true }) as number;
}

/**
 * Brings the database to `target` (the latest by default), each migration in its own
 * IMMEDIATE transaction that also sets `user_version`: a crash between two migrations leaves
 * a consistent database at the earlier version, which the next open continues from.
 * Returns the resulting version.
 */
export function migrate(db: Database.Database, migrations: readonly Migration[] = MIGRATIONS, target: number = migrations.length): number {
  migrations.forEach((migration, index) => {
    if (migration.version !== index + 1) throw new Error(`Migration ${migration.name} is numbered ${migration.version}, expected ${index + 1}`);
  });
  const current = schemaVersion(db);
  if (current > migrations.length) throw tooNew(current, migrations.length);
  for (const migration of migrations.slice(current, target)) {
    db.transaction(() => {
      migration.up(db);
      db.pragma(`user_version = ${migration.version}`);
    }).immediate();
  }
  return schemaVersion(db);
}

export function tooNew(found: number, supported: number): VaultError {
  return new VaultError(
    'vault_too_new',
    `This vault was written by a newer version of CipherCare (schema ${found}; this version reads up to ${supported}). Update CipherCare to open it; the file was left unchanged.`,
    { found, supported },
  );
}
