import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSync } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CRASH_FINGERPRINT, crashEntry, crashKeyBytes } from './fixtures/crash-content.js';
import { FAST, PASSPHRASE, useScratch } from './fixtures/test-vault.js';
import type { VaultError } from './errors.js';
import { isVaultError } from './errors.js';
import { Vault } from './vault.js';
import { mulberry32 } from '../../he-core/testing/mulberry32.js';

/** How many times the writer is killed (issue 7 asks for 100; CIPHERCARE_CRASH_ITERATIONS overrides). */
const CRASH_ITERATIONS = Number(process.env.CIPHERCARE_CRASH_ITERATIONS ?? 100);
const SEED = 0x5eed_c0de;
/** Kill moments are spread over this window after the writer reports it is ready. */
const MAX_KILL_DELAY_MS = 150;
const READY_TIMEOUT_MS = 30_000;

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '..', '..');
const writerSource = path.join(here, 'fixtures', 'crash-writer.ts');
/**
 * The writer bundled once into plain JavaScript (packages stay external, resolved from the
 * repository's node_modules): a kill's process start then costs Node's start alone, not a
 * TypeScript transform each time (100 starts of `--import tsx` took most of this test's 2 min).
 */
const writerBundle = path.join(repoRoot, 'node_modules', '.cache', 'ciphercare-tests', `crash-writer-${process.pid}.mjs`);

interface Committed {
  history: Array<{ id: number; run: number; i: number }>;
  keys: Array<{ version: number; run: number; i: number }>;
}

/** Runs the writer, kills it `delayMs` after it is ready, and returns the writes it reported as committed. */
function runAndKill(dir: string, run: number, delayMs: number): Promise<{ committed: Committed; signal: NodeJS.Signals | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [writerBundle, dir, PASSPHRASE, String(run)], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    const committed: Committed = { history: [], keys: [] };
    let pending = '';
    let stderr = '';
    let killTimer: NodeJS.Timeout | undefined;
    const readyTimer = setTimeout(() => child.kill('SIGKILL'), READY_TIMEOUT_MS);
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.stdout.on('data', (chunk: string) => {
      pending += chunk;
      const lines = pending.split('\n');
      // Only complete lines count: a line cut by the kill was not fully reported.
      pending = lines.pop() ?? '';
      for (const line of lines) {
        const [kind, a, b] = line.split(' ');
        if (kind === 'ready') {
          clearTimeout(readyTimer);
          killTimer = setTimeout(() => child.kill('SIGKILL'), delayMs);
        } else if (kind === 'H') committed.history.push({ id: Number(a), run, i: Number(b) });
        else if (kind === 'K') committed.keys.push({ version: Number(a), run, i: Number(b) });
      }
    });
    child.on('error', reject);
    child.on('close', (_code, signal) => {
      clearTimeout(readyTimer);
      if (killTimer !== undefined) clearTimeout(killTimer);
      resolve({ committed, signal, stderr });
    });
  });
}

describe('crash safety', () => {
  const scratch = useScratch();
  beforeAll(() => {
    buildSync({ entryPoints: [writerSource], outfile: writerBundle, bundle: true, platform: 'node', format: 'esm', target: 'node24', packages: 'external', logLevel: 'silent' });
  });
  afterAll(() => fs.rmSync(writerBundle, { force: true }));

  it(`every write reported as committed survives SIGKILL at random moments (${CRASH_ITERATIONS} kills)`, async () => {
    const dir = scratch.dir();
    (await Vault.create(dir, PASSPHRASE, FAST)).close();
    const random = mulberry32(SEED);
    const all: Committed = { history: [], keys: [] };
    for (let run = 0; run < CRASH_ITERATIONS; run++) {
      const delay = Math.floor(random() * MAX_KILL_DELAY_MS);
      const { committed, signal, stderr } = await runAndKill(dir, run, delay);
      expect(signal, `run ${run} (kill after ${delay} ms) ended on its own: ${stderr}`).toBe('SIGKILL');
      all.history.push(...committed.history);
      all.keys.push(...committed.keys);

      const vault = Vault.open(dir, FAST);
      try {
        await vault.unlock(PASSPHRASE);
        for (const { id, run: r, i } of committed.history) {
          const expected = crashEntry(r, i);
          expect(vault.historyEntry(id), `run ${run}: history ${id}`).toEqual({ id, modelId: expected.modelId, modelVersion: expected.modelVersion, provider: expected.provider, createdAt: expected.createdAt, input: expected.input, result: expected.result });
        }
        for (const { version, run: r, i } of committed.keys) {
          expect(vault.secretKey(CRASH_FINGERPRINT, version)?.bytes, `run ${run}: key v${version}`).toEqual(crashKeyBytes(r, i));
        }
        const page = vault.listHistory({ limit: 1 });
        expect(page.unreadable).toEqual([]);
        expect(page.total).toBeGreaterThanOrEqual(all.history.length);
      } finally {
        vault.close();
      }
    }
    // Every row ever reported, checked once more at the end, with no unreadable row anywhere.
    const vault = scratch.track(Vault.open(dir, FAST));
    await vault.unlock(PASSPHRASE);
    let offset = 0;
    const seen = new Set<number>();
    for (;;) {
      const page = vault.listHistory({ limit: 1000, offset });
      expect(page.unreadable).toEqual([]);
      for (const entry of page.entries) seen.add(entry.id);
      offset += page.entries.length;
      if (page.entries.length === 0 || offset >= page.total) break;
    }
    for (const { id } of all.history) expect(seen.has(id)).toBe(true);
    expect(all.history.length, 'the kills came too early to test anything').toBeGreaterThan(CRASH_ITERATIONS);
    console.log(`crash test: ${CRASH_ITERATIONS} kills, ${all.history.length} history rows and ${all.keys.length} key versions reported committed, all readable`);
    // A process start per kill (the bundled writer: Node's start, no TypeScript transform).
  }, 400_000);

  it('a WAL deleted after a crash: the lost changes are reported (changes_lost), the rest stays readable, no id is given twice', async () => {
    const dir = scratch.dir();
    const file = path.join(dir, 'vault.sqlite');
    (await Vault.create(dir, PASSPHRASE, FAST)).close();
    const random = mulberry32(SEED + 1);
    const survivors: Committed['history'] = [];
    let detected = 0;
    for (let run = 0; run < 6 && detected < 3; run++) {
      const { committed, signal, stderr } = await runAndKill(dir, run, 40 + Math.floor(random() * MAX_KILL_DELAY_MS));
      expect(signal, stderr).toBe('SIGKILL');
      expect(fs.existsSync(`${file}-wal`)).toBe(true);
      // The crash left committed changes in the WAL; it is lost (deleted by a cleaner, a sync tool, a person).
      fs.rmSync(`${file}-wal`);

      let error: unknown;
      try {
        Vault.open(dir, FAST).close();
      } catch (caught) {
        error = caught;
      }
      const vault = scratch.track(Vault.open(dir, { ...FAST, acceptLostChanges: true }));
      await vault.unlock(PASSPHRASE);
      const present = committed.history.filter(({ id }) => vault.historyEntry(id) !== undefined);
      const lost = committed.history.filter(({ id }) => vault.historyEntry(id) === undefined);
      if (lost.length > 0 || committed.keys.some(({ version }) => vault.secretKey(CRASH_FINGERPRINT, version) === undefined)) {
        // Never silent: refused until accepted, and the error says what is missing.
        expect(isVaultError(error, 'changes_lost'), `run ${run}: ${lost.length} reported rows missing, but ${String(error)}`).toBe(true);
        detected++;
        const details = (error as VaultError).details as { missingChanges: number; historyIds: { from: number; to: number } | null };
        expect(details.missingChanges).toBeGreaterThan(0);
        if (lost.length > 0) {
          expect(details.historyIds?.from).toBe(Math.min(...lost.map((h) => h.id)));
          expect(details.historyIds?.to).toBeGreaterThanOrEqual(Math.max(...lost.map((h) => h.id)));
        }
        expect((error as Error).message).toMatch(/is missing \d+ committed changes? .*write-ahead log vault\.sqlite-wal, was deleted or lost.*Everything else in the vault is intact and readable/);
        expect(vault.lostChanges?.code).toBe('changes_lost');
      } else {
        expect(error, `run ${run}: nothing was lost, nothing may be reported`).toBeUndefined();
      }
      // Nothing else is lost: every row of earlier runs and every surviving row of this one reads back.
      for (const { id, run: r, i } of [...survivors, ...present]) expect(vault.historyEntry(id)?.input, `history ${id}`).toEqual(crashEntry(r, i).input);
      expect(vault.listHistory({ limit: 1 }).unreadable).toEqual([]);
      // The lost ids are never given again.
      const everGiven = Math.max(0, ...committed.history.map((h) => h.id), ...survivors.map((h) => h.id));
      const next = vault.addHistory(crashEntry(1000 + run, 0));
      expect(next).toBeGreaterThan(everGiven);
      survivors.push(...present, { id: next, run: 1000 + run, i: 0 });
      vault.close();
      // Accepted once: the next open is clean.
      expect(() => Vault.open(dir, FAST).close()).not.toThrow();
    }
    expect(detected, 'no kill left committed changes in the WAL').toBeGreaterThan(0);
    console.log(`lost WAL: ${detected} crash(es) whose deleted WAL held committed changes, each reported as changes_lost; ${survivors.length} surviving rows all readable`);
  });
});
