// A real distributed deployment on 127.0.0.1 (the tests, the bench, the load test): redis-server on a free port (no
// persistence), front and worker processes of the real CLI. Everything started is stopped by
// `stop()`, and by an exit hook if the test process ends first.
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SERVICE_MAIN = fileURLToPath(new URL('../../mock-service/service-main.ts', import.meta.url));
/** An API key shared by every front: the same principal, whichever front a request reaches. */
export const API_KEY = 'distributed-test-key-0123456789';

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Waits until `pattern` appears in the child's stdout; fails with its output when it exits first. */
function waitForLine(child: ChildProcess, pattern: RegExp, what: string, timeoutMs: number): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => finish(new Error(`${what} did not start within ${timeoutMs} ms:\n${out}\n${err}`)), timeoutMs);
    const onOut = (chunk: Buffer): void => {
      out += chunk.toString();
      const match = pattern.exec(out);
      if (match) finish(null, match);
    };
    const onErr = (chunk: Buffer): void => {
      err += chunk.toString();
    };
    const onExit = (code: number | null, signal: string | null): void => finish(new Error(`${what} exited (${code ?? signal}) before it was ready:\n${out}\n${err.slice(-4000)}`));
    function finish(e: Error | null, match?: RegExpExecArray): void {
      clearTimeout(timer);
      child.stdout!.off('data', onOut);
      child.stderr!.off('data', onErr);
      child.off('exit', onExit);
      // Keep draining the pipes so that the child never blocks on a full one.
      child.stdout!.resume();
      child.stderr!.resume();
      if (e) reject(e);
      else resolve(match!);
    }
    child.stdout!.on('data', onOut);
    child.stderr!.on('data', onErr);
    child.once('exit', onExit);
  });
}

export interface RedisServer {
  url: string;
  port: number;
  stop(): Promise<void>;
}

/** redis-server on a free loopback port, without persistence; BullMQ's memory policy (noeviction). */
export async function startRedis(): Promise<RedisServer> {
  const probe = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (probe.error) {
    throw new Error(`redis-server is not installed (${probe.error.message}): install Debian's redis-server (apt-get install -y redis-server; .ci/run does it) to run the distributed tests`);
  }
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--maxmemory-policy', 'noeviction', '--protected-mode', 'yes', '--loglevel', 'warning'], { stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  child.once('exit', () => live.delete(child));
  // With --loglevel warning the server prints nothing once ready: poll the port instead.
  const deadline = Date.now() + 10_000;
  for (;;) {
    const ping = spawnSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8' });
    if (ping.stdout?.trim() === 'PONG') break;
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`redis-server did not start on port ${port}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  child.stdout!.resume();
  child.stderr!.resume();
  return { url: `redis://127.0.0.1:${port}`, port, stop: () => stopChild(child) };
}

async function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM', graceMs = 5_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

export interface ServiceProcess {
  role: 'front' | 'worker' | 'embedded';
  url: string;
  child: ChildProcess;
  /** The Prometheus text of GET /v1/metrics. */
  metricsText(): Promise<string>;
  /** SIGKILL, and waits for the exit. */
  kill(): Promise<void>;
  stop(): Promise<void>;
}

export interface ProcessOptions {
  workers?: number;
  maxQueue?: number;
  sessionTtlMs?: number;
  jobLockMs?: number;
  extraArgs?: string[];
  /** How long the process may take to listen (it compiles every model's plans first; a loaded machine is slow). */
  startTimeoutMs?: number;
  /**
   * Start it in a session of its own (setsid). Linux's autogroup scheduling shares the CPU between
   * sessions, not threads: on a shared machine, every process started from one shell gets one
   * share in all, whatever their number. In its own session a worker gets a share of its own, as
   * on its own machine (for throughput measurements; killed by `stop()` and the exit hook alike).
   */
  ownSession?: boolean;
}

/** One process of the real CLI (`npm run service`) in a role, in remote mode behind a (pretend) proxy. */
export async function startProcess(redisUrl: string, role: 'front' | 'worker', options: ProcessOptions = {}): Promise<ServiceProcess> {
  return launch(['--redis', redisUrl, '--role', role, '--job-lock-ms', String(options.jobLockMs ?? 1_500)], role, options);
}

/** The embedded service (no Redis) as a process of the same CLI, for comparisons. */
export async function startEmbedded(options: ProcessOptions = {}): Promise<ServiceProcess> {
  return launch([], 'embedded', options);
}

async function launch(roleArgs: string[], role: ServiceProcess['role'], options: ProcessOptions): Promise<ServiceProcess> {
  const args = ['--import', 'tsx', SERVICE_MAIN, '--host', '127.0.0.1', '--port', '0', '--behind-proxy', ...roleArgs];
  args.push('--workers', String(options.workers ?? 1));
  if (options.maxQueue !== undefined) args.push('--max-queue', String(options.maxQueue));
  args.push(...(options.extraArgs ?? []));
  const env: NodeJS.ProcessEnv = { ...process.env, CIPHERCARE_API_KEYS: API_KEY, CIPHERCARE_LOG_LEVEL: 'warn', MALLOC_ARENA_MAX: '2' };
  if (options.sessionTtlMs !== undefined) env.CIPHERCARE_SESSION_TTL_MS = String(options.sessionTtlMs);
  const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached: options.ownSession ?? false });
  live.add(child);
  child.once('exit', () => live.delete(child));
  const match = await waitForLine(child, /listening on (http:\/\/127\.0\.0\.1:\d+)/, `the ${role} process`, options.startTimeoutMs ?? 240_000).catch((err: unknown) => {
    child.kill('SIGKILL');
    throw err;
  });
  const url = match[1]!;
  return {
    role,
    url,
    child,
    async metricsText() {
      const res = await fetch(`${url}/v1/metrics`, { headers: { authorization: `Bearer ${API_KEY}` } });
      if (!res.ok) throw new Error(`GET /v1/metrics of a ${role} answered ${res.status}`);
      return res.text();
    },
    async kill() {
      await stopChild(child, 'SIGKILL');
    },
    stop: () => stopChild(child),
  };
}

/** The value of a metric line (exact name and labels as printed), 0 when absent. */
export function metricValue(text: string, series: string): number {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return 0;
}

/** Sum of every series of a metric (whatever its labels). */
export function metricSum(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name} `) || line.startsWith(`${name}{`)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

export { ROOT };
