/**
 * The test's side of the shell smoke test: starts the built main bundle (`main.mjs`) in a Node
 * child with `electron` mapped to the stand-in, and plays Electron's renderer side for it: a real
 * Chromium page per window (Playwright), the preload run as Electron runs a sandboxed, isolated
 * preload (see renderer-world.ts), and custom-scheme pages served by the main process's
 * `protocol.handle` handler through a loopback origin (the page sees http://127.0.0.1:PORT, the
 * main process sees app://host/... in every request and in every IPC sender frame).
 */
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { HostToMain, MainToHost } from './messages.js';
import { rendererWorldScript } from './renderer-world.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const REGISTER = new URL('./register.ts', import.meta.url).href;

/** Chromium's net error numbers for the errors a page load can meet here. */
const NET_ERRORS: Record<string, number> = {
  ERR_FAILED: -2,
  ERR_ABORTED: -3,
  ERR_FILE_NOT_FOUND: -6,
  ERR_ACCESS_DENIED: -10,
  ERR_CONNECTION_REFUSED: -102,
  ERR_UNKNOWN_URL_SCHEME: -302,
  ERR_EMPTY_RESPONSE: -324,
  ERR_INVALID_RESPONSE: -320,
  ERR_HTTP_RESPONSE_CODE_FAILURE: -379,
};

export interface ShellWindow {
  id: number;
  /** Navigations the page started and whether the main process prevented them. */
  navigations: { url: string; prevented: boolean }[];
  /** New windows the page opened and what the main process's window-open handler said. */
  popups: { url: string; action: 'allow' | 'deny' }[];
  page: Page;
  context: BrowserContext;
  shown: boolean;
  closed: boolean;
  preload: string | null;
  /** Console errors and uncaught page errors. */
  consoleErrors: string[];
}

export interface UtilityRecord {
  pid: number;
  modulePath: string;
  envKeys: string[];
  exit?: { code: number | null; signal: string | null };
  killedAtExit: boolean;
}

export interface ShellRun {
  pid: number;
  dialogs: { title: string; content: string }[];
  utilities: UtilityRecord[];
  /** How the main process ended. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The first window, once it exists. */
  firstWindow(timeoutMs?: number): Promise<ShellWindow>;
  /** The user closes a window (Electron: close, closed, window-all-closed). */
  closeWindow(win: ShellWindow): void;
  /** What the main process wrote to stdout and stderr (the app logs nothing in normal runs). */
  output(): string;
  /** Kills whatever is left (test cleanup). */
  dispose(): Promise<void>;
}

export interface LaunchOptions {
  /** Directory holding main.mjs, preload.cjs, service.mjs (and ../renderer). */
  appDir: string;
  browser: Browser;
  env: Record<string, string>;
}

class LoopbackOrigin {
  private constructor(
    readonly server: Server,
    readonly appOrigin: string,
    readonly httpOrigin: string,
  ) {}
  static async start(appOrigin: string, request: (url: string, req: IncomingMessage) => Promise<{ status: number; headers: [string, string][]; body: Uint8Array } | null>): Promise<LoopbackOrigin> {
    const server = createServer((req: IncomingMessage, res: ServerResponse) => {
      request(`${appOrigin}${req.url ?? '/'}`, req).then(
        (answer) => {
          if (!answer) {
            // A failed handler is a network error for the page, as in Chromium.
            res.destroy();
            return;
          }
          res.writeHead(answer.status, Object.fromEntries(answer.headers));
          res.end(Buffer.from(answer.body));
        },
        () => res.destroy(),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    return new LoopbackOrigin(server, appOrigin, `http://127.0.0.1:${port}`);
  }
  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

export async function launchShell(options: LaunchOptions): Promise<ShellRun> {
  const child: ChildProcess = fork(join(options.appDir, 'main.mjs'), [], {
    cwd: ROOT,
    execArgv: ['--import', import.meta.resolve('tsx'), '--import', REGISTER],
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    serialization: 'advanced',
  });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));

  const send = (message: HostToMain): void => {
    if (child.connected) child.send(message);
  };
  const windows = new Map<number, ShellWindow>();
  const windowWaiters: ((w: ShellWindow) => void)[] = [];
  const dialogs: ShellRun['dialogs'] = [];
  const utilities: UtilityRecord[] = [];
  const origins = new Map<string, LoopbackOrigin>();
  /** Windows whose loadURL is under way: that navigation is the main process's own, not the page's. */
  const loading = new Set<number>();
  const pending = new Map<number, (m: MainToHost) => void>();
  let nextRequestId = 1;
  // Window operations run in order, each after the one before (creation is asynchronous here).
  let queue: Promise<unknown> = Promise.resolve();
  const enqueue = (op: () => Promise<unknown>): void => {
    queue = queue.then(op).catch((err: unknown) => (output += `\n[stand-in] ${err instanceof Error ? err.stack : String(err)}\n`));
  };

  const request = <T extends MainToHost>(make: (requestId: number) => HostToMain): Promise<T> => {
    const requestId = nextRequestId++;
    return new Promise((resolve) => {
      pending.set(requestId, (m) => resolve(m as T));
      send(make(requestId));
    });
  };

  const toAppUrl = (url: string): string => {
    for (const o of origins.values()) if (url.startsWith(`${o.httpOrigin}/`) || url === o.httpOrigin) return o.appOrigin + url.slice(o.httpOrigin.length);
    return url;
  };

  async function originFor(appUrl: URL): Promise<LoopbackOrigin> {
    const key = `${appUrl.protocol}//${appUrl.host}`;
    let origin = origins.get(key);
    if (!origin) {
      origin = await LoopbackOrigin.start(key, async (url, req) => {
        const answer = await request<Extract<MainToHost, { type: 'protocol:response' | 'protocol:failure' }>>((requestId) => ({
          type: 'protocol:request',
          requestId,
          url,
          method: req.method ?? 'GET',
          headers: Object.entries(req.headers).flatMap(([k, v]) => (typeof v === 'string' ? [[k, v] as [string, string]] : [])),
        }));
        return answer.type === 'protocol:response' ? answer : null;
      });
      origins.set(key, origin);
    }
    return origin;
  }

  async function createWindow(m: Extract<MainToHost, { type: 'window:create' }>): Promise<void> {
    if (!m.webPreferences.contextIsolation || !m.webPreferences.sandbox || m.webPreferences.nodeIntegration) {
      throw new Error(`the electron stand-in emulates only sandboxed, context-isolated windows without Node integration; got ${JSON.stringify(m.webPreferences)}`);
    }
    const context = await options.browser.newContext({ viewport: { width: 1200, height: 820 }, acceptDownloads: true });
    const page = await context.newPage();
    const preload = m.webPreferences.preload ?? null;
    const win: ShellWindow = { id: m.windowId, page, context, shown: false, closed: false, preload, consoleErrors: [], navigations: [], popups: [] };
    // Navigations the page starts go through the main process's will-navigate, as in Electron.
    await context.route('**/*', async (route) => {
      const req = route.request();
      if (!req.isNavigationRequest() || loading.has(win.id)) return route.continue();
      let mainFrame: boolean;
      try {
        mainFrame = req.frame() === page.mainFrame();
      } catch {
        // A new window's first request: its window-open decision is made below.
        mainFrame = false;
      }
      if (!mainFrame) return route.continue();
      const url = toAppUrl(req.url());
      const decision = await request<Extract<MainToHost, { type: 'window:navigate-decision' }>>((requestId) => ({ type: 'window:will-navigate', requestId, windowId: win.id, url }));
      win.navigations.push({ url, prevented: decision.prevented });
      return decision.prevented ? route.abort('aborted') : route.continue();
    });
    // New windows (window.open, target=_blank) go through its window-open handler; a denied one is closed at once.
    context.on('page', (popup) => {
      if (popup === page) return;
      void (async () => {
        const url = toAppUrl(popup.url());
        const decision = await request<Extract<MainToHost, { type: 'window:open-decision' }>>((requestId) => ({ type: 'window:open-request', requestId, windowId: win.id, url }));
        win.popups.push({ url, action: decision.action });
        if (decision.action === 'deny') await popup.close();
      })();
    });
    page.on('console', (msg) => {
      if (msg.type() === 'error') win.consoleErrors.push(msg.text());
    });
    page.on('pageerror', (e) => win.consoleErrors.push(e.message));
    page.on('crash', () => send({ type: 'window:event', windowId: win.id, name: 'render-process-gone', reason: 'crashed' }));
    await page.exposeBinding('__standinIpcInvoke', async (source, channel: string, args: unknown[]) => {
      const reply = await request<Extract<MainToHost, { type: 'ipc:reply' }>>((requestId) => ({ type: 'ipc:invoke', requestId, windowId: win.id, frameUrl: toAppUrl(source.frame.url()), channel, args }));
      return reply.ok ? { ok: true, value: reply.value } : { ok: false, message: reply.message };
    });
    await page.addInitScript({ content: rendererWorldScript(preload === null ? null : readFileSync(preload, 'utf8')) });
    windows.set(win.id, win);
    for (const w of windowWaiters.splice(0)) w(win);
  }

  async function loadWindow(m: Extract<MainToHost, { type: 'window:load' }>): Promise<void> {
    const win = windows.get(m.windowId);
    if (!win) return;
    const target = new URL(m.url);
    const builtIn = ['http:', 'https:', 'file:', 'about:', 'data:'].includes(target.protocol);
    const pageUrl = builtIn ? m.url : (await originFor(target)).httpOrigin + target.pathname + target.search + target.hash;
    loading.add(win.id);
    const fail = (name: string, description: string): void => {
      loading.delete(win.id);
      const code = NET_ERRORS[name] ?? -2;
      send({ type: 'window:event', windowId: win.id, name: 'did-fail-load', errorCode: code, errorDescription: name, url: m.url });
      send({ type: 'window:loaded', requestId: m.requestId, error: { code, description: `${name}: ${description}` } });
    };
    try {
      const response = await win.page.goto(pageUrl, { waitUntil: 'load', timeout: 60_000 });
      // Chromium shows its own error page, and reports a failed load, for an error status without a body.
      if (response && response.status() >= 400 && (await response.body()).byteLength === 0) {
        fail('ERR_HTTP_RESPONSE_CODE_FAILURE', `status ${response.status()}`);
        return;
      }
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      fail(/net::(ERR_[A-Z_]+)/.exec(message)?.[1] ?? 'ERR_FAILED', message.split('\n')[0]!);
      return;
    }
    loading.delete(win.id);
    send({ type: 'window:event', windowId: win.id, name: 'did-finish-load' });
    send({ type: 'window:event', windowId: win.id, name: 'ready-to-show' });
    send({ type: 'window:loaded', requestId: m.requestId });
  }

  async function closeAll(): Promise<void> {
    for (const w of windows.values()) {
      w.closed = true;
      await w.context.close().catch(() => undefined);
    }
    for (const o of origins.values()) await o.close();
    origins.clear();
  }

  child.on('message', (raw: unknown) => {
    const m = raw as MainToHost;
    switch (m.type) {
      case 'window:create':
        enqueue(() => createWindow(m));
        return;
      case 'window:load':
        enqueue(() => loadWindow(m));
        return;
      case 'window:show':
        enqueue(async () => {
          const w = windows.get(m.windowId);
          if (w) w.shown = true;
        });
        return;
      case 'window:close':
        enqueue(async () => {
          const w = windows.get(m.windowId);
          if (w && !w.closed) {
            w.closed = true;
            await w.context.close().catch(() => undefined);
          }
        });
        return;
      case 'ipc:send':
        enqueue(async () => {
          const w = windows.get(m.windowId);
          if (w && !w.closed) await w.page.evaluate(([channel, args]) => (globalThis as unknown as { __standinIpcDispatch(c: string, a: unknown[]): void }).__standinIpcDispatch(channel as string, args as unknown[]), [m.channel, m.args] as const).catch(() => undefined);
        });
        return;
      case 'ipc:reply':
      case 'window:navigate-decision':
      case 'window:open-decision':
      case 'protocol:response':
      case 'protocol:failure': {
        const resolve = pending.get(m.requestId);
        pending.delete(m.requestId);
        resolve?.(m);
        return;
      }
      case 'dialog':
        dialogs.push({ title: m.title, content: m.content });
        return;
      case 'utility:spawn':
        utilities.push({ pid: m.pid, modulePath: m.modulePath, envKeys: m.envKeys, killedAtExit: false });
        return;
      case 'utility:exit': {
        const u = utilities.find((x) => x.pid === m.pid);
        if (u) u.exit = { code: m.code, signal: m.signal };
        return;
      }
      case 'utility:killed-at-exit': {
        const u = utilities.find((x) => x.pid === m.pid);
        if (u) u.killedAtExit = true;
        return;
      }
      case 'app:exit':
        enqueue(closeAll);
        return;
    }
  });
  void exited.then(() => enqueue(closeAll));

  return {
    pid: child.pid!,
    dialogs,
    utilities,
    exited,
    firstWindow: (timeoutMs = 90_000) => {
      const existing = windows.values().next().value;
      if (existing) return Promise.resolve(existing);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no window within ${timeoutMs} ms; main process output:\n${output}`)), timeoutMs);
        windowWaiters.push((w) => {
          clearTimeout(timer);
          resolve(w);
        });
      });
    },
    closeWindow: (win) => send({ type: 'window:closed-by-user', windowId: win.id }),
    output: () => output,
    dispose: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
      for (const u of utilities) {
        try {
          process.kill(u.pid, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
      await queue;
      await closeAll();
    },
  };
}
