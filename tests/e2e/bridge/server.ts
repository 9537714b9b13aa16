import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { APP_ORIGIN, createAppProtocolHandler } from '../../../main/electron/app-protocol.js';
import type { BridgeError, BridgeResult, CipherCareApi, ProgressEvent } from '../../../preload/contract.js';
import { CHANNELS } from '../../../preload/contract.js';

/**
 * The test-only bridge: an HTTP server on 127.0.0.1 (random port) that serves the built renderer
 * with `/test-bridge.js` injected, answers `POST /rpc/<channel>` by calling the real client
 * core's `api`, and streams progress events over SSE. It is never part of the production build.
 */
export interface BridgeServerOptions {
  api: CipherCareApi;
  toBridgeError: (err: unknown) => BridgeError;
  /** The built renderer (default: dist/renderer). */
  distDir?: string;
}

export interface BridgeServer {
  url: string;
  close(): Promise<void>;
}

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const DIST_DIR = join(ROOT, 'dist', 'renderer');
const BROWSER_BRIDGE = fileURLToPath(new URL('./browser-bridge.ts', import.meta.url));
const MAX_BODY = 16 * 2 ** 20;


/** Only the contract's invokable channels are reachable (channel -> [domain, method]); `onProgress` is the SSE stream. */
const METHODS = new Map(Object.entries(CHANNELS).flatMap(([domain, methods]) => Object.entries(methods as Record<string, string>).map(([method, channel]) => [channel, [domain, method] as const])));

/** The browser side and the preload's bridge builder it imports, as one browser script. */
async function browserBridgeSource(): Promise<string> {
  const result = await build({ entryPoints: [BROWSER_BRIDGE], bundle: true, format: 'esm', platform: 'browser', target: 'chrome120', write: false, logLevel: 'silent' });
  return result.outputFiles[0]!.text;
}

/** index.html with the bridge script before the app's own (both are module scripts: they run in order). */
export function injectBridge(html: string): string {
  const tag = '<script type="module" src="/test-bridge.js"></script>';
  const at = html.indexOf('<script');
  return at < 0 ? html.replace('</head>', `${tag}</head>`) : `${html.slice(0, at)}${tag}\n    ${html.slice(at)}`;
}

function readJson(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolvePromise, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new Error('request body too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      try {
        resolvePromise(JSON.parse(Buffer.concat(chunks).toString('utf8') || '[]'));
      } catch (err) {
        reject(err as Error);
      }
    });
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, type: string, body: string | Buffer, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', ...headers });
  res.end(body);
}

function sendResult(res: ServerResponse, result: BridgeResult<unknown>): void {
  send(res, 200, 'application/json', JSON.stringify(result));
}

export async function startBridgeServer(options: BridgeServerOptions): Promise<BridgeServer> {
  const distDir = resolve(options.distDir ?? DIST_DIR);
  const bridgeJs = await browserBridgeSource();
  const streams = new Set<ServerResponse>();
  const unsubscribe = options.api.predictions.onProgress((event: ProgressEvent) => {
    const line = `data: ${JSON.stringify(event)}\n\n`;
    for (const s of streams) s.write(line);
  });

  async function rpc(req: IncomingMessage, res: ServerResponse, channel: string): Promise<void> {
    const target = METHODS.get(channel);
    if (!target) {
      sendResult(res, { ok: false, error: { code: 'unknown_method', message: `no channel ${channel}` } });
      return;
    }
    const [domain, method] = target;
    try {
      const args = await readJson(req);
      if (!Array.isArray(args)) throw new Error('arguments must be a JSON array');
      const group = options.api[domain as keyof CipherCareApi] as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
      const value = await group[method]!(...args);
      // A void result (cancel) serialises as `{"ok":true}`; the browser side reads `value` as undefined.
      sendResult(res, { ok: true, value });
    } catch (err) {
      sendResult(res, { ok: false, error: options.toBridgeError(err) });
    }
  }

  // The renderer's files as the app serves them (the app:// handler: same paths, types, CSP header),
  // with the test bridge's script put into the page.
  const appFiles = createAppProtocolHandler(distDir);
  async function serveFile(res: ServerResponse, pathname: string, search: string): Promise<void> {
    const answer = await appFiles(new Request(`${APP_ORIGIN}${pathname}${search}`));
    const headers = Object.fromEntries(answer.headers.entries());
    const isPage = answer.status === 200 && (pathname === '/' || pathname === '/index.html');
    if (!isPage) {
      res.writeHead(answer.status, headers);
      res.end(Buffer.from(await answer.arrayBuffer()));
      return;
    }
    const html = injectBridge(await answer.text());
    delete headers['content-length'];
    res.writeHead(200, headers);
    res.end(html);
  }

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const rpcMatch = /^\/rpc\/([^/]+)$/.exec(url.pathname);
    if (req.method === 'POST' && rpcMatch) {
      void rpc(req, res, decodeURIComponent(rpcMatch[1]!));
      return;
    }
    if (req.method !== 'GET') {
      send(res, 405, 'text/plain', 'method not allowed');
      return;
    }
    if (url.pathname === '/events') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
      res.write(': connected\n\n');
      streams.add(res);
      req.on('close', () => streams.delete(res));
      return;
    }
    if (url.pathname === '/test-bridge.js') {
      send(res, 200, 'text/javascript; charset=utf-8', bridgeJs);
      return;
    }
    serveFile(res, url.pathname, url.search).catch((err: unknown) => send(res, 500, 'text/plain', `the built renderer cannot be served (${(err as Error).message}): run npm run build:renderer`));
  });

  await new Promise<void>((resolvePromise) => server.listen(0, '127.0.0.1', resolvePromise));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    close: async () => {
      unsubscribe();
      for (const s of streams) s.end();
      streams.clear();
      server.closeAllConnections();
      await new Promise<void>((resolvePromise) => server.close(() => resolvePromise()));
    },
  };
}
