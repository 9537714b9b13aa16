import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { isVaultError } from './errors.js';
import { FAST, PASSPHRASE, sampleEntry, sha256File, useScratch } from './fixtures/test-vault.js';
import type { Migration } from './migrations.js';
import { LATEST_SCHEMA_VERSION, MIGRATIONS, VAULT_APPLICATION_ID, migrate, schemaVersion } from './migrations.js';
import { Vault } from './vault.js';

function tables(db: Database.Database): string[] {
  return db.prepare<[], { name: string }>("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").all().map((row) => row.name);
}

/** What each migration must leave behind, checked from an empty in-memory database. */
const EXPECTED_TABLES: Record<number, string[]> = {
  1: ['key_wraps', 'secret_keys', 'secret_settings', 'settings', 'vault_meta'],
  2: ['history', 'key_wraps', 'secret_keys', 'secret_settings', 'settings', 'vault_meta'],
  3: ['history', 'key_wraps', 'secret_key_sequence', 'secret_keys', 'secret_settings', 'settings', 'vault_commits', 'vault_meta'],
};

interface RawRows {
  history: unknown[];
  secretKeys: unknown[];
  keyWraps: unknown[];
  settings: unknown[];
  meta: unknown[];
}

function rawRows(db: Database.Database): RawRows {
  return {
    history: db.prepare('SELECT id, model_id, model_version, provider, created_at, input, result FROM history ORDER BY id').all(),
    secretKeys: db.prepare('SELECT fingerprint, version, created_at, sealed FROM secret_keys ORDER BY fingerprint, version').all(),
    keyWraps: db.prepare('SELECT method, kdf, kdf_n, kdf_r, kdf_p, salt, wrapper_name, wrapped_key, updated_at FROM key_wraps ORDER BY method').all(),
    settings: db.prepare('SELECT name, value FROM settings ORDER BY name').all(),
    meta: db.prepare('SELECT singleton, vault_id, created_at, key_check FROM vault_meta').all(),
  };
}

describe('migrations', () => {
  const scratch = useScratch();

  it('are numbered 1..n and each has an expectation here', () => {
    expect(MIGRATIONS.map((m) => m.version)).toEqual(MIGRATIONS.map((_, i) => i + 1));
    expect(Object.keys(EXPECTED_TABLES).map(Number)).toEqual(MIGRATIONS.map((m) => m.version));
  });

  it.each(MIGRATIONS.map((m) => [m.version, m.name] as const))('migration %i (%s) from an empty in-memory database', (version) => {
    const db = new Database(':memory:');
    try {
      expect(schemaVersion(db)).toBe(0);
      expect(migrate(db, MIGRATIONS, version)).toBe(version);
      expect(schemaVersion(db)).toBe(version);
      expect(tables(db)).toEqual(EXPECTED_TABLES[version]);
      expect(db.pragma('application_id', { simple: true })).toBe(VAULT_APPLICATION_ID);
      expect(db.pragma('foreign_key_check')).toEqual([]);
      // Running again is a no-op.
      expect(migrate(db, MIGRATIONS, version)).toBe(version);
    } finally {
      db.close();
    }
  });

  it('continue from an intermediate version to the latest', () => {
    const db = new Database(':memory:');
    try {
      migrate(db, MIGRATIONS, 1);
      expect(migrate(db)).toBe(LATEST_SCHEMA_VERSION);
      expect(tables(db)).toEqual(EXPECTED_TABLES[LATEST_SCHEMA_VERSION]);
    } finally {
      db.close();
    }
  });

  it('migration 3 keeps every row, id and byte of a populated version-2 vault, and gives each key record its checksum', () => {
    const db = new Database(':memory:');
    try {
      migrate(db, MIGRATIONS, 2);
      db.prepare("INSERT INTO vault_meta VALUES (1, 'v-1', '2026-01-01T00:00:00.000Z', x'0102')").run();
      db.prepare("INSERT INTO key_wraps (method, kdf, kdf_n, kdf_r, kdf_p, salt, wrapped_key, updated_at) VALUES ('passphrase', 'scrypt', 32768, 8, 1, randomblob(16), randomblob(60), 't')").run();
      db.prepare("INSERT INTO key_wraps (method, wrapper_name, wrapped_key, updated_at) VALUES ('keychain', 'memory', randomblob(80), 't')").run();
      const history = db.prepare("INSERT INTO history (id, model_id, model_version, provider, created_at, input, result) VALUES (?, 'm', '1', 'p', 't', randomblob(40), randomblob(40))");
      // Ids with gaps, and the newest deleted: ids are identity (bound in each row's seal).
      for (const id of [1, 2, 5, 9, 10]) history.run(id);
      db.prepare('DELETE FROM history WHERE id = 10').run();
      const key = db.prepare("INSERT INTO secret_keys VALUES (?, ?, 't', randomblob(50))");
      for (const [fp, version] of [['a', 1], ['a', 2], ['a', 3], ['b', 1]] as const) key.run(fp, version);
      db.prepare("INSERT INTO settings VALUES ('provider.url', 'https://x')").run();
      const before = rawRows(db);

      expect(migrate(db, MIGRATIONS, 3)).toBe(3);
      expect(rawRows(db)).toEqual(before);
      expect(db.prepare('SELECT fingerprint, last_version FROM secret_key_sequence ORDER BY fingerprint').all()).toEqual([{ fingerprint: 'a', last_version: 3 }, { fingerprint: 'b', last_version: 1 }]);
      const checks = db.prepare<[], { method: string; n: number }>('SELECT method, length(record_check) AS n FROM key_wraps ORDER BY method').all();
      expect(checks).toEqual([{ method: 'keychain', n: 32 }, { method: 'passphrase', n: 32 }]);
      // History ids: the deleted newest id (10) is not given again.
      const next = Number(db.prepare("INSERT INTO history (model_id, model_version, provider, created_at, input, result) VALUES ('m', '1', 'p', 't', x'', x'')").run().lastInsertRowid);
      expect(next).toBe(11);
      // Every change is counted from now on, by triggers.
      const counted = db.prepare<[], { changes: number }>('SELECT changes FROM vault_commits').get()?.changes ?? -1;
      db.prepare("UPDATE settings SET value = 'https://y'").run();
      expect(db.prepare<[], { changes: number }>('SELECT changes FROM vault_commits').get()?.changes).toBe(counted + 1);
    } finally {
      db.close();
    }
  });

  it('ids are never reused: deleting the newest history row or key version, the next one is above every id ever given', async () => {
    const vault = scratch.track(await Vault.create(scratch.dir(), PASSPHRASE, FAST));
    const ids = [1, 2, 3].map((n) => vault.addHistory(sampleEntry(n)));
    const versions = [1, 2, 3].map(() => vault.putSecretKey('fp', randomBytes(32)).version);
    expect(versions).toEqual([1, 2, 3]);
    const everUsed = Math.max(...ids);
    // Deleted behind the vault's back (there is no delete API): a later write must not take the number.
    const raw = new Database(vault.file);
    raw.prepare('DELETE FROM history WHERE id = ?').run(everUsed);
    raw.prepare("DELETE FROM secret_keys WHERE fingerprint = 'fp' AND version = 3").run();
    raw.close();
    const next = vault.addHistory(sampleEntry(4));
    expect(next).toBeGreaterThan(everUsed);
    expect(vault.putSecretKey('fp', randomBytes(32)).version).toBe(4);
    expect(vault.listHistory().unreadable).toEqual([]);
  });

  it('apply each migration in its own transaction: a failing one leaves the previous version intact', () => {
    const failing: Migration[] = [
      { version: 1, name: 'ok', up: (db) => db.exec('CREATE TABLE a (x INTEGER) STRICT') },
      {
        version: 2,
        name: 'fails halfway',
        up: (db) => {
          db.exec('CREATE TABLE b (x INTEGER) STRICT');
          throw new Error('boom');
        },
      },
    ];
    const db = new Database(':memory:');
    try {
      expect(() => migrate(db, failing)).toThrow('boom');
      expect(schemaVersion(db)).toBe(1);
      expect(tables(db)).toEqual(['a']);
    } finally {
      db.close();
    }
  });

  it('refuse a database from a newer version', () => {
    const db = new Database(':memory:');
    try {
      db.pragma(`user_version = ${LATEST_SCHEMA_VERSION + 1}`);
      expect(() => migrate(db)).toThrow(expect.objectContaining({ code: 'vault_too_new' }));
    } finally {
      db.close();
    }
  });

  it('a vault at user_version latest+1 is refused as vault_too_new and left unchanged', async () => {
    const dir = scratch.dir();
    const vault = await Vault.create(dir, PASSPHRASE, FAST);
    vault.close();
    const raw = new Database(vault.file);
    raw.pragma(`user_version = ${LATEST_SCHEMA_VERSION + 1}`);
    raw.close();
    const before = sha256File(vault.file);
    let caught: unknown;
    try {
      Vault.open(dir, FAST);
    } catch (error) {
      caught = error;
    }
    expect(isVaultError(caught, 'vault_too_new')).toBe(true);
    expect(sha256File(vault.file)).toBe(before);
    expect(fs.existsSync(`${vault.file}-wal`)).toBe(false);
  });
});
