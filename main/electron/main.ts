// The Electron shell: the only file of main/ that imports electron. Window and process hardening,
// the renderer served from the app's own scheme (app://ciphercare), the IPC wrapper, the bundled
// service as a utility process, the OS keychain (safeStorage), and the client core in a worker
// thread (key generation, encryption and decryption off this thread).
import { join } from 'node:path';
import { BrowserWindow, app, dialog, ipcMain, protocol, safeStorage, session, utilityProcess } from 'electron';
import type { UtilityProcess } from 'electron';
import { PROGRESS_CHANNEL } from '../../preload/contract.js';
import { CoreHost } from '../app/core-host.js';
import type { HostKeychain } from '../app/core-host.js';
import { defaultDataDir } from '../vault/index.js';
import { APP_INDEX_URL, APP_SCHEME, APP_SCHEME_PRIVILEGES, createAppProtocolHandler, isAppPageUrl } from './app-protocol.js';
import { CONTENT_SECURITY_POLICY, WEB_PREFERENCES } from './hardening.js';
import { registerIpcHandlers } from './ipc.js';
import { serviceEnvironment } from './service-environment.js';

const here = import.meta.dirname;
const rendererDir = join(here, '..', 'renderer');
/** A page that loaded but never called the bridge within this time did not start (its script failed). */
const PAGE_START_TIMEOUT_MS = 10_000;

// Before the app is ready, and only once: the renderer's scheme is standard and secure.
protocol.registerSchemesAsPrivileged([{ scheme: APP_SCHEME, privileges: APP_SCHEME_PRIVILEGES }]);

/** What must be stopped before the app exits. */
const running: { host: CoreHost | null; service: UtilityProcess | null } = { host: null, service: null };
let shuttingDown = false;

/** safeStorage as the vault's keychain, refused where its backend is not secure (Linux basic_text). */
function keychain(): HostKeychain | undefined {
  if (!safeStorage.isEncryptionAvailable()) return undefined;
  const backend = process.platform === 'linux' ? safeStorage.getSelectedStorageBackend() : 'os';
  if (backend === 'basic_text' || backend === 'unknown') return undefined;
  return {
    name: `safeStorage:${backend}`,
    encrypt: (data) => safeStorage.encryptString(Buffer.from(data).toString('base64')),
    decrypt: (blob) => Buffer.from(safeStorage.decryptString(Buffer.from(blob)), 'base64'),
  };
}

/** The bundled evaluation service in its own utility process (RunAsNode is fused off). */
function startBundledService(): Promise<{ url: string; token: string; child: UtilityProcess }> {
  const child = utilityProcess.fork(join(here, 'service.mjs'), ['--host', '127.0.0.1', '--port', '0', '--models', join(app.getAppPath(), 'assets', 'models')], {
    serviceName: 'CipherCare evaluation service',
    env: serviceEnvironment(process.env, process.platform),
    stdio: 'ignore',
  });
  running.service = child;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the bundled service did not start within 60 s')), 60_000);
    child.on('message', (m: { type?: string; url?: string; token?: string }) => {
      if (m.type === 'listening' && m.url && m.token) {
        clearTimeout(timer);
        resolve({ url: m.url, token: m.token, child });
      }
    });
    child.once('exit', (code) => reject(new Error(`the bundled service exited during start (code ${code})`)));
  });
}

/** Asks the service to stop and waits for it (killed after 10 s), so that no process outlives the app. */
function stopBundledService(child: UtilityProcess): Promise<void> {
  if (child.pid === undefined) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.kill();
      resolve();
    }, 10_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.postMessage({ type: 'stop' });
  });
}

/** Closes the core (the vault) and stops the service, then exits with `code`. */
function shutdown(code: number): void {
  if (shuttingDown) return;
  shuttingDown = true;
  const steps = async (): Promise<void> => {
    await running.host?.close().catch(() => undefined);
    if (running.service) await stopBundledService(running.service);
  };
  void steps().finally(() => app.exit(code));
}

/** A window that cannot show the app is reported, never left blank. */
function failToStart(reason: string): void {
  if (shuttingDown) return;
  dialog.showErrorBox('CipherCare could not open its window', `${reason}\n\nNothing was sent or stored. Reinstalling CipherCare may fix this.`);
  shutdown(1);
}

function createWindow(pageStarted: () => boolean): BrowserWindow {
  const win = new BrowserWindow({
    width: 1200,
    height: 820,
    show: false,
    title: 'CipherCare',
    webPreferences: { preload: join(here, 'preload.cjs'), ...WEB_PREFERENCES },
  });
  win.once('ready-to-show', () => win.show());
  win.webContents.on('did-fail-load', (_event, errorCode, errorDescription, validatedURL, isMainFrame) => {
    // -3 (ERR_ABORTED) is a load replaced by another one, not a failure.
    if (isMainFrame && errorCode !== -3) failToStart(`Its page did not load (${errorDescription || 'error'} ${errorCode}, ${validatedURL}).`);
  });
  win.webContents.on('did-finish-load', () => {
    setTimeout(() => {
      if (!pageStarted() && !win.isDestroyed()) failToStart(`Its page loaded but did not start within ${PAGE_START_TIMEOUT_MS / 1000} s (its script did not run).`);
    }, PAGE_START_TIMEOUT_MS);
  });
  win.webContents.on('render-process-gone', (_event, details) => {
    if (details.reason !== 'clean-exit') failToStart(`Its page stopped (${details.reason}).`);
  });
  win.loadURL(APP_INDEX_URL).catch((err: unknown) => failToStart(`Its page did not load (${err instanceof Error ? err.message : String(err)}).`));
  return win;
}

async function main(): Promise<void> {
  if (!app.requestSingleInstanceLock()) {
    app.quit();
    return;
  }
  app.enableSandbox();
  await app.whenReady();

  protocol.handle(APP_SCHEME, createAppProtocolHandler(rendererDir));
  const ses = session.defaultSession;
  ses.setPermissionRequestHandler((_wc, _permission, callback) => callback(false));
  ses.setPermissionCheckHandler(() => false);
  ses.webRequest.onHeadersReceived((details, callback) => {
    callback({ responseHeaders: { ...details.responseHeaders, 'Content-Security-Policy': [CONTENT_SECURITY_POLICY] } });
  });
  // Every web contents, not only the main window's: no webview, no navigation away from our own
  // page, no new window.
  app.on('web-contents-created', (_event, contents) => {
    contents.on('will-attach-webview', (event) => event.preventDefault());
    contents.on('will-navigate', (event, url) => {
      if (!isAppPageUrl(url)) event.preventDefault();
    });
    contents.on('will-redirect', (event, url) => {
      if (!isAppPageUrl(url)) event.preventDefault();
    });
    contents.setWindowOpenHandler(() => ({ action: 'deny' }));
  });
  let quitRequested = false;
  app.on('before-quit', (event) => {
    if (quitRequested) return;
    quitRequested = true;
    event.preventDefault();
    shutdown(0);
  });
  app.on('window-all-closed', () => {
    if (process.platform !== 'darwin') app.quit();
  });

  const service = await startBundledService();
  const kc = keychain();
  const host = new CoreHost({ dataDir: defaultDataDir(), bundledService: { url: service.url, token: service.token }, ...(kc ? { keychain: kc } : {}) });
  running.host = host;
  let started = false;
  registerIpcHandlers(ipcMain, isAppPageUrl, host.api, { onTrustedCall: () => (started = true) });

  let win = createWindow(() => started);
  host.api.predictions.onProgress((event) => {
    if (!win.isDestroyed()) win.webContents.send(PROGRESS_CHANNEL, event);
  });
  app.on('second-instance', () => {
    if (win.isMinimized()) win.restore();
    win.focus();
  });
  app.on('activate', () => {
    if (BrowserWindow.getAllWindows().length === 0) win = createWindow(() => started);
  });
}

main().catch((err: unknown) => {
  dialog.showErrorBox('CipherCare could not start', err instanceof Error ? err.message : String(err));
  shutdown(1);
});
