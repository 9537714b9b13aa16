import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { Vault } from '../../main/vault/index.js';
import { PASSPHRASE, runCli, tempDir } from './run-cli.js';

// The vault commands need no evaluation service: init, history, passphrase change, keys export/import.
describe('ciphercare vault commands (as a process)', () => {
  const dir = tempDir('vault');
  const env = { CIPHERCARE_PASSPHRASE: PASSPHRASE };
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('init creates the vault once, and refuses a second time with a clear message', async () => {
    const first = await runCli(['--data-dir', dir, 'init'], { env });
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(existsSync(join(dir, 'vault.sqlite'))).toBe(true);
    const again = await runCli(['--data-dir', dir, '--json', 'init'], { env });
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^ciphercare: a vault already exists at .*vault\.sqlite/);
    expect(again.stderr.trim().split('\n')).toHaveLength(1);
    expect(again.stdout).toBe('');
  });

  it('a wrong passphrase is one clear error line and a non-zero exit; no passphrase at all is a usage error', async () => {
    const wrong = await runCli(['--data-dir', dir, 'history'], { env: { CIPHERCARE_PASSPHRASE: 'not the passphrase' } });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/^ciphercare: .*passphrase is wrong/i);
    expect(wrong.stderr).not.toMatch(/\n\s+at /);
    expect(wrong.stderr).not.toContain('not the passphrase');
    const none = await runCli(['--data-dir', dir, 'history']);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('CIPHERCARE_PASSPHRASE');
    const missing = await runCli(['--data-dir', join(dir, 'nowhere'), 'history'], { env });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('ciphercare init');
  });

  it('history --json of a new vault is empty; --passphrase-stdin reads the passphrase from stdin', async () => {
    const res = await runCli(['--data-dir', dir, '--json', '--passphrase-stdin', 'history'], { input: `${PASSPHRASE}\n` });
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout)).toEqual({ total: 0, entries: [], unreadable: [] });
  });

  it('keys export writes an encrypted backup that keys import restores', async () => {
    const backup = join(dir, 'backup.ccb');
    const res = await runCli(['--data-dir', dir, 'keys', 'export', '--out', backup], { env: { ...env, CIPHERCARE_BACKUP_PASSPHRASE: 'a backup passphrase' } });
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(statSync(backup).size).toBeGreaterThan(0);
    const refused = await runCli(['--data-dir', dir, 'keys', 'export', '--out', backup], { env: { ...env, CIPHERCARE_BACKUP_PASSPHRASE: 'a backup passphrase' } });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('--force');
    const restored = join(dir, 'restored');
    const imported = await runCli(['--data-dir', restored, '--json', 'keys', 'import', '--from', backup], { env: { CIPHERCARE_BACKUP_PASSPHRASE: 'a backup passphrase' } });
    expect(imported.code).toBe(0);
    expect(JSON.parse(imported.stdout)).toMatchObject({ restored: true, historyEntries: 0 });
  });

  it('passphrase change: the old passphrase fails afterwards and the new one works', async () => {
    const next = 'a brand new passphrase';
    const change = await runCli(['--data-dir', dir, 'passphrase', 'change'], { env: { ...env, CIPHERCARE_NEW_PASSPHRASE: next } });
    expect(change.stderr).toBe('');
    expect(change.code).toBe(0);
    const old = await runCli(['--data-dir', dir, 'history'], { env });
    expect(old.code).toBe(1);
    expect(old.stderr).toMatch(/passphrase is wrong/i);
    const works = await runCli(['--data-dir', dir, '--json', 'history'], { env: { CIPHERCARE_PASSPHRASE: next } });
    expect(works.code).toBe(0);
    // And back, with both secrets on stdin (one line each, in the order asked).
    const back = await runCli(['--data-dir', dir, '--passphrase-stdin', 'passphrase', 'change'], { input: `${next}\n${PASSPHRASE}\n` });
    expect(back.code).toBe(0);
    const short = await runCli(['--data-dir', dir, 'passphrase', 'change'], { env: { ...env, CIPHERCARE_NEW_PASSPHRASE: 'short' } });
    expect(short.code).toBe(2);
    expect(short.stderr).toContain('at least 8 characters');
  });

  it('usage errors exit with 2 and one line', async () => {
    const res = await runCli(['--data-dir', dir, 'predict', '--set', 'x=1']);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain("required option '--model <id>'");
    const bad = await runCli(['--provider', 'http://example.com', '--api-key', 'k', 'models']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('https://');
  });

  it('history reports a tampered row instead of dropping it, and lists the rest', async () => {
    const vault = Vault.open(dir);
    await vault.unlock(PASSPHRASE);
    const entry = { modelId: 'diabetes-progression', modelVersion: '1.0.0', provider: 'bundled', input: { age: 50 }, result: { values: [151.2] } };
    const first = vault.addHistory(entry);
    vault.addHistory({ ...entry, result: { values: [99.9] } });
    vault.close();
    const db = new Database(join(dir, 'vault.sqlite'));
    const row = db.prepare<[number], { result: Buffer }>('SELECT result FROM history WHERE id = ?').get(first)!;
    row.result[row.result.length - 1]! ^= 1;
    db.prepare('UPDATE history SET result = ? WHERE id = ?').run(row.result, first);
    db.close();
    const res = await runCli(['--data-dir', dir, '--json', 'history'], { env });
    expect(res.code).toBe(0);
    const page = JSON.parse(res.stdout) as { total: number; entries: { id: number; result: unknown }[]; unreadable: { id: number; code: string }[] };
    expect(page.total).toBe(2);
    expect(page.entries.map((e) => e.result)).toEqual([{ values: [99.9] }]);
    expect(page.unreadable).toEqual([expect.objectContaining({ id: first, code: 'row_tampered' })]);
    expect(res.stderr).toContain(`history entry ${first} cannot be read`);
    const text = await runCli(['--data-dir', dir, 'history'], { env });
    expect(text.stdout).toContain('UNREADABLE');
    expect(text.stdout).toContain('99.9');
  });

  it('lost changes (the vault file behind its commit marker): refused with a hint, opened with --accept-lost-changes and a warning', async () => {
    // As after a WAL lost in a crash, or an older copy of vault.sqlite put back: the marker knows of changes the file lacks.
    const marker = join(dir, 'vault.sqlite-commits');
    const state = JSON.parse(readFileSync(marker, 'utf8')) as { changes: number; historyId: number };
    writeFileSync(marker, JSON.stringify({ ...state, changes: state.changes + 3, historyId: state.historyId + 2 }));
    const refused = await runCli(['--data-dir', dir, 'history'], { env });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^ciphercare: The vault file .* is missing 3 committed changes .*Everything else in the vault is intact and readable.*run the command again with --accept-lost-changes\.$/m);
    const accepted = await runCli(['--data-dir', dir, '--accept-lost-changes', '--json', 'history'], { env });
    expect(accepted.code).toBe(0);
    expect(accepted.stderr).toMatch(/^ciphercare: warning: The vault file .* is missing 3 committed changes/);
    expect(JSON.parse(accepted.stdout)).toHaveProperty('entries');
    const after = await runCli(['--data-dir', dir, 'history'], { env });
    expect(after.code).toBe(0);
    expect(after.stderr).not.toContain('committed change');
  });

  it('--deadline takes a positive number of seconds', async () => {
    for (const value of ['0', '-3', 'soon']) {
      const res = await runCli(['--data-dir', dir, 'predict', '--model', 'breast-cancer', '--set', 'x=1', '--deadline', value], { env });
      expect(res.code, value).toBe(2);
      expect(res.stderr).toContain(`--deadline takes a positive number of seconds (got "${value}")`);
    }
  });
});
