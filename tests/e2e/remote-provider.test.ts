import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService } from '../../mock-service/service.js';
import type { RunningService } from '../../mock-service/service.js';
import { checkScreen, createVaultThroughUi, navigate, onScreen, startApp, unexpectedConsoleErrors } from './harness.js';
import type { E2eApp } from './harness.js';

const RIGHT_KEY = 'right-key-0123456789abcdef';
const WRONG_KEY = 'wrong-key-0123456789abcdef';

// A remote provider over HTTPS (self-signed certificate, trusted through AppCore's `remoteCa`):
// a wrong API key gives a clear "unauthorized" in the connection test and in the catalog; the
// right key works and the canary check passes. A client that does not trust the certificate
// gets a clear certificate error.
describe('remote provider in the browser', () => {
  let dir: string;
  let cert: Buffer;
  let service: RunningService;
  let app: E2eApp;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ciphercare-e2e-tls-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
    cert = readFileSync(join(dir, 'cert.pem'));
    service = await startService({ mode: 'remote', host: '127.0.0.1', port: 0, apiKeys: [RIGHT_KEY], tls: { cert, key: readFileSync(join(dir, 'key.pem')) }, workers: 1, logger: pino({ level: 'silent' }) });
    app = await startApp({ remoteCa: cert });
    await onScreen(app.page, 'onboarding');
    await createVaultThroughUi(app.page);
  });
  afterAll(async () => {
    await app?.close();
    await service?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses a plain http:// address in the form', async () => {
    const { page } = app;
    await page.getByLabel(/Remote provider/).check();
    await page.getByLabel('Address (https://)').fill(service.url.replace('https:', 'http:'));
    await page.getByTestId('provider-test').click();
    await page.getByText(/must use https:\/\//).waitFor();
    expect(await page.getByLabel('Address (https://)').getAttribute('aria-invalid')).toBe('true');
  });

  it('no API key: the connection test says, in the app’s words, where to enter it', async () => {
    const { page } = app;
    await page.getByLabel('Address (https://)').fill(service.url);
    await page.getByLabel('API key', { exact: true }).fill('');
    await page.getByTestId('provider-test').click();
    const result = page.locator('[data-testid="provider-test-result"] .notice');
    await result.waitFor({ timeout: 30_000 });
    expect(await result.getAttribute('data-code')).toBe('api_key_missing');
    expect(await result.textContent()).toMatch(/The connection test failed\. Enter the API key that your provider gave you in the “API key” field/);
    await checkScreen(page, 'provider-missing-key');
  });

  it('a wrong API key: the connection test and the catalog say "unauthorized" clearly', async () => {
    const { page } = app;
    await page.getByLabel('Address (https://)').fill(service.url);
    await page.getByLabel('API key', { exact: true }).fill(WRONG_KEY);
    await page.getByTestId('provider-test').click();
    const result = page.locator('[data-testid="provider-test-result"] .notice');
    await result.waitFor({ timeout: 30_000 });
    expect(await result.getAttribute('data-code')).toBe('unauthorized');
    expect(await result.textContent()).toMatch(/The connection test failed\..*refused the API key/);
    await checkScreen(page, 'provider-wrong-key');

    // Saved anyway: the catalog cannot load, and says why.
    await page.getByTestId('provider-save').click();
    const error = page.getByTestId('error');
    await error.waitFor({ timeout: 30_000 });
    expect(await error.getAttribute('data-code')).toBe('unauthorized');
    expect(await page.getByRole('heading', { name: 'The models could not be loaded' }).count()).toBe(1);
    await checkScreen(page, 'catalog-unauthorized');
  });

  it('the right API key connects; a prediction passes the canary check', async () => {
    const { page } = app;
    await navigate(page, 'provider');
    expect(await page.getByTestId('provider-current').textContent()).toContain('API key saved');
    await page.getByLabel('API key', { exact: true }).fill(RIGHT_KEY);
    await page.getByTestId('provider-test').click();
    const result = page.locator('[data-testid="provider-test-result"] .notice');
    await result.waitFor({ timeout: 30_000 });
    expect(await result.textContent()).toContain('Connected.');
    await checkScreen(page, 'provider-connected');
    await page.getByTestId('provider-save').click();
    await navigate(page, 'models');
    await page.getByTestId('predict-breast-cancer').click();
    await page.getByTestId('fill-sample').click();
    await page.getByTestId('run-prediction').click();
    await page.getByTestId('result').waitFor({ timeout: 90_000 });
    expect(await page.getByTestId('canary').getAttribute('data-canary')).toBe('passed');
    await checkScreen(page, 'result-remote-canary');
  });

  it('a provider whose certificate is not trusted: a clear certificate error', async () => {
    const untrusting = await startApp();
    try {
      const { page } = untrusting;
      await onScreen(page, 'onboarding');
      await createVaultThroughUi(page);
      await page.getByLabel(/Remote provider/).check();
      await page.getByLabel('Address (https://)').fill(service.url);
      await page.getByLabel('API key', { exact: true }).fill(RIGHT_KEY);
      await page.getByTestId('provider-test').click();
      const result = page.locator('[data-testid="provider-test-result"] .notice');
      await result.waitFor({ timeout: 30_000 });
      expect(await result.getAttribute('data-code')).toBe('tls');
      expect(await result.textContent()).toMatch(/certificate/i);
      await checkScreen(page, 'provider-untrusted-certificate');
      expect(unexpectedConsoleErrors(untrusting.consoleErrors)).toEqual([]);
    } finally {
      await untrusting.close();
    }
    expect(unexpectedConsoleErrors(app.consoleErrors)).toEqual([]);
  });
});
