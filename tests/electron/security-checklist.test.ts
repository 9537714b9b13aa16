import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { APP_INDEX_URL, APP_SCHEME_PRIVILEGES } from '../../main/electron/app-protocol.js';
import { CONTENT_SECURITY_POLICY, WEB_PREFERENCES } from '../../main/electron/hardening.js';

// Electron's security checklist (the items that apply to this app), checked against the shell's
// window options, its CSP (header and the renderer's meta tag), its source, and the packaging fuses.
const shell = readFileSync('main/electron/main.ts', 'utf8');

function directives(csp: string): Map<string, string[]> {
  return new Map(
    csp
      .split(';')
      .map((d) => d.trim())
      .filter(Boolean)
      .map((d) => {
        const [name, ...values] = d.split(/\s+/);
        return [name!, values];
      }),
  );
}

describe('Electron security checklist', () => {
  it('2-4: no Node integration, context isolation, sandbox; 5-6: web security, no insecure content', () => {
    expect(WEB_PREFERENCES).toMatchObject({
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      contextIsolation: true,
      sandbox: true,
      webSecurity: true,
      allowRunningInsecureContent: false,
      experimentalFeatures: false,
      webviewTag: false,
    });
    expect(shell).toContain('...WEB_PREFERENCES');
    expect(shell).toContain('app.enableSandbox()');
  });

  it('7: a strict Content-Security-Policy, as header and in the page', () => {
    const csp = directives(CONTENT_SECURITY_POLICY);
    expect(csp.get('default-src')).toEqual(["'self'"]);
    expect(csp.get('script-src')).toEqual(["'self'"]);
    expect(csp.get('object-src')).toEqual(["'none'"]);
    expect(csp.get('connect-src')).toEqual(["'self'"]);
    for (const values of csp.values()) for (const v of values) expect(v).not.toMatch(/unsafe-inline|unsafe-eval|^\*$|^https?:$/);
    expect(shell).toContain("'Content-Security-Policy': [CONTENT_SECURITY_POLICY]");
    const page = readFileSync('renderer/index.html', 'utf8');
    const meta = /http-equiv="Content-Security-Policy"\s+content="([^"]+)"/.exec(page)?.[1];
    expect(meta, 'renderer/index.html has a CSP meta tag').toBeTruthy();
    expect(directives(meta!)).toEqual(csp);
  });

  it('11-14: permissions denied, navigation and new windows denied, no webview', () => {
    expect(shell).toMatch(/setPermissionRequestHandler\(\(_wc, _permission, callback\) => callback\(false\)\)/);
    expect(shell).toMatch(/setPermissionCheckHandler\(\(\) => false\)/);
    expect(shell).toMatch(/'will-navigate', \(event, url\) => \{\s*if \(!isAppPageUrl\(url\)\) event\.preventDefault\(\);/);
    expect(shell).toMatch(/'will-redirect', \(event, url\) => \{\s*if \(!isAppPageUrl\(url\)\) event\.preventDefault\(\);/);
    expect(shell).toMatch(/setWindowOpenHandler\(\(\) => \(\{ action: 'deny' \}\)\)/);
    expect(shell).toMatch(/'will-attach-webview', \(event\) => event\.preventDefault\(\)/);
    expect(shell).not.toMatch(/shell\.openExternal/);
  });

  it('17: every IPC message goes through the wrapper that checks the sender', () => {
    expect(shell).toMatch(/registerIpcHandlers\(ipcMain, isAppPageUrl, host\.api\b/);
    expect(shell).not.toMatch(/ipcMain\.(handle|on)\(/);
    const wrapper = readFileSync('main/electron/ipc.ts', 'utf8');
    expect(wrapper).toContain('isTrustedUrl(url)');
    expect(wrapper).toContain('checkArguments(channel, args)');
  });

  it('18: the page comes from the app scheme (standard, secure, not CORS-enabled), never from file://', () => {
    expect(shell).toContain('protocol.registerSchemesAsPrivileged([{ scheme: APP_SCHEME, privileges: APP_SCHEME_PRIVILEGES }])');
    expect(shell).toContain('protocol.handle(APP_SCHEME, createAppProtocolHandler(rendererDir))');
    expect(shell).toContain('loadURL(APP_INDEX_URL)');
    expect(shell).not.toMatch(/loadFile\(|file:\/\/|pathToFileURL/);
    expect(APP_SCHEME_PRIVILEGES).toEqual({ standard: true, secure: true });
    expect(APP_INDEX_URL).toBe('app://ciphercare/index.html');
  });

  it('fuses: RunAsNode, NODE_OPTIONS and inspect off; only load the app from an integrity-checked asar', () => {
    const yml = readFileSync('electron-builder.yml', 'utf8');
    const block = /electronFuses:\n((?: {2}\w+: \w+\n)+)/.exec(yml)?.[1] ?? '';
    const fuses = Object.fromEntries(block.trim().split('\n').map((l) => l.trim().split(': ') as [string, string]));
    expect(fuses).toMatchObject({
      runAsNode: 'false',
      enableNodeOptionsEnvironmentVariable: 'false',
      enableNodeCliInspectArguments: 'false',
      onlyLoadAppFromAsar: 'true',
      enableEmbeddedAsarIntegrityValidation: 'true',
      enableCookieEncryption: 'true',
    });
  });

  it('only the shell imports electron in main/', () => {
    const importers = readdirSync('main', { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.ts'))
      .filter((f) => /from 'electron'/.test(readFileSync(`main/${f}`, 'utf8')));
    expect(importers).toEqual(['electron/main.ts']);
  });
});
