// Shared pieces of the reliability tests: raw HTTP with a fresh socket per call, the service
// process's RSS, a restartable service process on a fixed port, and a wait for a busy worker.
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ContentTypes } from '../../he-core/index.js';
import type { HealthResponse } from '../../he-core/index.js';
import { mulberry32 } from '../../scripts/train/prng.js';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface Endpoint {
  url: string;
  token: string;
}

export interface HttpResult {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  ms: number;
}

/**
 * One request over node:http on a fresh connection (`agent: false`: undici's fetch and pooled
 * sockets reset on large bodies), closed after the answer. It says `Connection: keep-alive` (as the
 * app's client does) so that a server answering before it has read the body does not close the
 * socket under the writer; a write error after the answer arrived does not count. Rejects on a
 * socket error before any answer, or after `timeoutMs` (a hang).
 */
export function call(endpoint: Endpoint, method: string, target: string, body?: Uint8Array, headers: Record<string, string> = {}, timeoutMs = 30_000): Promise<HttpResult> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = request(
      endpoint.url + target,
      {
        method,
        agent: false,
        headers: {
          authorization: `Bearer ${endpoint.token}`,
          connection: 'keep-alive',
          ...(body ? { 'content-type': ContentTypes.envelope, 'content-length': String(body.byteLength) } : {}),
          ...headers,
        },
      },
      (res) => {
        answered = true;
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), ms: performance.now() - started });
          req.destroy();
        });
        res.on('error', (err) => {
          clearTimeout(timer);
          reject(err);
        });
      },
    );
    const timer = setTimeout(() => {
      req.destroy(new Error(`${method} ${target} got no answer within ${timeoutMs} ms`));
      reject(new Error(`${method} ${target} got no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    req.on('error', (err) => {
      if (answered) return;
      clearTimeout(timer);
      reject(err);
    });
    req.end(body ? Buffer.from(body.buffer, body.byteOffset, body.byteLength) : undefined);
  });
}

/** VmRSS of a process, bytes. */
export function rssOf(pid: number): number {
  const kb = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!kb) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(kb[1]) * 1024;
}

export async function health(endpoint: Endpoint): Promise<HealthResponse> {
  const res = await call(endpoint, 'GET', '/v1/health', undefined, {}, 5_000);
  return JSON.parse(res.body.toString('utf8')) as HealthResponse;
}

/** Resolves when a worker of the service is evaluating (health reports busy), polling every few ms. */
export async function waitBusy(endpoint: Endpoint, timeoutMs: number): Promise<void> {
  const until = performance.now() + timeoutMs;
  while (performance.now() < until) {
    const h = await health(endpoint).catch(() => null);
    if (h && h.workers.busy > 0) return;
    await new Promise((r) => setTimeout(r, 2));
  }
  throw new Error(`no worker became busy within ${timeoutMs} ms`);
}

export interface ServiceChild {
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

const childScript = path.join(repoRoot, 'tests', 'reliability', 'fixtures', 'service-child.ts');

/**
 * A bundled-mode service process on a given port with a given token (launchBundledService always
 * takes a random port and token): what "the service restarted at the same address" looks like.
 */
export async function startServiceChild(port: number, token: string, workers = 1, timeoutMs = 90_000): Promise<ServiceChild> {
  const child = fork(childScript, [String(port), String(workers)], {
    cwd: repoRoot,
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, CIPHERCARE_TEST_TOKEN: token },
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => {
    stderr = (stderr + c.toString()).slice(-2000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the service child did not start within ${timeoutMs} ms: ${stderr}`));
    }, timeoutMs);
    child.on('message', (m: { type?: string; url?: string }) => {
      if (m.type === 'listening' && m.url) {
        clearTimeout(timer);
        resolve(m.url);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the service child exited during start (code ${code}): ${stderr}`));
    });
  });
  return {
    url,
    child,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.send({ type: 'stop' });
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** mulberry32 (scripts/train/prng.ts): a small seeded generator, so a failing run can be replayed. */
export const seeded = (seed: number): (() => number) => mulberry32(seed);

/**
 * The resident memory of a process by kind of mapping, for a failure message: the largest
 * anonymous mappings (WebAssembly heaps and malloc arenas show as such), the brk heap, and the rest.
 */
export function memoryMap(pid: number, top = 6): string {
  const text = readFileSync(`/proc/${pid}/smaps`, 'utf8');
  const maps: { name: string; rssKiB: number; sizeKiB: number }[] = [];
  let current: { name: string; rssKiB: number; sizeKiB: number } | undefined;
  for (const line of text.split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) {
      current = { name: head[1] || 'anonymous', rssKiB: 0, sizeKiB: 0 };
      maps.push(current);
      continue;
    }
    const field = /^(Rss|Size):\s+(\d+) kB/.exec(line);
    if (field && current) current[field[1] === 'Rss' ? 'rssKiB' : 'sizeKiB'] = Number(field[2]);
  }
  const mib = (kib: number): string => (kib / 1024).toFixed(0);
  const largest = maps
    .filter((m) => m.name === 'anonymous' || m.name === '[heap]')
    .sort((a, b) => b.rssKiB - a.rssKiB)
    .slice(0, top);
  const total = maps.reduce((a, m) => a + m.rssKiB, 0);
  const shown = largest.reduce((a, m) => a + m.rssKiB, 0);
  return `${maps.length} mappings, ${mib(total)} MiB resident; largest: ${largest.map((m) => `${m.name} ${mib(m.rssKiB)}/${mib(m.sizeKiB)} MiB`).join(', ')}; the rest ${mib(total - shown)} MiB`;
}
