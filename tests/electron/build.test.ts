import { execFileSync, fork } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

// The packaged processes are esbuild bundles; this proves they build and that the bundled service
// runs from its bundle (workers included) and reports over IPC as the app expects.
describe('app bundles', () => {
  // Inside the repository, so that the external packages (node-seal, better-sqlite3) resolve as in the app.
  mkdirSync('dist', { recursive: true });
  const out = mkdtempSync(join('dist', 'test-build-'));
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('build, and the bundled service starts from its bundle and answers health', async () => {
    execFileSync(process.execPath, ['--import', 'tsx', 'scripts/build-app.ts', '--no-renderer', '--out', out], { stdio: 'pipe' });
    for (const f of ['main.mjs', 'core-worker.js', 'service.mjs', 'worker.js', 'preload.cjs']) expect(existsSync(join(out, f)), f).toBe(true);
    // The sandboxed preload is one CommonJS file that requires nothing but electron.
    const preload = readFileSync(join(out, 'preload.cjs'), 'utf8');
    expect([...preload.matchAll(/require\("([^"]+)"\)/g)].map((m) => m[1])).toEqual(['electron']);
    const child = fork(join(out, 'service.mjs'), ['--host', '127.0.0.1', '--port', '0', '--workers', '1', '--models', 'assets/models'], {
      env: { ...process.env, CIPHERCARE_IPC_REPORT: '1', CIPHERCARE_LOG_LEVEL: 'silent' },
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    try {
      const report = await new Promise<{ url: string; token: string }>((resolve, reject) => {
        child.on('message', (m) => resolve(m as { url: string; token: string }));
        child.once('exit', (code) => reject(new Error(`service exited ${code}`)));
      });
      const health = (await (await fetch(`${report.url}/v1/health`)).json()) as { status: string };
      expect(health.status).toBe('ok');
      expect(report.token.length).toBeGreaterThan(30);
    } finally {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.send({ type: 'stop' });
        await exited;
      }
    }
  }, 120_000);
});
