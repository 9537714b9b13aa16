import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { APP_INDEX_URL, createAppProtocolHandler, isAppPageUrl, resolveAppPath } from '../../main/electron/app-protocol.js';
import { CONTENT_SECURITY_POLICY } from '../../main/electron/hardening.js';

// The handler the shell gives protocol.handle, with real files and web-standard Requests.
describe('the app:// protocol handler', () => {
  const base = mkdtempSync(join(tmpdir(), 'ciphercare-protocol-'));
  const root = join(base, 'renderer');
  mkdirSync(join(root, 'assets'), { recursive: true });
  writeFileSync(join(root, 'index.html'), '<!doctype html><title>x</title>');
  writeFileSync(join(root, 'assets', 'index-abc.js'), 'export {};');
  writeFileSync(join(root, 'assets', 'index-abc.css'), 'body{}');
  writeFileSync(join(root, 'favicon.svg'), '<svg/>');
  writeFileSync(join(root, 'notes.txt'), 'not part of the build');
  writeFileSync(join(base, 'secret.txt'), 'outside the renderer');
  mkdirSync(join(root, 'sub'));
  symlinkSync(join(base, 'secret.txt'), join(root, 'linked.js'));
  const handle = createAppProtocolHandler(root);
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  const get = (url: string, method = 'GET') => handle(new Request(url, { method }));

  it('serves the page and its assets with their types and the CSP', async () => {
    for (const [url, type, body] of [
      [APP_INDEX_URL, 'text/html; charset=utf-8', '<!doctype html><title>x</title>'],
      ['app://ciphercare/', 'text/html; charset=utf-8', '<!doctype html><title>x</title>'],
      ['app://ciphercare/assets/index-abc.js', 'text/javascript; charset=utf-8', 'export {};'],
      ['app://ciphercare/assets/index-abc.css?v=1#x', 'text/css; charset=utf-8', 'body{}'],
      ['app://ciphercare/favicon.svg', 'image/svg+xml', '<svg/>'],
    ] as const) {
      const res = await get(url);
      expect(res.status, url).toBe(200);
      expect(res.headers.get('content-type')).toBe(type);
      expect(res.headers.get('content-security-policy')).toBe(CONTENT_SECURITY_POLICY);
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(await res.text()).toBe(body);
    }
    const head = await get(APP_INDEX_URL, 'HEAD');
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
  });

  it('refuses paths out of the renderer, other hosts, unknown types and methods, each with the CSP', async () => {
    const cases: [string, string, number][] = [
      ['app://ciphercare/../secret.txt', 'GET', 404],
      // The URL parser already removes dot segments, encoded ones too.
      ['app://ciphercare/%2e%2e/secret.txt', 'GET', 404],
      ['app://ciphercare/linked.js', 'GET', 403],
      ['app://ciphercare/assets/%2e%2e%2f%2e%2e%2fsecret.txt', 'GET', 403],
      ['app://ciphercare/..%5csecret.txt', 'GET', 400],
      ['app://ciphercare/index.html%00.js', 'GET', 400],
      ['app://ciphercare/%E0%A4%A', 'GET', 400],
      ['app://other/index.html', 'GET', 404],
      ['app://ciphercare/notes.txt', 'GET', 404],
      ['app://ciphercare/missing.js', 'GET', 404],
      ['app://ciphercare/sub', 'GET', 404],
      ['app://ciphercare/index.html', 'POST', 405],
    ];
    for (const [url, method, status] of cases) {
      const res = await get(url, method);
      expect(res.status, `${method} ${url}`).toBe(status);
      expect(res.headers.get('content-security-policy')).toBe(CONTENT_SECURITY_POLICY);
      expect(await res.text()).not.toContain('outside the renderer');
    }
    expect(resolveAppPath(root, 'app://ciphercare/assets/%2e%2e%2f%2e%2e%2fsecret.txt')).toEqual({ status: 403, reason: 'outside the app' });
  });

  it('recognises only its own page as the trusted sender and navigation target', () => {
    for (const url of [APP_INDEX_URL, `${APP_INDEX_URL}#/history`, `${APP_INDEX_URL}?x=1`, 'app://ciphercare/']) expect(isAppPageUrl(url), url).toBe(true);
    for (const url of ['app://ciphercare/other.html', 'app://ciphercare.evil/index.html', 'app://evil/index.html', 'file:///index.html', 'https://ciphercare/index.html', 'not a url', '']) expect(isAppPageUrl(url), url).toBe(false);
  });
});
