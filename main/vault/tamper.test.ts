import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import type { VaultError } from './errors.js';
import { isVaultError } from './errors.js';
import { FAST, PASSPHRASE, sampleEntry, sha256File, useScratch } from './fixtures/test-vault.js';
import { Vault } from './vault.js';

/** Edits a closed vault's file behind the vault's back, as an attacker (or a bad disk) would. */
function editRaw(file: string, edit: (db: Database.Database) => void): void {
  const raw = new Database(file);
  try {
    edit(raw);
  } finally {
    raw.close();
  }
}

function flipByte(blob: Buffer, offset: number): Buffer {
  const copy = Buffer.from(blob);
  copy[offset] = (copy[offset] ?? 0) ^ 0x01;
  return copy;
}

function openError(dir: string): unknown {
  try {
    Vault.open(dir, FAST).close();
  } catch (error) {
    return error;
  }
  return undefined;
}

describe('tampering and damage', () => {
  const scratch = useScratch();

  async function vaultWithHistory(count: number): Promise<{ dir: string; file: string; ids: number[] }> {
    const vault = await Vault.create(scratch.dir(), PASSPHRASE, FAST);
    const ids = Array.from({ length: count }, (_, n) => vault.addHistory(sampleEntry(n)));
    vault.putSecretKey('fp', randomBytes(32));
    vault.putSecretKey('fp', randomBytes(32));
    vault.close();
    return { dir: vault.dir, file: vault.file, ids };
  }

  async function unlocked(dir: string): Promise<Vault> {
    const vault = scratch.track(Vault.open(dir, FAST));
    await vault.unlock(PASSPHRASE);
    return vault;
  }

  it('a flipped byte in one row is reported for that row only; the others stay readable', async () => {
    const { dir, file, ids } = await vaultWithHistory(4);
    const target = ids[1] ?? 0;
    editRaw(file, (db) => {
      const row = db.prepare<[number], { input: Buffer }>('SELECT input FROM history WHERE id = ?').get(target);
      db.prepare('UPDATE history SET input = ? WHERE id = ?').run(flipByte(row?.input ?? Buffer.alloc(0), 20), target);
    });
    const vault = await unlocked(dir);
    const page = vault.listHistory({ limit: 100 });
    expect(page.unreadable).toEqual([{ id: target, code: 'row_tampered', message: expect.stringContaining('input') }]);
    expect(page.entries.map((e) => e.id).sort()).toEqual(ids.filter((id) => id !== target).sort());
    expect(page.total).toBe(4);
    expect(() => vault.historyEntry(target)).toThrow(expect.objectContaining({ code: 'row_tampered' }));
    expect(vault.currentSecretKey('fp')?.version).toBe(2);
  });

  it('swapping two rows\' ciphertexts makes both unreadable: the identity is bound', async () => {
    const { dir, file, ids } = await vaultWithHistory(3);
    const [a, b] = [ids[0] ?? 0, ids[2] ?? 0];
    editRaw(file, (db) => {
      const get = db.prepare<[number], { input: Buffer; result: Buffer }>('SELECT input, result FROM history WHERE id = ?');
      const rowA = get.get(a);
      const rowB = get.get(b);
      const put = db.prepare('UPDATE history SET input = ?, result = ? WHERE id = ?');
      put.run(rowB?.input, rowB?.result, a);
      put.run(rowA?.input, rowA?.result, b);
    });
    const vault = await unlocked(dir);
    const page = vault.listHistory();
    expect(page.unreadable.map((u) => u.id).sort()).toEqual([a, b].sort());
    expect(page.entries.map((e) => e.id)).toEqual([ids[1]]);
  });

  it('moving a row\'s input into its result, or relabelling its model, is detected', async () => {
    const { dir, file, ids } = await vaultWithHistory(3);
    editRaw(file, (db) => {
      db.prepare('UPDATE history SET result = input WHERE id = ?').run(ids[0]);
      db.prepare("UPDATE history SET model_id = 'other-model' WHERE id = ?").run(ids[1]);
    });
    const vault = await unlocked(dir);
    expect(vault.listHistory().unreadable.map((u) => u.id).sort()).toEqual([ids[0], ids[1]].sort());
  });

  it('a tampered secret key version is reported, never silently replaced by an older one', async () => {
    const { dir, file } = await vaultWithHistory(1);
    editRaw(file, (db) => {
      const row = db.prepare<[], { sealed: Buffer }>("SELECT sealed FROM secret_keys WHERE fingerprint = 'fp' AND version = 2").get();
      db.prepare("UPDATE secret_keys SET sealed = ? WHERE fingerprint = 'fp' AND version = 2").run(flipByte(row?.sealed ?? Buffer.alloc(0), 30));
    });
    const vault = await unlocked(dir);
    expect(() => vault.currentSecretKey('fp')).toThrow(expect.objectContaining({ code: 'row_tampered' }));
    expect(vault.secretKey('fp', 1)?.bytes).toHaveLength(32);
    expect(vault.listHistory().entries).toHaveLength(1);
  });

  it('a file cut to half is refused as not_a_vault, without a crash', async () => {
    const { dir, file } = await vaultWithHistory(200);
    const size = fs.statSync(file).size;
    expect(size).toBeGreaterThan(8192);
    fs.truncateSync(file, Math.floor(size / 2));
    const error = openError(dir);
    expect(isVaultError(error, 'not_a_vault')).toBe(true);
    expect((error as VaultError).details).toMatchObject({ reason: 'truncated' });
    expect((error as Error).message).toMatch(/shorter than its header says.*restore it from a backup/);
  });

  it('files cut to a few bytes, or empty, are refused as not_a_vault', async () => {
    for (const length of [0, 50, 100, 4096]) {
      const { dir, file } = await vaultWithHistory(1);
      fs.truncateSync(file, length);
      expect(isVaultError(openError(dir), 'not_a_vault'), `cut to ${length} bytes`).toBe(true);
    }
  });

  it('random bytes are refused as not_a_vault and left unchanged', () => {
    const dir = scratch.dir();
    const file = path.join(dir, 'vault.sqlite');
    fs.writeFileSync(file, randomBytes(10_000));
    const before = sha256File(file);
    expect(isVaultError(openError(dir), 'not_a_vault')).toBe(true);
    expect(sha256File(file)).toBe(before);
    expect(fs.readdirSync(dir)).toEqual(['vault.sqlite']);
  });

  it.each(['delete', 'wal'] as const)('another application\'s SQLite database (%s journal) is refused as not_a_vault and left unchanged', (journal) => {
    const dir = scratch.dir();
    const file = path.join(dir, 'vault.sqlite');
    editRaw(file, (db) => {
      db.pragma(`journal_mode = ${journal}`);
      db.exec("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes (body) VALUES ('hello');");
    });
    const before = sha256File(file);
    const error = openError(dir);
    expect(isVaultError(error, 'not_a_vault')).toBe(true);
    expect((error as Error).message).toMatch(/another application/);
    expect(sha256File(file)).toBe(before);
    expect(fs.readdirSync(dir)).toEqual(['vault.sqlite']);
  });

  it('an SQLite file with our id but without our schema is refused as not_a_vault', () => {
    const dir = scratch.dir();
    const file = path.join(dir, 'vault.sqlite');
    editRaw(file, (db) => {
      db.pragma('application_id = 1128486484');
      db.pragma('user_version = 1');
      db.exec('CREATE TABLE unrelated (x INTEGER)');
    });
    const error = openError(dir);
    expect(isVaultError(error, 'not_a_vault')).toBe(true);
    expect((error as VaultError).details).toMatchObject({ reason: 'incomplete' });
  });

  it('a tampered key check is reported after a right passphrase', async () => {
    const { dir, file } = await vaultWithHistory(1);
    editRaw(file, (db) => {
      const row = db.prepare<[], { key_check: Buffer }>('SELECT key_check FROM vault_meta').get();
      db.prepare('UPDATE vault_meta SET key_check = ?').run(flipByte(row?.key_check ?? Buffer.alloc(0), 13));
    });
    const vault = scratch.track(Vault.open(dir, FAST));
    await expect(vault.unlock(PASSPHRASE)).rejects.toSatisfy((error) => isVaultError(error, 'row_tampered'));
    expect(vault.isUnlocked).toBe(false);
  });
});
