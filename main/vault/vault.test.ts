import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { isVaultError } from './errors.js';
import { MemoryKeychain } from './fixtures/memory-keychain.js';
import { FAST, PASSPHRASE, sampleEntry, useScratch } from './fixtures/test-vault.js';
import { SCRYPT_FLOOR } from './kdf.js';
import { Vault } from './vault.js';

describe('Vault', () => {
  const scratch = useScratch();
  const create = async (passphrase = PASSPHRASE): Promise<Vault> => scratch.track(await Vault.create(scratch.dir(), passphrase, FAST));
  const reopen = (vault: Vault): Vault => {
    vault.close();
    return scratch.track(Vault.open(vault.dir, FAST));
  };

  it('creates one private SQLite file in WAL mode, and its private commit marker', async () => {
    const vault = await create();
    expect(fs.readdirSync(vault.dir).filter((name) => !name.endsWith('-wal') && !name.endsWith('-shm')).sort()).toEqual(['vault.sqlite', 'vault.sqlite-commits']);
    if (process.platform !== 'win32') expect(fs.statSync(vault.file).mode & 0o077).toBe(0);
    if (process.platform !== 'win32') expect(fs.statSync(`${vault.file}-commits`).mode & 0o077).toBe(0);
    vault.close();
    const raw = new Database(vault.file, { readonly: true });
    expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
    raw.close();
  });

  it('stores secret key versions; rotation adds a version, old ones stay readable', async () => {
    const vault = await create();
    const v1 = randomBytes(64);
    const v2 = randomBytes(64);
    expect(vault.currentSecretKey('fp-a')).toBeUndefined();
    expect(vault.putSecretKey('fp-a', v1)).toEqual({ version: 1 });
    expect(vault.putSecretKey('fp-a', v2)).toEqual({ version: 2 });
    expect(vault.putSecretKey('fp-b', v1)).toEqual({ version: 1 });
    const again = reopen(vault);
    await again.unlock(PASSPHRASE);
    expect(again.currentSecretKey('fp-a')).toMatchObject({ version: 2, bytes: v2 });
    expect(again.secretKey('fp-a', 1)).toMatchObject({ version: 1, bytes: v1 });
    expect(again.secretKey('fp-a', 3)).toBeUndefined();
    expect(again.secretKeyVersions('fp-a')).toEqual([1, 2]);
  });

  it('adds and pages history, newest first', async () => {
    const vault = await create();
    const ids = [0, 1, 2, 3, 4].map((n) => vault.addHistory(sampleEntry(n)));
    const first = vault.listHistory({ limit: 2 });
    expect(first.total).toBe(5);
    expect(first.unreadable).toEqual([]);
    expect(first.entries.map((e) => e.id)).toEqual([ids[4], ids[3]]);
    expect(first.entries[0]).toEqual({ id: ids[4], ...sampleEntry(4) });
    expect(vault.listHistory({ limit: 10, offset: 4 }).entries.map((e) => e.id)).toEqual([ids[0]]);
    expect(vault.historyEntry(ids[2] ?? 0)).toEqual({ id: ids[2], ...sampleEntry(2) });
    expect(() => vault.addHistory({ ...sampleEntry(9), input: undefined })).toThrow(expect.objectContaining({ code: 'invalid_argument' }));
    expect(() => vault.listHistory({ limit: 0 })).toThrow(expect.objectContaining({ code: 'invalid_argument' }));
  });

  it('keeps settings in the clear (readable while locked) and secrets sealed', async () => {
    const vault = await create();
    vault.setSetting('provider.url', 'https://example.org');
    vault.setSecret('provider.apiKey', 'sk-test-123');
    vault.lock();
    expect(vault.getSetting('provider.url')).toBe('https://example.org');
    expect(vault.listSettings()).toEqual({ 'provider.url': 'https://example.org' });
    expect(() => vault.getSecret('provider.apiKey')).toThrow(expect.objectContaining({ code: 'vault_locked' }));
    await vault.unlock(PASSPHRASE);
    expect(vault.getSecret('provider.apiKey')).toBe('sk-test-123');
    vault.deleteSecret('provider.apiKey');
    expect(vault.getSecret('provider.apiKey')).toBeUndefined();
  });

  it('refuses a wrong passphrase with wrong_passphrase and stays locked', async () => {
    const vault = reopen(await create());
    await expect(vault.unlock('not the passphrase')).rejects.toSatisfy((error) => isVaultError(error, 'wrong_passphrase'));
    expect(vault.isUnlocked).toBe(false);
    await vault.unlock(PASSPHRASE);
    expect(vault.isUnlocked).toBe(true);
  });

  it('lock zeroes the key and refuses secret access with vault_locked', async () => {
    const vault = await create();
    vault.putSecretKey('fp', randomBytes(16));
    vault.lock();
    for (const access of [() => vault.currentSecretKey('fp'), () => vault.putSecretKey('fp', randomBytes(4)), () => vault.addHistory(sampleEntry(1)), () => vault.listHistory(), () => vault.setSecret('k', 'v')]) {
      expect(access).toThrow(expect.objectContaining({ code: 'vault_locked' }));
    }
  });

  it('lock fills the data key buffer with zeros', async () => {
    const vault = await create();
    // The key is private; watch Buffer#fill to see the 32-byte key zeroed during lock().
    const keyBuffers: Buffer[] = [];
    const originalFill = Buffer.prototype.fill;
    Buffer.prototype.fill = function (this: Buffer, ...args: Parameters<Buffer['fill']>) {
      if (this.length === 32 && args[0] === 0) keyBuffers.push(this);
      return originalFill.apply(this, args);
    } as Buffer['fill'];
    try {
      vault.lock();
    } finally {
      Buffer.prototype.fill = originalFill;
    }
    expect(keyBuffers).toHaveLength(1);
    expect(keyBuffers[0]?.every((byte) => byte === 0)).toBe(true);
  });

  it('changes the passphrase by re-wrapping only: old fails, new works, rows byte-identical', async () => {
    const vault = await create();
    vault.putSecretKey('fp', randomBytes(32));
    vault.addHistory(sampleEntry(1));
    vault.setSecret('provider.apiKey', 'abc');
    vault.close();
    const rows = (): unknown[] => {
      const raw = new Database(vault.file, { readonly: true });
      try {
        return [raw.prepare('SELECT * FROM secret_keys').all(), raw.prepare('SELECT * FROM history').all(), raw.prepare('SELECT * FROM secret_settings').all(), raw.prepare('SELECT * FROM vault_meta').all()];
      } finally {
        raw.close();
      }
    };
    const before = rows();
    const reopened = scratch.track(Vault.open(vault.dir, FAST));
    await reopened.changePassphrase(PASSPHRASE, 'a new passphrase');
    await expect(reopened.changePassphrase(PASSPHRASE, 'x')).rejects.toSatisfy((error) => isVaultError(error, 'wrong_passphrase'));
    reopened.close();
    expect(rows()).toEqual(before);
    const after = scratch.track(Vault.open(vault.dir, FAST));
    await expect(after.unlock(PASSPHRASE)).rejects.toSatisfy((error) => isVaultError(error, 'wrong_passphrase'));
    await after.unlock('a new passphrase');
    expect(after.listHistory().entries).toHaveLength(1);
    expect(after.getSecret('provider.apiKey')).toBe('abc');
  });

  it('refuses scrypt parameters lowered in the file with kdf_downgrade', async () => {
    const vault = await create();
    vault.close();
    const raw = new Database(vault.file);
    raw.prepare("UPDATE key_wraps SET kdf_n = ? WHERE method = 'passphrase'").run(2 ** 10);
    raw.close();
    const reopened = scratch.track(Vault.open(vault.dir, FAST));
    await expect(reopened.unlock(PASSPHRASE)).rejects.toSatisfy((error) => isVaultError(error, 'kdf_downgrade') && /N=1024/.test(error.message));
  });

  it('never goes below the floor, even when asked to by options', async () => {
    await expect(Vault.create(scratch.dir(), PASSPHRASE, { kdf: { ...SCRYPT_FLOOR, N: SCRYPT_FLOOR.N / 2 } })).rejects.toSatisfy((error) => isVaultError(error, 'kdf_downgrade'));
  });

  it('unlocks with a secure keychain and refuses an insecure one', async () => {
    const keychain = new MemoryKeychain();
    const vault = await create();
    vault.putSecretKey('fp', Buffer.from('k1'));
    expect(() => vault.enableKeychain(new MemoryKeychain({ secure: false }))).toThrow(expect.objectContaining({ code: 'keychain_insecure' }));
    vault.enableKeychain(keychain);
    expect(vault.keychainBackend()).toBe('memory-test');
    const reopened = reopen(vault);
    expect(() => reopened.unlockWithKeychain(new MemoryKeychain({ secure: false }))).toThrow(expect.objectContaining({ code: 'keychain_insecure' }));
    expect(() => reopened.unlockWithKeychain(new MemoryKeychain({ name: 'other-backend' }))).toThrow(expect.objectContaining({ code: 'keychain_unavailable' }));
    // Same backend name, different machine secret: the blob does not open.
    expect(() => reopened.unlockWithKeychain(new MemoryKeychain())).toThrow(expect.objectContaining({ code: 'keychain_unavailable' }));
    reopened.unlockWithKeychain(keychain);
    expect(reopened.currentSecretKey('fp')?.bytes.toString()).toBe('k1');
    reopened.disableKeychain();
    reopened.lock();
    expect(() => reopened.unlockWithKeychain(keychain)).toThrow(expect.objectContaining({ code: 'keychain_unavailable' }));
  });

  it('reports vault_exists and vault_not_found', async () => {
    const vault = await create();
    await expect(Vault.create(vault.dir, PASSPHRASE, FAST)).rejects.toSatisfy((error) => isVaultError(error, 'vault_exists'));
    expect(() => Vault.open(path.join(scratch.dir(), 'nothing-here'))).toThrow(expect.objectContaining({ code: 'vault_not_found' }));
  });

  it('wipe removes the file and its -wal and -shm, and the object is unusable', async () => {
    const vault = await create();
    vault.addHistory(sampleEntry(1));
    expect(fs.existsSync(`${vault.file}-wal`)).toBe(true);
    vault.wipe();
    expect(fs.readdirSync(vault.dir)).toEqual([]);
    expect(() => vault.listHistory()).toThrow(expect.objectContaining({ code: 'vault_closed' }));
    expect(() => vault.getSetting('x')).toThrow(expect.objectContaining({ code: 'vault_closed' }));
    await expect(vault.unlock(PASSPHRASE)).rejects.toSatisfy((error) => isVaultError(error, 'vault_closed'));
    expect(() => Vault.open(vault.dir)).toThrow(expect.objectContaining({ code: 'vault_not_found' }));
  });

  it('writes no input, result, API key or secret key bytes in the clear (file and WAL)', async () => {
    const marker = `CLEARTEXT-MARKER-${randomBytes(8).toString('hex')}`;
    const apiKey = `sk-${randomBytes(12).toString('hex')}`;
    const secretKey = randomBytes(256);
    const vault = await create();
    vault.addHistory({ ...sampleEntry(1), input: { note: `${marker}-input` }, result: { label: `${marker}-result` } });
    vault.putSecretKey('fp', secretKey);
    vault.setSecret('provider.apiKey', apiKey);
    const needles = [Buffer.from(marker), Buffer.from(apiKey), secretKey.subarray(0, 32), secretKey.subarray(128, 160), Buffer.from(PASSPHRASE)];
    const haystacks = (): Buffer[] => ['', '-wal', '-shm'].filter((suffix) => fs.existsSync(vault.file + suffix)).map((suffix) => fs.readFileSync(vault.file + suffix));
    const whileOpen = haystacks();
    expect(whileOpen.length).toBeGreaterThanOrEqual(2);
    vault.close();
    for (const haystack of [...whileOpen, ...haystacks()]) {
      for (const needle of needles) expect(haystack.includes(needle)).toBe(false);
    }
    // The check itself can see a marker: the clear settings are there.
    const reopened = scratch.track(Vault.open(vault.dir, FAST));
    reopened.setSetting('visible', marker);
    reopened.close();
    expect(fs.readFileSync(vault.file).includes(Buffer.from(marker))).toBe(true);
  });
});
