// The CLI against a provider that evaluates tampered weights behind an honest, signed catalog
// (a proxy on 127.0.0.1, as in tests/client/dishonest-provider.test.ts): the known-answer checks
// are on by default for any URL, the prediction is refused with exit 1 and a message saying what
// was checked, what failed and what to do next, and history stays empty.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { referenceForward, weightsHash } from '../../he-core/index.js';
import type { DenseLayer } from '../../he-core/index.js';
import { startService } from '../../mock-service/service.js';
import type { RunningService } from '../../mock-service/service.js';
import { SETTING_CHECK_REQUESTS } from '../../main/flow/prediction-flow.js';
import { Vault } from '../../main/vault/index.js';
import { rewritingProxy } from '../client/tampering-proxy.js';
import { PASSPHRASE, bundledModel, features, runCli, tempDir } from './run-cli.js';

describe('ciphercare predict against a provider that tampers with the model', () => {
  const dir = tempDir('checks');
  const env = { CIPHERCARE_PASSPHRASE: PASSPHRASE };
  const token = randomBytes(32).toString('base64url');
  const bc = bundledModel('breast-cancer');
  const setArgs = features(bc).flatMap((f) => ['--set', `${f.name}=${f.typical}`]);
  let models: string;
  let honest: RunningService;
  let evil: RunningService;
  let proxy: { url: string; close(): Promise<void> };
  beforeAll(async () => {
    models = mkdtempSync(join(tmpdir(), 'ciphercare-evil-models-'));
    const tampered = structuredClone(bc);
    const layer = tampered.layers[0] as DenseLayer;
    layer.weights = layer.weights.map((row) => row.map((w) => -w));
    layer.bias = layer.bias.map((b) => -b);
    tampered.weightsSha256 = weightsHash(tampered.layers);
    tampered.testVectors = tampered.testVectors.map((tv) => ({ ...tv, expected: Array.from(referenceForward(tampered, tv.input)) }));
    writeFileSync(join(models, 'breast-cancer.json'), JSON.stringify(tampered));
    honest = await startService({ mode: 'bundled', workers: 1, token, logger: pino({ level: 'silent' }) });
    evil = await startService({ mode: 'bundled', workers: 1, token, modelsDir: models, logger: pino({ level: 'silent' }) });
    proxy = await rewritingProxy(evil, (_body, forward) => forward(), { catalogFrom: honest });
    expect((await runCli(['--data-dir', dir, 'init'], { env })).code).toBe(0);
  }, 120_000);
  afterAll(async () => {
    await proxy?.close();
    await evil?.close();
    await honest?.close();
    rmSync(dir, { recursive: true, force: true });
    rmSync(models, { recursive: true, force: true });
  });

  it('refuses the prediction: exit 1, what was checked, what failed, what to do; nothing in history', async () => {
    const global = ['--data-dir', dir, '--provider', proxy.url, '--api-key', token];
    const res = await runCli([...global, 'predict', '--model', 'breast-cancer', ...setArgs], { env });
    expect(res.code).toBe(1);
    expect(res.stdout).not.toMatch(/result/);
    expect(res.stderr).toMatch(/^ciphercare: the provider's answer was refused: 8 fresh check samples were hidden among the copies of your input in the same ciphertext for breast-cancer, and a check sample inside the answer did not match its known answer\./);
    expect(res.stderr).toMatch(/Use another provider, and report this one/);
    const batchCsv = join(dir, 'rows.csv');
    writeFileSync(batchCsv, `${features(bc).map((f) => f.name).join(',')}\n${features(bc).map((f) => f.typical).join(',')}\n`);
    const batch = await runCli([...global, 'batch', '--model', 'breast-cancer', '--csv', batchCsv, '--out', join(dir, 'out.csv')], { env });
    expect(batch.code).toBe(1);
    expect(batch.stderr).toMatch(/fresh check samples, whose answers this app computed itself, were mixed at random positions among your rows/);
    const history = await runCli([...global, '--json', 'history'], { env });
    expect((JSON.parse(history.stdout) as { total: number }).total).toBe(0);
  }, 120_000);

  it('--checks takes 1 to 16: anything else is a usage error (exit 2); --save-checks keeps N in the vault settings', async () => {
    const global = ['--data-dir', dir, '--provider', proxy.url, '--api-key', token];
    const res = await runCli([...global, 'predict', '--model', 'breast-cancer', '--checks', '0', ...setArgs], { env });
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/--checks takes a whole number from 1 to 16/);
    // Saved before the prediction (which this provider gets refused).
    const saved = await runCli([...global, 'predict', '--model', 'breast-cancer', '--checks', '3', '--save-checks', ...setArgs], { env });
    expect(saved.code).toBe(1);
    const vault = Vault.open(dir);
    try {
      expect(vault.getSetting(SETTING_CHECK_REQUESTS)).toBe('3');
    } finally {
      vault.close();
    }
  }, 120_000);
});
