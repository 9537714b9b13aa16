import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import { request } from 'node:http';
import type { Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUNDLED_PUBLISHER, formatFingerprint, publisherFingerprint, rawPublicKey } from '../../he-core/index.js';
import { startService } from '../../mock-service/service.js';
import type { RunningService } from '../../mock-service/service.js';
import { catalogProxy, publish } from '../client/catalog-proxy.js';
import type { CatalogProxy } from '../client/catalog-proxy.js';
import { AppCore } from '../../main/app/app-core.js';
import { toBridgeError } from '../../main/app/bridge-errors.js';
import { SCRYPT_FLOOR } from '../../main/vault/index.js';
import { startBridgeServer } from './bridge/server.js';
import { PASSPHRASE, checkScreen, createVaultThroughUi, loadModelFile, navigate, onScreen, startApp, unexpectedConsoleErrors } from './harness.js';
import type { E2eApp } from './harness.js';
import { openModel, runAndWait } from './prediction-steps.js';

/** An HTTPS front (self-signed certificate) for a provider on plain http: the app's remote providers must use https. */
async function httpsFront(target: string, tls: { cert: Buffer; key: Buffer }): Promise<{ url: string; close(): Promise<void> }> {
  const upstream = new URL(target);
  const server: Server = createHttpsServer(tls, (req, res) => {
    const forward = request({ host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers: { ...req.headers, host: upstream.host } }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    forward.on('error', () => {
      res.writeHead(502);
      res.end();
    });
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return {
    url: `https://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Clicks a navigation button without waiting for its screen (which a refused catalog replaces by an error). */
async function clickNav(page: E2eApp['page'], name: string): Promise<void> {
  await page.locator(`nav [data-nav="${name}"]`).click();
}

const fingerprintOf = (key: KeyObject) => formatFingerprint(publisherFingerprint(Buffer.from(rawPublicKey(key)).toString('base64')));

// Issue 11's desktop pieces, through the UI against the real client core and a real service behind a
// tampering proxy on HTTPS (so that it is a provider the app did not launch: checks are on):
// the checks setting changes what the core sends and survives lock and unlock; a publisher pinned
// on first use is listed, refused when its key changes, and forgotten; refused cards and batch rows
// have their own titles; a vault file that lost committed changes opens only when asked to.
describe('checks, pins, refused cards, batch row titles and lost changes in the browser', () => {
  let dir: string;
  let tls: { cert: Buffer; key: Buffer };
  let service: RunningService;
  let proxy: CatalogProxy;
  let front: { url: string; close(): Promise<void> };
  let app: E2eApp;
  const keyA = generateKeyPairSync('ed25519').privateKey;
  const keyB = generateKeyPairSync('ed25519').privateKey;
  const predictions = () => proxy.requests.filter((r) => r.startsWith('POST') && r.endsWith('/predictions')).length;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ciphercare-e2e-trust-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
    tls = { cert: readFileSync(join(dir, 'cert.pem')), key: readFileSync(join(dir, 'key.pem')) };
    service = await startService({ mode: 'bundled', workers: 2, logger: pino({ level: 'silent' }) });
    proxy = await catalogProxy(service);
    proxy.aliases.set('acme-diabetes', 'diabetes-progression');
    // A model of a publisher CipherCare does not know, next to the bundled ones: pinned on first use.
    proxy.serve = (real) => [...real, publish(real, 'diabetes-progression', 'acme-diabetes', keyA)];
    front = await httpsFront(proxy.url, tls);
    app = await startApp({ remoteCa: tls.cert, dataDir: join(dir, 'vault'), keepDataDir: true });
    await onScreen(app.page, 'onboarding');
    await createVaultThroughUi(app.page);
    const { page } = app;
    await page.getByLabel(/Remote provider/).check();
    await page.getByLabel('Address (https://)').fill(front.url);
    await page.getByLabel('API key', { exact: true }).fill(service.token!);
    await page.getByTestId('provider-save').click();
    await onScreen(page, 'catalog', 90_000);
  }, 240_000);
  afterAll(async () => {
    await app?.close();
    await front?.close();
    await proxy?.close();
    await service?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the checks setting: 1 hidden test case sends 2 requests per digit; 3, saved and kept across lock and unlock, sends 4', async () => {
    const { page } = app;
    // The default: one check request with the real one.
    await openModel(page, 'mnist-cnn');
    await page.getByTestId('digit-sample').click();
    let before = predictions();
    await runAndWait(page);
    expect(await page.getByTestId('canary').getAttribute('data-canary')).toBe('passed');
    expect(predictions() - before).toBe(2);

    await navigate(page, 'security');
    const settings = page.getByTestId('check-settings');
    await settings.getByLabel(/^1 hidden test case/).waitFor();
    expect(await settings.getByLabel(/^1 hidden test case/).isChecked()).toBe(true);
    // The odds and costs shown are the core's computed ones (check-odds.ts: 1 − 1/(k+1)).
    expect(await page.getByTestId('checks-detail-1').textContent()).toContain('caught 50% of the time (1 in 2)');
    expect(await page.getByTestId('checks-detail-3').textContent()).toContain('caught 75% of the time (3 in 4)');
    expect(await page.getByTestId('checks-detail-3').textContent()).toContain('4 encrypted requests instead of 1');
    await settings.getByLabel(/^3 hidden test cases/).check();
    await checkScreen(page, 'security-checks');
    await page.getByTestId('checks-save').click();
    await page.getByTestId('security-message').filter({ hasText: 'Saved: 3 hidden test cases' }).waitFor();

    await page.getByTestId('lock').click();
    await onScreen(page, 'unlock');
    await page.getByLabel('Passphrase', { exact: true }).fill(PASSPHRASE);
    await page.getByTestId('unlock').click();
    await onScreen(page, 'catalog', 90_000);
    await navigate(page, 'security');
    await settings.getByLabel(/^3 hidden test cases/).waitFor();
    expect(await settings.getByLabel(/^3 hidden test cases/).isChecked()).toBe(true);
    expect(await settings.locator('label[for="checks-3"]').textContent()).toContain('(in use)');

    await openModel(page, 'mnist-cnn');
    await page.getByTestId('digit-sample').click();
    before = predictions();
    await runAndWait(page);
    expect(await page.getByTestId('canary').getAttribute('data-canary')).toBe('passed');
    expect(predictions() - before).toBe(4);
  }, 180_000);

  it('a publisher pinned on first use is listed; a card signed by another key is refused with its title; forgetting the pins lets the next use pin the new key', async () => {
    const { page } = app;
    await navigate(page, 'security');
    const trusted = page.getByTestId('trusted-publishers');
    await trusted.waitFor();
    const builtIn = (await trusted.locator('li[data-builtin="true"]').textContent()) ?? '';
    expect(builtIn).toContain(`${BUNDLED_PUBLISHER.name} built in`);
    expect(builtIn).toContain(`Fingerprint: ${formatFingerprint(publisherFingerprint(BUNDLED_PUBLISHER.publicKey))}`);
    // Each pinned publisher once: its fingerprint in groups of four, where it was first seen, its models.
    const pinned = page.locator(`[data-testid="pinned-models"] > li[data-publisher="${fingerprintOf(keyA)}"]`);
    expect(await pinned.textContent()).toContain(`Publisher fingerprint: ${fingerprintOf(keyA)}`);
    expect(await pinned.textContent()).toContain(`First seen at: ${front.url}`);
    expect(await pinned.locator('li[data-model]').evaluateAll((items) => items.map((i) => i.getAttribute('data-model')))).toEqual(['acme-diabetes']);
    expect(await page.locator(`[data-testid="pinned-providers"] li[data-provider="${front.url}"]`).textContent()).toContain(fingerprintOf(keyA));
    await checkScreen(page, 'security-pins');
    // Reflow: at 320 px the fingerprints wrap and the screen scrolls only vertically.
    await page.setViewportSize({ width: 320, height: 720 });
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(320);
    await page.setViewportSize({ width: 1200, height: 900 });

    // The provider now serves the model signed by another key: refused, and the app says what to do.
    proxy.serve = (real) => [...real, publish(real, 'diabetes-progression', 'acme-diabetes', keyB)];
    await navigate(page, 'provider');
    await page.getByTestId('provider-save').click();
    await clickNav(page, 'models');
    const error = page.getByTestId('error');
    await error.waitFor({ timeout: 60_000 });
    expect(await error.getAttribute('data-code')).toBe('card_publisher_changed');
    expect(await error.textContent()).toContain('A model is now signed by another publisher than the one you first used.');
    expect(await error.textContent()).toContain(fingerprintOf(keyB));
    // The message under the title: what failed, that nothing went out, what to do next.
    expect(await error.textContent()).toMatch(/Nothing was sent or stored\. Ask the publisher whether its key really changed/);
    await checkScreen(page, 'catalog-publisher-changed');

    await page.getByTestId('review-pins').click();
    await onScreen(page, 'security');
    await page.getByTestId('forget-pin-model-acme-diabetes').click();
    const confirm = page.getByTestId('forget-pin-confirm');
    expect(await confirm.textContent()).toContain('Forget the publisher of acme-diabetes?');
    await checkScreen(page, 'security-forget-pin-confirm');
    await page.getByTestId('forget-pin-yes').click();
    await page.getByTestId('no-pinned-models').waitFor();
    expect(await page.getByTestId('security-message').textContent()).toContain('Forgot the pinned publisher of the model acme-diabetes');
    await page.getByTestId(`forget-pin-provider-${front.url}`).click();
    await page.getByTestId('forget-pin-yes').click();
    await page.getByTestId('no-pinned-providers').waitFor();

    // The next use pins the key it sees now.
    await navigate(page, 'models');
    await page.getByTestId('predict-acme-diabetes').waitFor({ timeout: 60_000 });
    expect(await page.locator('[data-testid="trust-badge"][data-trust="pinned"]').first().textContent()).toContain(fingerprintOf(keyB));
    await navigate(page, 'security');
    expect(await page.locator(`[data-testid="pinned-models"] > li[data-publisher="${fingerprintOf(keyB)}"] li[data-model="acme-diabetes"]`).count()).toBe(1);
  }, 120_000);

  it('a card whose signature does not match: refused with a title saying what was checked', async () => {
    const { page } = app;
    proxy.serve = (real) => {
      const forged = publish(real, 'diabetes-progression', 'acme-diabetes', keyB);
      forged.card!.card.description = `${forged.card!.card.description} (edited after signing)`;
      forged.description = forged.card!.card.description;
      return [...real, forged];
    };
    await navigate(page, 'provider');
    await page.getByTestId('provider-save').click();
    await clickNav(page, 'models');
    const error = page.getByTestId('error');
    await error.waitFor({ timeout: 60_000 });
    expect(await error.getAttribute('data-code')).toBe('card_signature_invalid');
    expect(await error.textContent()).toContain('The signature on the provider’s model card does not match the card.');
    expect(await error.textContent()).toMatch(/Nothing was sent or stored\. Use another provider, or ask this one to fix its card\./);
    expect(await page.getByTestId('review-pins').count()).toBe(0);
    await checkScreen(page, 'catalog-card-signature-invalid');
    proxy.serve = (real) => [...real, publish(real, 'diabetes-progression', 'acme-diabetes', keyB)];
    await navigate(page, 'provider');
    await page.getByTestId('provider-save').click();
  }, 90_000);

  it('batch rows that were not scored are titled by their code', async () => {
    const { page } = app;
    await navigate(page, 'batch');
    await page.getByLabel('Model').selectOption('diabetes-progression');
    const model = loadModelFile('diabetes-progression');
    const features = model.input.kind === 'features' ? model.input.features : [];
    const typical = features.map((f) => String(f.typical));
    const outOfRange = [String(features[0]!.max + 100), ...typical.slice(1)];
    const notANumber = [...typical.slice(0, 2), 'heavy', ...typical.slice(3)];
    const csv = `${features.map((f) => f.name).join(',')}\n${typical.join(',')}\n${outOfRange.join(',')}\n${notANumber.join(',')}\n${typical.slice(0, 5).join(',')}\n`;
    await page.getByTestId('batch-file').setInputFiles({ name: 'rows.csv', mimeType: 'text/csv', buffer: Buffer.from(csv) });
    await page.getByTestId('batch-run').click();
    await page.getByTestId('batch-result').waitFor({ timeout: 90_000 });
    const problem = (row: number) => page.locator(`[data-testid="batch-table"] tr[data-row="${row}"] td:nth-child(4)`);
    expect(await page.locator('[data-testid="batch-table"] tr[data-row="1"]').getAttribute('data-ok')).toBe('true');
    expect(await problem(2).getAttribute('data-code')).toBe('input_out_of_range');
    expect(await problem(2).locator('strong').textContent()).toBe('A value is outside the allowed range.');
    expect(await problem(3).getAttribute('data-code')).toBe('input_invalid');
    expect(await problem(3).locator('strong').textContent()).toBe('A value is missing or is not a number.');
    // A row with too few cells is refused by the CSV reader; the app core gives it the same code.
    expect(await problem(4).getAttribute('data-code')).toBe('input_invalid');
    expect(await problem(4).locator('strong').textContent()).toBe('A value is missing or is not a number.');
    await checkScreen(page, 'batch-row-titles');
  }, 120_000);

  it('a vault file behind its commit marker: the unlock screen says what was lost; leaving it closed changes nothing; "Open anyway" opens it', async () => {
    // The app closes (core and its bridge); the same browser page then opens a new core on the same files.
    const dataDir = app.dataDir;
    await app.server.close();
    await app.core.close();
    const marker = join(dataDir, 'vault.sqlite-commits');
    // As after a write-ahead log lost in a crash: the marker knows of committed changes the file lacks.
    const state = JSON.parse(readFileSync(marker, 'utf8')) as { changes: number; historyId: number };
    writeFileSync(marker, JSON.stringify({ ...state, changes: state.changes + 3, historyId: state.historyId + 2 }));
    const core = new AppCore({ kdf: SCRYPT_FLOOR, remoteCa: tls.cert, dataDir });
    const server = await startBridgeServer({ api: core.api, toBridgeError });
    const browser = app.browser;
    app = {
      ...app,
      core,
      server,
      close: async () => {
        await browser.close().catch(() => undefined);
        await server.close();
        await core.close();
      },
    };
    await app.page.goto(server.url);
    const { page } = app;
    await onScreen(page, 'unlock');
    const field = page.getByLabel('Passphrase', { exact: true });
    await field.fill(PASSPHRASE);
    await page.getByTestId('unlock').click();
    const alert = page.getByRole('alert');
    await alert.waitFor();
    expect(await alert.getAttribute('data-code')).toBe('changes_lost');
    const text = (await alert.textContent()) ?? '';
    expect(text).toContain('Some recent changes are missing from the vault file.');
    expect(text).toContain(`The vault file is missing 3 saved changes (history entries ${state.historyId + 1} to ${state.historyId + 2}, and possibly settings).`);
    expect(text).toContain('Everything else in the vault is intact and readable.');
    expect(await field.getAttribute('aria-invalid')).toBe('false');
    expect((await app.core.api.vault.status()).unlocked).toBe(false);
    await checkScreen(page, 'unlock-changes-lost');

    await page.getByTestId('unlock-leave-closed').click();
    expect(await page.getByRole('alert').count()).toBe(0);
    expect(JSON.parse(readFileSync(marker, 'utf8'))).toMatchObject({ changes: state.changes + 3 });
    await field.fill(PASSPHRASE);
    await page.getByTestId('unlock').click();
    await page.getByTestId('unlock-accept-lost').click();
    await page.locator('nav [data-nav="models"]').waitFor();
    expect((await app.core.api.vault.status()).unlocked).toBe(true);
    // What was there before the loss is intact: the history of the two digit predictions.
    expect((await app.core.api.history.list({})).total).toBeGreaterThanOrEqual(2);
    expect(unexpectedConsoleErrors(app.consoleErrors)).toEqual([]);
  }, 120_000);
});
