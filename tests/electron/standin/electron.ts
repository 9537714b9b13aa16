/**
 * A stand-in for the `electron` module in the app's main process, for the shell smoke test (the
 * Electron binary cannot be downloaded here). It follows Electron's documented behaviour where
 * the app depends on it, and throws where Electron would refuse:
 * - app: ready after the main module's first turn; `quit()` emits before-quit (preventable),
 *   closes the windows and exits; `exit()` exits at once; renderers and utility processes do not
 *   outlive the main process.
 * - protocol: `registerSchemesAsPrivileged` only before ready, `handle` only after; a page of a
 *   custom scheme needs a handler, and this stand-in serves only standard, secure schemes.
 * - BrowserWindow: a real Chromium page in the test process; `loadURL` settles when the page
 *   finishes or fails to load; ready-to-show, did-finish-load, did-fail-load, render-process-gone.
 * - ipcMain.handle: the handler's event has `senderFrame.url` (the custom scheme's URL, not the
 *   test's loopback address); a thrown error reaches the renderer as its message only.
 * - utilityProcess.fork: a Node child with `process.parentPort` and no `process.send`.
 * - safeStorage: reports its backend; strings are encrypted under a key kept in a directory that
 *   outlives the process, as an OS keychain does.
 * Never bundled: only `tests/electron/standin/register.ts` maps `electron` here.
 */
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { STANDIN_ENV } from './messages.js';
import type { HostToMain, MainToHost, WebPreferencesSeen } from './messages.js';

if (typeof process.send !== 'function') throw new Error('the electron stand-in runs only in a child started by tests/electron/standin/launch.ts');

let pendingSends = 0;
function post(message: MainToHost): void {
  pendingSends++;
  process.send!(message, undefined, {}, () => {
    pendingSends--;
  });
}

/** Waits until every message is handed to the channel (an exit must not swallow the last dialog). */
async function drain(): Promise<void> {
  const deadline = Date.now() + 2000;
  while (pendingSends > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
}

class PreventableEvent {
  defaultPrevented = false;
  preventDefault(): void {
    this.defaultPrevented = true;
  }
}

// ---------------------------------------------------------------- utility processes

const utilityChildren = new Set<ChildProcess>();

class UtilityProcessStandin extends EventEmitter {
  readonly pid: number | undefined;
  constructor(private readonly child: ChildProcess) {
    super();
    this.pid = child.pid;
    child.on('spawn', () => this.emit('spawn'));
    child.on('message', (data: unknown) => this.emit('message', data));
    child.on('exit', (code, signal) => {
      utilityChildren.delete(child);
      post({ type: 'utility:exit', pid: child.pid ?? -1, code, signal });
      this.emit('exit', code ?? 1);
    });
  }
  postMessage(message: unknown): void {
    if (this.child.connected) this.child.send(message as never);
  }
  kill(): boolean {
    return this.child.kill('SIGTERM');
  }
}

const tsx = import.meta.resolve('tsx');
const preamble = new URL('./utility-preamble.ts', import.meta.url).href;

export const utilityProcess = {
  fork(modulePath: string, args: string[] = [], options: { env?: NodeJS.ProcessEnv; stdio?: 'ignore' | 'inherit' | 'pipe'; serviceName?: string } = {}): UtilityProcessStandin {
    const quiet = options.stdio === 'ignore' || options.stdio === undefined;
    const child = fork(modulePath, args, {
      env: options.env ?? process.env,
      execArgv: ['--import', tsx, '--import', preamble],
      stdio: quiet ? ['ignore', 'ignore', 'ignore', 'ipc'] : ['ignore', 'inherit', 'inherit', 'ipc'],
      serialization: 'advanced',
    });
    utilityChildren.add(child);
    // The variable names it was given (never their values) let a test check what it received.
    if (child.pid !== undefined) post({ type: 'utility:spawn', pid: child.pid, modulePath, envKeys: Object.keys(options.env ?? process.env) });
    return new UtilityProcessStandin(child);
  },
};

// ---------------------------------------------------------------- app

let ready = false;
let exiting = false;

async function exitProcess(code: number): Promise<void> {
  if (exiting) return;
  exiting = true;
  // Chromium takes its child processes down with the browser process; say which were left.
  for (const child of utilityChildren) {
    if (child.pid !== undefined) post({ type: 'utility:killed-at-exit', pid: child.pid });
    child.kill('SIGKILL');
  }
  post({ type: 'app:exit', code });
  await drain();
  process.exit(code);
}

class AppStandin extends EventEmitter {
  private readonly readyPromise: Promise<void>;
  sandboxEnabled = false;
  constructor() {
    super();
    // Ready after the main module's synchronous start, as in Electron.
    this.readyPromise = new Promise((resolve) =>
      setTimeout(() => {
        ready = true;
        this.emit('ready');
        resolve();
      }, 10),
    );
  }
  isReady(): boolean {
    return ready;
  }
  whenReady(): Promise<void> {
    return this.readyPromise;
  }
  requestSingleInstanceLock(): boolean {
    return true;
  }
  enableSandbox(): void {
    if (ready) throw new Error('app.enableSandbox() must be called before the app is ready');
    this.sandboxEnabled = true;
  }
  getAppPath(): string {
    return process.env[STANDIN_ENV.appPath] ?? process.cwd();
  }
  getName(): string {
    return 'CipherCare';
  }
  /** Electron: before-quit (preventable), then the windows close, will-quit, and the app exits. */
  quit(): void {
    const event = new PreventableEvent();
    this.emit('before-quit', event);
    if (event.defaultPrevented) return;
    for (const win of [...BrowserWindowStandin.getAllWindows()]) win.destroy();
    const willQuit = new PreventableEvent();
    this.emit('will-quit', willQuit);
    if (!willQuit.defaultPrevented) void exitProcess(0);
  }
  /** Electron: exits at once, without before-quit. */
  exit(code = 0): void {
    void exitProcess(code);
  }
}

export const app = new AppStandin();

// ---------------------------------------------------------------- protocol

interface SchemePrivileges {
  standard?: boolean;
  secure?: boolean;
  supportFetchAPI?: boolean;
  corsEnabled?: boolean;
}
const privileged = new Map<string, SchemePrivileges>();
let schemesRegistered = false;
const protocolHandlers = new Map<string, (request: Request) => Response | Promise<Response>>();
const BUILT_IN_SCHEMES = new Set(['http', 'https', 'file', 'about', 'data', 'blob']);

export const protocol = {
  registerSchemesAsPrivileged(schemes: { scheme: string; privileges?: SchemePrivileges }[]): void {
    if (ready) throw new Error('protocol.registerSchemesAsPrivileged should be called before app is ready');
    if (schemesRegistered) throw new Error('protocol.registerSchemesAsPrivileged can only be called once');
    schemesRegistered = true;
    for (const s of schemes) privileged.set(s.scheme, { ...s.privileges });
  },
  handle(scheme: string, handler: (request: Request) => Response | Promise<Response>): void {
    if (!ready) throw new Error('protocol.handle can only be used after the ready event');
    if (protocolHandlers.has(scheme)) throw new Error(`Failed to register protocol: ${scheme}`);
    protocolHandlers.set(scheme, handler);
  },
  unhandle(scheme: string): void {
    protocolHandlers.delete(scheme);
  },
  isProtocolHandled(scheme: string): boolean {
    return protocolHandlers.has(scheme);
  },
};

async function answerProtocolRequest(message: Extract<HostToMain, { type: 'protocol:request' }>): Promise<void> {
  const scheme = new URL(message.url).protocol.slice(0, -1);
  const handler = protocolHandlers.get(scheme);
  if (!handler) {
    post({ type: 'protocol:failure', requestId: message.requestId, error: `ERR_UNKNOWN_URL_SCHEME: no handler for ${scheme}:` });
    return;
  }
  try {
    const response = await handler(new Request(message.url, { method: message.method, headers: message.headers }));
    post({ type: 'protocol:response', requestId: message.requestId, status: response.status, headers: [...response.headers.entries()], body: new Uint8Array(await response.arrayBuffer()) });
  } catch (err) {
    post({ type: 'protocol:failure', requestId: message.requestId, error: `ERR_FAILED: the ${scheme}: handler threw (${err instanceof Error ? err.message : String(err)})` });
  }
}

// ---------------------------------------------------------------- windows

let nextWindowId = 1;
let nextRequestId = 1;
const pendingLoads = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();

class WebContentsStandin extends EventEmitter {
  private openHandler: ((details: { url: string }) => { action: 'deny' | 'allow' }) | null = null;
  private url = '';
  constructor(
    readonly id: number,
    private readonly owner: BrowserWindowStandin,
  ) {
    super();
  }
  setWindowOpenHandler(handler: (details: { url: string }) => { action: 'deny' | 'allow' }): void {
    this.openHandler = handler;
  }
  /** Electron: without a handler a new window is allowed. */
  windowOpenAction(url: string): 'allow' | 'deny' {
    return this.openHandler ? this.openHandler({ url }).action : 'allow';
  }
  getURL(): string {
    return this.url;
  }
  isDestroyed(): boolean {
    return this.owner.isDestroyed();
  }
  send(channel: string, ...args: unknown[]): void {
    if (this.owner.isDestroyed()) throw new Error('Object has been destroyed');
    post({ type: 'ipc:send', windowId: this.id, channel, args });
  }
  loadURL(url: string): Promise<void> {
    this.url = url;
    const parsed = new URL(url);
    const scheme = parsed.protocol.slice(0, -1);
    if (!BUILT_IN_SCHEMES.has(scheme)) {
      if (!protocolHandlers.has(scheme)) return Promise.reject(new Error(`ERR_UNKNOWN_URL_SCHEME (-302) loading '${url}'`));
      const p = privileged.get(scheme);
      if (!p?.standard || !p.secure) return Promise.reject(new Error(`the electron stand-in serves only standard, secure custom schemes; ${scheme}: is registered ${JSON.stringify(p ?? {})}`));
    }
    const requestId = nextRequestId++;
    return new Promise((resolve, reject) => {
      pendingLoads.set(requestId, { resolve, reject });
      post({ type: 'window:load', windowId: this.id, requestId, url });
    });
  }
}

class BrowserWindowStandin extends EventEmitter {
  private static readonly windows = new Map<number, BrowserWindowStandin>();
  static getAllWindows(): BrowserWindowStandin[] {
    return [...BrowserWindowStandin.windows.values()];
  }
  static fromId(id: number): BrowserWindowStandin | undefined {
    return BrowserWindowStandin.windows.get(id);
  }

  readonly id: number;
  readonly webContents: WebContentsStandin;
  private destroyed = false;
  private visible = false;

  constructor(options: { show?: boolean; webPreferences?: WebPreferencesSeen & Record<string, unknown> } = {}) {
    super();
    if (!ready) throw new Error('Cannot create BrowserWindow before app is ready');
    this.id = nextWindowId++;
    this.webContents = new WebContentsStandin(this.id, this);
    BrowserWindowStandin.windows.set(this.id, this);
    const wp = options.webPreferences ?? {};
    // Electron's defaults: context isolation and the sandbox are on unless turned off.
    const webPreferences: WebPreferencesSeen = { contextIsolation: wp.contextIsolation ?? true, sandbox: wp.sandbox ?? true, nodeIntegration: wp.nodeIntegration ?? false };
    if (wp.preload) webPreferences.preload = wp.preload;
    post({ type: 'window:create', windowId: this.id, webPreferences });
    app.emit('web-contents-created', {}, this.webContents);
    this.visible = options.show !== false;
    if (this.visible) post({ type: 'window:show', windowId: this.id });
  }
  loadURL(url: string): Promise<void> {
    return this.webContents.loadURL(url);
  }
  loadFile(path: string): Promise<void> {
    return this.webContents.loadURL(pathToFileURL(path).href);
  }
  show(): void {
    this.visible = true;
    post({ type: 'window:show', windowId: this.id });
  }
  isVisible(): boolean {
    return this.visible;
  }
  isMinimized(): boolean {
    return false;
  }
  restore(): void {}
  focus(): void {}
  isDestroyed(): boolean {
    return this.destroyed;
  }
  close(): void {
    if (this.destroyed) return;
    const event = new PreventableEvent();
    this.emit('close', event);
    if (!event.defaultPrevented) this.destroy();
  }
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    BrowserWindowStandin.windows.delete(this.id);
    post({ type: 'window:close', windowId: this.id });
    this.emit('closed');
    this.webContents.emit('destroyed');
    if (BrowserWindowStandin.windows.size === 0 && !exiting) {
      // Electron quits when the last window closes, unless the app listens to window-all-closed.
      if (app.listenerCount('window-all-closed') > 0) app.emit('window-all-closed');
      else app.quit();
    }
  }
}

export const BrowserWindow = BrowserWindowStandin;

// ---------------------------------------------------------------- ipcMain

type Handler = (event: unknown, ...args: unknown[]) => unknown;
class IpcMainStandin extends EventEmitter {
  readonly handlers = new Map<string, Handler>();
  handle(channel: string, listener: Handler): void {
    if (this.handlers.has(channel)) throw new Error(`Attempted to register a second handler for '${channel}'`);
    this.handlers.set(channel, listener);
  }
  removeHandler(channel: string): void {
    this.handlers.delete(channel);
  }
}
export const ipcMain = new IpcMainStandin();

async function answerInvoke(message: Extract<HostToMain, { type: 'ipc:invoke' }>): Promise<void> {
  const handler = ipcMain.handlers.get(message.channel);
  const win = BrowserWindowStandin.fromId(message.windowId);
  if (!handler || !win) {
    post({ type: 'ipc:reply', requestId: message.requestId, ok: false, message: `No handler registered for '${message.channel}'` });
    return;
  }
  const event = { sender: win.webContents, senderFrame: { url: message.frameUrl }, processId: process.pid, frameId: 1 };
  try {
    const value = await handler(event, ...message.args);
    try {
      structuredClone(value);
    } catch {
      throw new Error('An object could not be cloned.');
    }
    post({ type: 'ipc:reply', requestId: message.requestId, ok: true, value });
  } catch (err) {
    // Electron: only the message of an error thrown in a handler reaches the renderer.
    post({ type: 'ipc:reply', requestId: message.requestId, ok: false, message: `Error invoking remote method '${message.channel}': ${String(err)}` });
  }
}

// ---------------------------------------------------------------- dialog, session, safeStorage

export const dialog = {
  showErrorBox(title: string, content: string): void {
    post({ type: 'dialog', kind: 'error', title, content });
  },
};

export const session = {
  defaultSession: {
    protocol,
    setPermissionRequestHandler(_handler: unknown): void {},
    setPermissionCheckHandler(_handler: unknown): void {},
    webRequest: {
      // Recorded, not applied: the custom-scheme handler sets its own headers.
      onHeadersReceived(_listener: unknown): void {},
    },
  },
};

function keychainKey(): Buffer {
  const dir = process.env[STANDIN_ENV.keychainDir];
  if (!dir) throw new Error(`the electron stand-in needs ${STANDIN_ENV.keychainDir}`);
  const file = join(dir, 'safe-storage.key');
  if (!existsSync(file)) {
    mkdirSync(dir, { recursive: true });
    writeFileSync(file, randomBytes(32), { mode: 0o600 });
  }
  return readFileSync(file);
}

const backend = (): string => process.env[STANDIN_ENV.keychainBackend] ?? 'gnome_libsecret';

export const safeStorage = {
  isEncryptionAvailable(): boolean {
    return ready && backend() !== 'unavailable';
  },
  getSelectedStorageBackend(): string {
    if (process.platform !== 'linux') throw new Error('getSelectedStorageBackend is Linux only');
    return backend();
  },
  encryptString(plain: string): Buffer {
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', keychainKey(), iv);
    return Buffer.concat([iv, c.update(plain, 'utf8'), c.final(), c.getAuthTag()]);
  },
  decryptString(blob: Buffer): string {
    try {
      const d = createDecipheriv('aes-256-gcm', keychainKey(), blob.subarray(0, 12));
      d.setAuthTag(blob.subarray(blob.length - 16));
      return Buffer.concat([d.update(blob.subarray(12, blob.length - 16)), d.final()]).toString('utf8');
    } catch {
      throw new Error('Error while decrypting the ciphertext provided to safeStorage.decryptString.');
    }
  },
};

// ---------------------------------------------------------------- messages from the test

process.on('message', (raw: unknown) => {
  const message = raw as HostToMain;
  switch (message.type) {
    case 'window:loaded': {
      const pending = pendingLoads.get(message.requestId);
      pendingLoads.delete(message.requestId);
      if (!pending) return;
      if (message.error) pending.reject(new Error(`${message.error.description} (${message.error.code}) loading the page`));
      else pending.resolve();
      return;
    }
    case 'window:event': {
      const win = BrowserWindowStandin.fromId(message.windowId);
      if (!win || win.isDestroyed()) return;
      if (message.name === 'ready-to-show') win.emit('ready-to-show');
      else if (message.name === 'did-finish-load') win.webContents.emit('did-finish-load');
      else if (message.name === 'did-fail-load') win.webContents.emit('did-fail-load', {}, message.errorCode, message.errorDescription, message.url, true);
      else if (message.name === 'render-process-gone') win.webContents.emit('render-process-gone', {}, { reason: message.reason, exitCode: 1 });
      return;
    }
    case 'window:will-navigate': {
      // Electron: will-navigate for navigations the page starts (not loadURL); preventable.
      const win = BrowserWindowStandin.fromId(message.windowId);
      const event = new PreventableEvent();
      if (win && !win.isDestroyed()) win.webContents.emit('will-navigate', event, message.url);
      post({ type: 'window:navigate-decision', requestId: message.requestId, prevented: !win || event.defaultPrevented });
      return;
    }
    case 'window:open-request': {
      const win = BrowserWindowStandin.fromId(message.windowId);
      post({ type: 'window:open-decision', requestId: message.requestId, action: win && !win.isDestroyed() ? win.webContents.windowOpenAction(message.url) : 'deny' });
      return;
    }
    case 'window:closed-by-user':
      BrowserWindowStandin.fromId(message.windowId)?.close();
      return;
    case 'ipc:invoke':
      void answerInvoke(message);
      return;
    case 'protocol:request':
      void answerProtocolRequest(message);
      return;
    case 'app:quit':
      app.quit();
      return;
  }
});
// The test's IPC channel must not keep a finished app alive, nor may its loss leave one running.
process.channel?.unref();
process.once('disconnect', () => void exitProcess(1));

export default { app, BrowserWindow, dialog, ipcMain, protocol, safeStorage, session, utilityProcess };
