import { rmSync } from 'node:fs';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService } from '../../mock-service/service.js';
import type { RunningService } from '../../mock-service/service.js';
import { slowDripProxy } from '../client/slow-drip-proxy.js';
import type { DripProxy } from '../client/slow-drip-proxy.js';
import { PASSPHRASE, bundledModel, features, runCli, tempDir } from './run-cli.js';

// `predict --deadline` as a process, against a provider that sends its answer one byte per second.
describe('ciphercare predict --deadline (as a process)', () => {
  let service: RunningService;
  let proxy: DripProxy;
  const dir = tempDir('deadline');
  const env = { CIPHERCARE_PASSPHRASE: PASSPHRASE };
  const bc = bundledModel('breast-cancer');
  const setArgs = features(bc).flatMap((f) => ['--set', `${f.name}=${f.typical}`]);

  beforeAll(async () => {
    service = await startService({ mode: 'bundled', workers: 1, logger: pino({ level: 'silent' }) });
    proxy = await slowDripProxy(service);
    const init = await runCli(['--data-dir', dir, 'init'], { env });
    expect(init.code).toBe(0);
  }, 60_000);
  afterAll(async () => {
    await proxy?.close();
    await service?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a dripping provider: exit 1, one line with the deadline and what to do, nothing in the history', async () => {
    const started = performance.now();
    const res = await runCli(['--data-dir', dir, '--provider', proxy.url, '--api-key', service.token!, 'predict', '--model', 'breast-cancer', ...setArgs, '--deadline', '2'], { env, timeoutMs: 60_000 });
    const ms = performance.now() - started;
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/^ciphercare: the provider at http:\/\/127\.0\.0\.1:\d+ did not complete the encrypted prediction within its deadline of 2\.0 s \(waited 2\.\d s\); the request was aborted and nothing was stored\..*--deadline SECONDS/m);
    expect(res.stdout).not.toMatch(/saved/);
    // The answer is thousands of bytes at one a second: only the deadline ends this run in seconds.
    expect(ms).toBeLessThan(30_000);
    expect(proxy.dripped.length).toBeGreaterThan(0);
    expect(proxy.dripped.every((d) => d.bytesSent < 5)).toBe(true);
    const history = await runCli(['--data-dir', dir, '--json', 'history'], { env });
    expect(history.code).toBe(0);
    expect((JSON.parse(history.stdout) as { total: number }).total).toBe(0);
  }, 90_000);
});
