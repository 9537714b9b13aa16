// The renderer's origin: a privileged custom scheme served from the app's own files (Electron's
// security checklist item 18), instead of file:// (whose module scripts fail the CORS check once
// the grantFileProtocolExtraPrivileges fuse is off). No electron import: the shell registers the
// scheme and hands `protocol.handle` this handler, and plain Node tests it.
import { readFile, realpath, stat } from 'node:fs/promises';
import { extname, resolve, sep } from 'node:path';
import { CONTENT_SECURITY_POLICY } from './hardening.js';

export const APP_SCHEME = 'app';
export const APP_HOST = 'ciphercare';
export const APP_ORIGIN = `${APP_SCHEME}://${APP_HOST}`;
/** The one page of the app. */
export const APP_INDEX_URL = `${APP_ORIGIN}/index.html`;

/**
 * For `protocol.registerSchemesAsPrivileged`: standard (an origin, relative URLs), secure (a
 * secure context, like https). Not corsEnabled: no other origin may read these files.
 */
export const APP_SCHEME_PRIVILEGES = { standard: true, secure: true } as const;

/** Content types of what the renderer build contains; anything else is not served. */
const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
};

/** Headers on every response, errors included. */
function headers(contentType: string): Record<string, string> {
  return {
    'content-type': contentType,
    'content-security-policy': CONTENT_SECURITY_POLICY,
    'x-content-type-options': 'nosniff',
    'cache-control': 'no-store',
    'cross-origin-opener-policy': 'same-origin',
    'cross-origin-resource-policy': 'same-origin',
  };
}

function refuse(status: number, text: string): Response {
  return new Response(text, { status, headers: headers('text/plain; charset=utf-8') });
}

/**
 * The file under `rootDir` that an app URL names, or an HTTP status when there is none: only our
 * host, only GET-able paths, no escape from the root (`..`, encoded separators, NUL), `/` is the
 * index page.
 */
export function resolveAppPath(rootDir: string, url: string): { file: string } | { status: number; reason: string } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { status: 400, reason: 'not a URL' };
  }
  if (parsed.protocol !== `${APP_SCHEME}:` || parsed.host !== APP_HOST) return { status: 404, reason: 'not an app URL' };
  let path: string;
  try {
    path = decodeURIComponent(parsed.pathname);
  } catch {
    return { status: 400, reason: 'malformed path' };
  }
  if (path.includes('\0') || path.includes('\\')) return { status: 400, reason: 'malformed path' };
  if (path === '/' || path === '') path = '/index.html';
  const root = resolve(rootDir);
  const file = resolve(root, `.${path}`);
  if (!file.startsWith(root + sep)) return { status: 403, reason: 'outside the app' };
  return { file };
}

/** The `protocol.handle` handler for the app scheme: the renderer's files from `rootDir`, nothing else. */
export function createAppProtocolHandler(rootDir: string): (request: Request) => Promise<Response> {
  return async (request) => {
    if (request.method !== 'GET' && request.method !== 'HEAD') return refuse(405, 'method not allowed');
    const target = resolveAppPath(rootDir, request.url);
    if ('status' in target) return refuse(target.status, target.reason);
    const type = TYPES[extname(target.file).toLowerCase()];
    if (!type) return refuse(404, 'not found');
    try {
      if (!(await stat(target.file)).isFile()) return refuse(404, 'not found');
      // No link out of the renderer's folder either.
      const [realRoot, realFile] = await Promise.all([realpath(rootDir), realpath(target.file)]);
      if (!realFile.startsWith(realRoot + sep)) return refuse(403, 'outside the app');
      const body = await readFile(target.file);
      return new Response(request.method === 'HEAD' ? null : body, { status: 200, headers: { ...headers(type), 'content-length': String(body.byteLength) } });
    } catch {
      return refuse(404, 'not found');
    }
  };
}

/** Our own page (any hash or query), nothing else: the IPC sender check and the navigation guard. */
export function isAppPageUrl(url: string): boolean {
  try {
    const u = new URL(url);
    return u.protocol === `${APP_SCHEME}:` && u.host === APP_HOST && (u.pathname === '/index.html' || u.pathname === '/');
  } catch {
    return false;
  }
}
