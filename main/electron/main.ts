// The Electron shell: the only file of main/ that imports electron. Window and process hardening,
// the IPC wrapper, the bundled service as a utility process, the OS keychain (safeStorage), and
// the client core in a worker thread (key generation, encryption and decryption off this thread).
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { BrowserWindow, app, dialog, ipcMain, safeStorage, session, utilityProcess } from 'electron';
import type { UtilityProcess } from 'electron';
import { PROGRESS_CHANNEL } from '../../preload/contract.js';
import { CoreHost } from '../app/core-host.js';
import type { HostKeychain } from '../app/core-host.js';
import { defaultDataDir } from '../vault/index.js';
import { CONTENT_SECURITY_POLICY, WEB_PREFERENCES } from './hardening.js';
import { registerIpcHandlers, trustedRendererUrl } from './ipc.js';


const here = import.meta.dirname;
const rendererIndex = join(here, '..', 'renderer', 'index.html');
const rendererUrl = pathToFileURL(rendererIndex).href;

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
    env: { ...process.env, CIPHERCARE_IPC_REPORT: '1', CIPHERCARE_LOG_LEVEL: 'silent', CIPHERCARE_API_KEYS: '' },
    stdio: 'ignore',
  });
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

function createWindow(): BrowserWindow {
  const win = new BrowserWindow({
    width: 1200,
    height: 820,
    show: false,
    title: 'CipherCare',
    webPreferences: { preload: join(here, 'preload.cjs'), ...WEB_PREFERENCES },
  });
  win.webContents.on('will-navigate', (event) => event.preventDefault());
  win.webContents.on('will-redirect', (event) => event.preventDefault());
  win.webContents.setWindowOpenHandler(() => ({ action: 'deny' }));
  win.once('ready-to-show', () => win.show());
  void win.loadFile(rendererIndex);
  return win;
}

async function main(): Promise<void> {
  if (!app.requestSingleInstanceLock()) {
    app.quit();
    return;
  }
  app.enableSandbox();
  await app.whenReady();

  const ses = session.defaultSession;
  ses.setPermissionRequestHandler((_wc, _permission, callback) => callback(false));
  ses.setPermissionCheckHandler(() => false);
  ses.webRequest.onHeadersReceived((details, callback) => {
    callback({ responseHeaders: { ...details.responseHeaders, 'Content-Security-Policy': [CONTENT_SECURITY_POLICY] } });
  });
  app.on('web-contents-created', (_event, contents) => {
    contents.on('will-attach-webview', (event) => event.preventDefault());
  });

  const service = await startBundledService();
  const host = new CoreHost({ dataDir: defaultDataDir(), bundledService: { url: service.url, token: service.token }, ...(keychain() ? { keychain: keychain()! } : {}) });
  registerIpcHandlers(ipcMain, trustedRendererUrl(rendererUrl), host.api);

  let win = createWindow();
  host.api.predictions.onProgress((event) => {
    if (!win.isDestroyed()) win.webContents.send(PROGRESS_CHANNEL, event);
  });
  app.on('second-instance', () => {
    if (win.isMinimized()) win.restore();
    win.focus();
  });
  app.on('activate', () => {
    if (BrowserWindow.getAllWindows().length === 0) win = createWindow();
  });
  let quitting = false;
  app.on('before-quit', (event) => {
    if (quitting) return;
    event.preventDefault();
    quitting = true;
    void host
      .close()
      .catch(() => undefined)
      .finally(() => {
        service.child.postMessage({ type: 'stop' });
        setTimeout(() => service.child.kill(), 10_000).unref();
        app.exit(0);
      });
  });
  app.on('window-all-closed', () => {
    if (process.platform !== 'darwin') app.quit();
  });
}

main().catch((err: unknown) => {
  dialog.showErrorBox('CipherCare could not start', err instanceof Error ? err.message : String(err));
  app.exit(1);
});
