import { generateKeyPairSync } from 'node:crypto';
import { rmSync } from 'node:fs';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatFingerprint, publisherFingerprint, rawPublicKey } from '../../he-core/index.js';
import { startService } from '../../mock-service/service.js';
import type { RunningService } from '../../mock-service/service.js';
import { catalogProxy, publish } from '../client/catalog-proxy.js';
import type { CatalogProxy } from '../client/catalog-proxy.js';
import { PASSPHRASE, bundledModel, runCli, tempDir } from './run-cli.js';

// The trust status in the CLI, against a provider on 127.0.0.1 that serves a model of its own
// (signed by a throw-away publisher key, or unsigned) next to the bundled models.
describe('ciphercare models and predict show who vouches for a model', () => {
  const dir = tempDir('trust');
  const env = { CIPHERCARE_PASSPHRASE: PASSPHRASE };
  const key = generateKeyPairSync('ed25519').privateKey;
  const fingerprint = formatFingerprint(publisherFingerprint(Buffer.from(rawPublicKey(key)).toString('base64')));
  const diabetes = bundledModel('diabetes-progression');
  const set = diabetes.input.kind === 'features' ? diabetes.input.features.flatMap((f) => ['--set', `${f.name}=${f.typical}`]) : [];
  let service: RunningService;
  let proxy: CatalogProxy;
  let global: string[];

  beforeAll(async () => {
    service = await startService({ mode: 'bundled', workers: 1, logger: pino({ level: 'silent' }) });
    proxy = await catalogProxy(service);
    proxy.aliases.set('acme-diabetes', 'diabetes-progression');
    proxy.aliases.set('acme-unsigned', 'diabetes-progression');
    proxy.serve = (real) => [...real, publish(real, 'diabetes-progression', 'acme-diabetes', key), { ...publish(real, 'diabetes-progression', 'acme-unsigned', key), card: undefined }];
    global = ['--data-dir', dir, '--provider', proxy.url, '--api-key', service.token!];
    expect((await runCli(['--data-dir', dir, 'init'], { env })).code).toBe(0);
  }, 120_000);
  afterAll(async () => {
    await proxy?.close();
    await service?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('models lists each model with its publisher status', async () => {
    const res = await runCli([...global, 'models']);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/breast-cancer .*Verified publisher \(CipherCare bundled models\)/);
    expect(res.stdout).toContain(`acme-diabetes`);
    expect(res.stdout).toContain(`Publisher ${fingerprint}, not pinned yet (the first prediction pins it)`);
    expect(res.stdout).toMatch(/acme-unsigned .*Unverified: CipherCare cannot check this provider's answers/);
    const json = JSON.parse((await runCli([...global, '--json', 'models'])).stdout) as { id: string; trust: { status: string; publisher?: string } }[];
    expect(json.find((m) => m.id === 'mnist-cnn')!.trust).toEqual({ status: 'verified', publisher: 'ce8aa2f2dfe3a405da458e7ba491db29cc55954eda9974d54508dd12e34baf8e', publisherName: 'CipherCare bundled models' });
    expect(json.find((m) => m.id === 'acme-unsigned')!.trust).toEqual({ status: 'unverified' });
  }, 120_000);

  it('predict refuses an unverified model before sending anything, unless --allow-unverified', async () => {
    proxy.requests.length = 0;
    const refused = await runCli([...global, 'predict', '--model', 'acme-unsigned', ...set], { env });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe(
      "ciphercare: Unverified: CipherCare cannot check this provider's answers for acme-unsigned: the provider serves no signed card for it, so no known answer can be checked. Nothing was sent. Pass --allow-unverified to send your data anyway.\n",
    );
    // The catalog was read; no key upload, no prediction.
    expect(proxy.requests).toEqual(['GET /v1/models']);
    const history = JSON.parse((await runCli([...global, '--json', 'history'], { env })).stdout) as { total: number };
    expect(history.total).toBe(0);

    const allowed = await runCli([...global, '--json', 'predict', '--model', 'acme-unsigned', '--allow-unverified', ...set], { env });
    expect(allowed.stderr).toContain("ciphercare: warning: Unverified: CipherCare cannot check this provider's answers for acme-unsigned (no signed card); sending anyway, as --allow-unverified asks");
    expect(allowed.code).toBe(0);
    expect((JSON.parse(allowed.stdout) as { trust: unknown }).trust).toEqual({ status: 'unverified' });
    expect(proxy.requests.filter((r) => r.endsWith('/predictions'))).toHaveLength(1);
  }, 120_000);

  it('predict pins a new publisher on first use and says so; then shows it as pinned', async () => {
    // A model not seen yet (every catalog load pins what it holds; the note is for the model predicted).
    proxy.aliases.set('acme-new', 'diabetes-progression');
    proxy.serve = (real) => [...real, publish(real, 'diabetes-progression', 'acme-new', key)];
    const first = await runCli([...global, 'predict', '--model', 'acme-new', ...set], { env });
    expect(first.stderr).toContain(`acme-new: publisher pinned on first use (fingerprint ${fingerprint}); a card signed by another key will be refused`);
    expect(first.code).toBe(0);
    expect(first.stdout).toContain(`  trust    Publisher pinned on first use (fingerprint ${fingerprint})`);
    const again = await runCli([...global, '--json', 'predict', '--model', 'acme-new', ...set], { env });
    expect(again.code).toBe(0);
    expect(again.stderr).not.toContain('pinned on first use');
    expect((JSON.parse(again.stdout) as { trust: unknown }).trust).toEqual({ status: 'pinned', publisher: fingerprint.replace(/ /g, '') });

    // The same model signed by another key: refused, exit 1, nothing stored.
    const other = generateKeyPairSync('ed25519').privateKey;
    proxy.serve = (real) => [...real, publish(real, 'diabetes-progression', 'acme-new', other)];
    const refused = await runCli([...global, 'predict', '--model', 'acme-new', ...set], { env });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(new RegExp(`^ciphercare: the card of acme-new is now signed by publisher [0-9a-f ]+, but acme-new was pinned to publisher ${fingerprint} on first use\\.`));
    const history = JSON.parse((await runCli([...global, '--json', 'history'], { env })).stdout) as { total: number };
    expect(history.total).toBe(3);
    expect(refused.stderr).toContain('`ciphercare trust forget <model-id|provider-url>` lets the next use pin it.');

    // The person checked the new fingerprint with the publisher: forget the pin, and the next use pins the new key.
    const list = JSON.parse((await runCli([...global, '--json', 'trust', 'list'], { env })).stdout) as { models: Record<string, string> };
    expect(list.models['acme-new']).toBe(fingerprint.replace(/ /g, ''));
    const forgot = await runCli([...global, 'trust', 'forget', 'acme-new'], { env });
    expect(forgot.code).toBe(0);
    expect(forgot.stdout).toBe('forgot the pins of acme-new: model acme-new, 1 card; the next use pins the publisher it sees then\n');
    // The provider itself is still pinned to the first key: forget it too.
    expect((await runCli([...global, 'predict', '--model', 'acme-new', ...set], { env })).stderr).toMatch(/but the provider was pinned to/);
    expect((await runCli([...global, 'trust', 'forget', proxy.url], { env })).code).toBe(0);
    const repinned = await runCli([...global, 'predict', '--model', 'acme-new', ...set], { env });
    expect(repinned.code).toBe(0);
    expect(repinned.stderr).toContain('acme-new: publisher pinned on first use');
    expect((await runCli([...global, 'trust', 'forget', 'nothing-here'], { env })).stderr).toBe('ciphercare: no pin for "nothing-here": `ciphercare trust list` shows the pinned model ids and providers\n');
  }, 120_000);
});
