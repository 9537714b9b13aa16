import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CRASH_FINGERPRINT, crashEntry, crashKeyBytes } from '../../main/vault/fixtures/crash-content.js';
import { FAST, PASSPHRASE, useScratch } from '../../main/vault/fixtures/test-vault.js';
import { Vault } from '../../main/vault/index.js';
import { repoRoot, seeded } from './helpers.js';

// The client process killed (SIGKILL) at random moments while it writes to the vault, 100 times,
// with the vault's own crash writer (main/vault/fixtures/crash-writer.ts): after every kill the
// vault opens and every write the writer reported as committed reads back byte for byte.
// Measured on the shared 2-core machine: 100 kills in 34 s alone, 40 s beside the other reliability
// tests (see docs/reliability.md).
const KILLS = 100;
const SEED = 0xc0ffee;
/** Kill moments spread over this window after the writer reports it is ready. */
const MAX_KILL_DELAY_MS = 150;
const READY_TIMEOUT_MS = 30_000;
const writerScript = path.join(repoRoot, 'main', 'vault', 'fixtures', 'crash-writer.ts');

interface Committed {
  history: { id: number; run: number; i: number }[];
  keys: { version: number; run: number; i: number }[];
}

/** Runs the writer, SIGKILLs it `delayMs` after it is ready; returns the writes it reported as committed. */
function runAndKill(dir: string, run: number, delayMs: number): Promise<{ committed: Committed; signal: NodeJS.Signals | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', writerScript, dir, PASSPHRASE, String(run)], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
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

describe('the client killed during vault writes', () => {
  const scratch = useScratch();

  it(`opens after each of ${KILLS} kills at random moments, with every committed row readable`, async () => {
    const started = performance.now();
    const dir = scratch.dir();
    (await Vault.create(dir, PASSPHRASE, FAST)).close();
    const random = seeded(SEED);
    const all: Committed = { history: [], keys: [] };
    for (let run = 0; run < KILLS; run++) {
      const delay = Math.floor(random() * MAX_KILL_DELAY_MS);
      const { committed, signal, stderr } = await runAndKill(dir, run, delay);
      expect(signal, `run ${run} (kill after ${delay} ms) ended on its own: ${stderr}`).toBe('SIGKILL');
      all.history.push(...committed.history);
      all.keys.push(...committed.keys);

      // The vault opens every time, and what this run committed is there, byte for byte.
      const vault = Vault.open(dir, FAST);
      try {
        await vault.unlock(PASSPHRASE);
        for (const { id, run: r, i } of committed.history) {
          const e = crashEntry(r, i);
          expect(vault.historyEntry(id), `run ${run}: history ${id}`).toEqual({ id, modelId: e.modelId, modelVersion: e.modelVersion, provider: e.provider, createdAt: e.createdAt, input: e.input, result: e.result });
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
    // Every row ever reported, once more at the end; no unreadable row anywhere.
    const vault = scratch.track(Vault.open(dir, FAST));
    await vault.unlock(PASSPHRASE);
    const seen = new Set<number>();
    for (let offset = 0; ; ) {
      const page = vault.listHistory({ limit: 1000, offset });
      expect(page.unreadable).toEqual([]);
      for (const entry of page.entries) seen.add(entry.id);
      offset += page.entries.length;
      if (page.entries.length === 0 || offset >= page.total) break;
    }
    for (const { id } of all.history) expect(seen.has(id)).toBe(true);
    for (const { version, run, i } of all.keys) expect(vault.secretKey(CRASH_FINGERPRINT, version)?.bytes).toEqual(crashKeyBytes(run, i));
    expect(all.history.length, 'the kills came too early to test anything').toBeGreaterThan(KILLS);
    console.log(`vault crash: ${KILLS} kills in ${((performance.now() - started) / 1000).toFixed(1)} s; ${all.history.length} history rows and ${all.keys.length} key versions reported committed, all readable; ${seen.size} rows in the vault`);
  }, 240_000);
});
