import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { isVaultError } from './errors.js';
import { FAST, PASSPHRASE, sampleEntry, useScratch } from './fixtures/test-vault.js';
import { Vault } from './vault.js';

const BACKUP_PASSPHRASE = 'backup passphrase, kept elsewhere';

describe('backup', () => {
  const scratch = useScratch();

  async function exported(): Promise<{ source: Vault; backup: string; key: Buffer }> {
    const source = scratch.track(await Vault.create(scratch.dir(), PASSPHRASE, FAST));
    const key = randomBytes(48);
    source.putSecretKey('fp', randomBytes(48));
    source.putSecretKey('fp', key);
    for (let n = 0; n < 5; n++) source.addHistory(sampleEntry(n));
    source.setSetting('provider.url', 'https://example.org');
    source.setSecret('provider.apiKey', 'sk-backup');
    const backup = path.join(scratch.dir(), 'vault.ccbackup');
    await source.exportBackup(backup, BACKUP_PASSPHRASE);
    return { source, backup, key };
  }

  async function importError(backup: string, passphrase = BACKUP_PASSPHRASE): Promise<unknown> {
    try {
      (await Vault.importBackup(backup, passphrase, scratch.dir(), FAST)).close();
    } catch (error) {
      return error;
    }
    return undefined;
  }

  it('round-trips: import elsewhere with the backup passphrase gives equal rows', async () => {
    const { source, backup, key } = await exported();
    const restored = scratch.track(await Vault.importBackup(backup, BACKUP_PASSPHRASE, scratch.dir(), FAST));
    expect(restored.isUnlocked).toBe(true);
    expect(restored.listHistory({ limit: 100 })).toEqual(source.listHistory({ limit: 100 }));
    expect(restored.currentSecretKey('fp')).toMatchObject({ version: 2, bytes: key });
    expect(restored.secretKey('fp', 1)?.bytes).toEqual(source.secretKey('fp', 1)?.bytes);
    expect(restored.listSettings()).toEqual({ 'provider.url': 'https://example.org' });
    expect(restored.getSecret('provider.apiKey')).toBe('sk-backup');
    // New rows continue after the restored ids, and the backup passphrase unlocks the copy.
    expect(restored.addHistory(sampleEntry(9))).toBeGreaterThan(5);
    restored.close();
    const reopened = scratch.track(Vault.open(restored.dir, FAST));
    await reopened.unlock(BACKUP_PASSPHRASE);
    expect(reopened.listHistory().total).toBe(6);
  });

  it('holds nothing in the clear', async () => {
    const { backup } = await exported();
    const bytes = fs.readFileSync(backup);
    for (const needle of ['sk-backup', 'heart-risk', 'cholesterol', 'example.org']) expect(bytes.includes(Buffer.from(needle))).toBe(false);
  });

  it('a wrong backup passphrase is wrong_passphrase, and no vault is left behind', async () => {
    const { backup } = await exported();
    const dir = scratch.dir();
    await expect(Vault.importBackup(backup, 'not it', dir, FAST)).rejects.toSatisfy((error) => isVaultError(error, 'wrong_passphrase'));
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('a modified body is backup_invalid', async () => {
    const { backup } = await exported();
    const bytes = fs.readFileSync(backup);
    bytes[bytes.length - 40] = (bytes[bytes.length - 40] ?? 0) ^ 0x10;
    fs.writeFileSync(backup, bytes);
    expect(isVaultError(await importError(backup), 'backup_invalid')).toBe(true);
  });

  it('a truncated backup or a foreign file is backup_invalid', async () => {
    const { backup } = await exported();
    const bytes = fs.readFileSync(backup);
    fs.writeFileSync(backup, bytes.subarray(0, bytes.length - 100));
    expect(isVaultError(await importError(backup), 'backup_invalid')).toBe(true);
    fs.writeFileSync(backup, bytes.subarray(0, 30));
    expect(isVaultError(await importError(backup), 'backup_invalid')).toBe(true);
    fs.writeFileSync(backup, randomBytes(5000));
    expect(isVaultError(await importError(backup), 'backup_invalid')).toBe(true);
    expect(isVaultError(await importError(path.join(scratch.dir(), 'missing')), 'backup_invalid')).toBe(true);
  });

  it('a header edited to lower N is kdf_downgrade; any other header edit fails authentication', async () => {
    const { backup } = await exported();
    const original = fs.readFileSync(backup);
    const text = original.toString('latin1');
    const lowered = Buffer.from(text.replace('"N":32768', '"N":16384'), 'latin1');
    expect(lowered.equals(original)).toBe(false);
    fs.writeFileSync(backup, lowered);
    expect(isVaultError(await importError(backup), 'kdf_downgrade')).toBe(true);
    fs.writeFileSync(backup, Buffer.from(text.replace(/"createdAt":"2/, '"createdAt":"1'), 'latin1'));
    expect(isVaultError(await importError(backup), 'wrong_passphrase')).toBe(true);
  });

  it('refuses to import over an existing vault, and to export while locked', async () => {
    const { source, backup } = await exported();
    await expect(Vault.importBackup(backup, BACKUP_PASSPHRASE, source.dir, FAST)).rejects.toSatisfy((error) => isVaultError(error, 'vault_exists'));
    source.lock();
    await expect(source.exportBackup(backup, BACKUP_PASSPHRASE)).rejects.toSatisfy((error) => isVaultError(error, 'vault_locked'));
  });

  it('carries a tampered row over as it is, still reported, not dropped', async () => {
    const { source } = await exported();
    const target = source.listHistory().entries[2]?.id ?? 0;
    source.close();
    const raw = new Database(source.file);
    raw.prepare("UPDATE history SET result = x'00112233445566778899aabbccddeeff00112233445566778899' WHERE id = ?").run(target);
    raw.close();
    const reopened = scratch.track(Vault.open(source.dir, FAST));
    await reopened.unlock(PASSPHRASE);
    const backup = path.join(scratch.dir(), 'again.ccbackup');
    await reopened.exportBackup(backup, BACKUP_PASSPHRASE);
    const restored = scratch.track(await Vault.importBackup(backup, BACKUP_PASSPHRASE, scratch.dir(), FAST));
    const page = restored.listHistory();
    expect(page.unreadable.map((u) => u.id)).toEqual([target]);
    expect(page.entries).toHaveLength(4);
  });
});
