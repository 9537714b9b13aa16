import { execFileSync, fork } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterAll, describe, expect, it } from 'vitest';
import { HeContext, compile, free, loadSeal, parseModel } from '../../he-core/index.js';
import { ClientKeyPair, decryptVectors } from '../../he-core/client/index.js';

// The packaged processes are esbuild bundles; this proves they build and that the bundled service
// runs from its bundle (workers included) and reports over IPC as the app expects.
describe('app bundles', () => {
  // Inside the repository, so that the external packages (node-seal, better-sqlite3) resolve as in the app.
  mkdirSync('dist', { recursive: true });
  const out = mkdtempSync(join('dist', 'test-build-'));
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('build, and the bundled service starts from its bundle and answers health', async () => {
    execFileSync(process.execPath, ['--import', 'tsx', 'scripts/build-app.ts', '--no-renderer', '--out', out], { stdio: 'pipe' });
    for (const f of ['main.mjs', 'core-worker.js', 'service.mjs', 'worker.js', 'encrypt-worker.js', 'preload.cjs']) expect(existsSync(join(out, f)), f).toBe(true);
    // The core worker starts the encryption helper from the file beside it.
    expect(readFileSync(join(out, 'core-worker.js'), 'utf8')).toContain('./encrypt-worker.js');
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

  it('the bundled encryption helper loads a secret key and encrypts its share of a request', async () => {
    // Built by the test above (same describe, files run in order).
    const rt = await loadSeal();
    const plan = compile(rt.seal, parseModel(readFileSync('assets/models/mnist-cnn.json', 'utf8')), { mode: 'batch' });
    const ctx = HeContext.create(rt, plan.public.params);
    const keys = ClientKeyPair.generate(ctx);
    const worker = new Worker(join(process.cwd(), out, 'encrypt-worker.js'), { workerData: { params: ctx.params, secretKey: keys.exportSecretKey() } });
    try {
      const replies: unknown[] = [];
      const reply = (): Promise<unknown> => new Promise((resolve) => worker.once('message', resolve));
      replies.push(await reply());
      expect(replies[0]).toEqual({ ready: true });
      const vectors = [0.25, -0.5].map((v) => new Float64Array(ctx.slots).fill(v));
      const shared = new SharedArrayBuffer(2 * ctx.slots * 8);
      vectors.forEach((v, i) => new Float64Array(shared).set(v, i * ctx.slots));
      worker.postMessage({ job: 0, vectors: shared, slots: ctx.slots, count: 2, next: new SharedArrayBuffer(4), scale: plan.public.input.scale, compression: 'zstd' });
      const done = (await reply()) as { job: number; results: [number, Uint8Array][] };
      expect(done.results.map(([i]) => i)).toEqual([0, 1]);
      const cts = done.results.map(([, bytes]) => {
        const ct = new ctx.seal.Ciphertext();
        ct.loadFromArray(ctx.context, Uint8Array.from(bytes));
        return ct;
      });
      const decrypted = decryptVectors(keys, cts);
      free(...cts);
      // Tolerance 1e-4: CKKS encoding error at scale 2^26.
      decrypted.forEach((d, i) => expect(Math.max(...Array.from(d, (x) => Math.abs(x - vectors[i]![0]!)))).toBeLessThan(1e-4));
    } finally {
      await worker.terminate();
      keys.dispose();
      ctx.dispose();
    }
  }, 60_000);
});
