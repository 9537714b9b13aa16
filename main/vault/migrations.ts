import type Database from 'better-sqlite3';
import { VaultError } from './errors.js';
import { keyRecordCheck } from './key-record.js';
import type { KeyRecordFields } from './key-record.js';

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
 * cannot be stored even by a buggy caller. Migrations run before unlocking, without the data
 * key: they change the schema and may fill columns computed from clear fields (3: checksums).
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
  {
    version: 3,
    name: 'ids never reused, commit counter, key record checksums',
    up: (db) => {
      // history has never reused an id (AUTOINCREMENT since 2); secret key versions were
      // max(version) + 1, so deleting the newest version (or losing it with a WAL) let the next
      // key take its number. secret_key_sequence remembers the highest version ever given.
      // vault_commits counts every row change, by triggers, so that no writer can forget it; the
      // commit marker beside the file (commit-marker.ts) holds the count last committed.
      db.exec(`
        CREATE TABLE secret_key_sequence (
          fingerprint TEXT PRIMARY KEY,
          last_version INTEGER NOT NULL CHECK (last_version >= 1)
        ) STRICT;
        INSERT INTO secret_key_sequence (fingerprint, last_version) SELECT fingerprint, max(version) FROM secret_keys GROUP BY fingerprint;
        CREATE TABLE vault_commits (
          singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
          changes INTEGER NOT NULL CHECK (changes >= 0)
        ) STRICT;
        INSERT INTO vault_commits (singleton, changes) VALUES (1, 0);
        ALTER TABLE key_wraps ADD COLUMN record_check BLOB;
      `);
      const rows = db.prepare<[], KeyRecordFields>('SELECT method, kdf, kdf_n, kdf_r, kdf_p, salt, wrapper_name, wrapped_key FROM key_wraps').all();
      const update = db.prepare('UPDATE key_wraps SET record_check = ? WHERE method = ?');
      for (const row of rows) update.run(keyRecordCheck(row), row.method);
      for (const table of ['vault_meta', 'key_wraps', 'secret_keys', 'secret_key_sequence', 'settings', 'secret_settings', 'history']) {
        for (const event of ['INSERT', 'UPDATE', 'DELETE']) {
          db.exec(`CREATE TRIGGER count_${table}_${event.toLowerCase()} AFTER ${event} ON ${table} BEGIN UPDATE vault_commits SET changes = changes + 1; END;`);
        }
      }
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
