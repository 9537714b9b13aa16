import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import type { VaultError } from './errors.js';
import { isVaultError } from './errors.js';
import { FAST, PASSPHRASE, sampleEntry, sha256File, useScratch } from './fixtures/test-vault.js';
import { MemoryKeychain } from './fixtures/memory-keychain.js';
import { keyRecordCheck } from './key-record.js';
import type { KeyRecordFields } from './key-record.js';
import { Vault } from './vault.js';

type WrapRow = KeyRecordFields & { record_check: Buffer };

/** Edits the key record as a forger who knows the format would: the checksum recomputed to match. */
function editKeyRecord(file: string, method: 'passphrase' | 'keychain', edit: (row: WrapRow) => WrapRow, options: { recomputeCheck: boolean }): void {
  editRaw(file, (db) => {
    const row = db.prepare<[string], WrapRow>('SELECT method, kdf, kdf_n, kdf_r, kdf_p, salt, wrapper_name, wrapped_key, record_check FROM key_wraps WHERE method = ?').get(method);
    if (row === undefined) throw new Error(`no ${method} record`);
    const edited = edit(row);
    const check = options.recomputeCheck ? keyRecordCheck(edited) : edited.record_check;
    db.prepare('UPDATE key_wraps SET kdf_n = ?, kdf_r = ?, kdf_p = ?, salt = ?, wrapped_key = ?, record_check = ? WHERE method = ?')
      .run(edited.kdf_n, edited.kdf_r, edited.kdf_p, edited.salt, edited.wrapped_key, check, method);
  });
}

async function unlockError(vault: Vault, passphrase = PASSPHRASE): Promise<{ error: unknown; ms: number }> {
  const started = performance.now();
  const error = await vault.unlock(passphrase).then(() => undefined, (e: unknown) => e);
  return { error, ms: performance.now() - started };
}

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

  it.each([
    ['r and p raised (the review found 35 s)', { r: 32, p: 16 }],
    ['N, r and p raised within memory but 8x the work', { N: 2 ** 18, r: 16, p: 2 }],
    ['p alone raised', { p: 64 }],
  ] as const)('scrypt parameters edited upward in the file (%s) are refused before any derivation, in well under a second', async (_label, raise) => {
    const { dir, file } = await vaultWithHistory(1);
    for (const recomputeCheck of [false, true]) {
      editKeyRecord(file, 'passphrase', (row) => ({ ...row, kdf_n: 'N' in raise ? raise.N : row.kdf_n, kdf_r: 'r' in raise ? raise.r : row.kdf_r, kdf_p: raise.p }), { recomputeCheck });
      const vault = scratch.track(Vault.open(dir, FAST));
      const { error, ms } = await unlockError(vault);
      expect(isVaultError(error, 'kdf_unsupported'), String(error)).toBe(true);
      expect((error as VaultError).details).toMatchObject({ reason: 'above_ceiling' });
      expect((error as Error).message).toMatch(/more memory or time than CipherCare ever writes.*Refusing them without trying/);
      expect(ms).toBeLessThan(250);
      expect(vault.isUnlocked).toBe(false);
      console.log(`kdf ceiling (${JSON.stringify(raise)}, checksum ${recomputeCheck ? 'recomputed' : 'stale'}): refused in ${ms.toFixed(1)} ms`);
      vault.close();
    }
  });

  it('a damaged passphrase key record is key_record_damaged, not wrong_passphrase; a wrong passphrase stays wrong_passphrase', async () => {
    const cases: Array<[string, (row: WrapRow) => WrapRow]> = [
      ['one bit flipped in the wrapped key', (row) => ({ ...row, wrapped_key: flipByte(row.wrapped_key, 20) })],
      ['wrapped key truncated', (row) => ({ ...row, wrapped_key: row.wrapped_key.subarray(0, 59) })],
      ['wrapped key extended', (row) => ({ ...row, wrapped_key: Buffer.concat([row.wrapped_key, Buffer.from([0])]) })],
      ['salt truncated', (row) => ({ ...row, salt: (row.salt ?? Buffer.alloc(16)).subarray(0, 8) })],
      ['salt bit flipped', (row) => ({ ...row, salt: flipByte(row.salt ?? Buffer.alloc(16), 3) })],
      ['checksum damaged', (row) => ({ ...row, record_check: flipByte(row.record_check, 0) })],
    ];
    for (const [label, edit] of cases) {
      const { dir, file } = await vaultWithHistory(1);
      const intact = scratch.track(Vault.open(dir, FAST));
      expect(isVaultError((await unlockError(intact, 'not the passphrase')).error, 'wrong_passphrase'), `${label}: intact record, wrong passphrase`).toBe(true);
      intact.close();
      editKeyRecord(file, 'passphrase', edit, { recomputeCheck: false });
      const vault = scratch.track(Vault.open(dir, FAST));
      for (const passphrase of [PASSPHRASE, 'not the passphrase']) {
        const { error, ms } = await unlockError(vault, passphrase);
        expect(isVaultError(error, 'key_record_damaged'), `${label}: ${String(error)}`).toBe(true);
        expect((error as Error).message).toMatch(/passphrase key record is damaged.*Your passphrase was not tried, so this is not a wrong passphrase/);
        // Decided before scrypt.
        expect(ms).toBeLessThan(50);
      }
      expect(vault.isUnlocked).toBe(false);
    }
  });

  it('a damaged keychain record is key_record_damaged; the passphrase still opens the vault', async () => {
    const { dir, file } = await vaultWithHistory(2);
    const keychain = new MemoryKeychain();
    const setup = scratch.track(Vault.open(dir, FAST));
    await setup.unlock(PASSPHRASE);
    setup.enableKeychain(keychain);
    setup.close();
    editKeyRecord(file, 'keychain', (row) => ({ ...row, wrapped_key: flipByte(row.wrapped_key, 5) }), { recomputeCheck: false });
    const vault = scratch.track(Vault.open(dir, FAST));
    expect(() => vault.unlockWithKeychain(keychain)).toThrow(expect.objectContaining({ code: 'key_record_damaged' }));
    await vault.unlock(PASSPHRASE);
    expect(vault.listHistory().entries).toHaveLength(2);
  });

  it('a forger who recomputes the checksum after flipping a bit gains nothing: the passphrase no longer opens it (wrong_passphrase), the key is never accepted', async () => {
    const { dir, file } = await vaultWithHistory(1);
    editKeyRecord(file, 'passphrase', (row) => ({ ...row, wrapped_key: flipByte(row.wrapped_key, 20) }), { recomputeCheck: true });
    const vault = scratch.track(Vault.open(dir, FAST));
    expect(isVaultError((await unlockError(vault)).error, 'wrong_passphrase')).toBe(true);
    expect(vault.isUnlocked).toBe(false);
  });
});
