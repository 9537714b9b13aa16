import fs from 'node:fs';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { isVaultError } from './errors.js';
import { FAST, PASSPHRASE, sha256File, useScratch } from './fixtures/test-vault.js';
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
};

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
