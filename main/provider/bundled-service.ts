import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ProviderClient } from './provider-client.js';
import { ProviderError } from './errors.js';

export interface BundledService {
  url: string;
  token: string;
  /** Asks the service to finish in-flight work and exit; kills it if it does not. */
  stop(): Promise<void>;
  /** The service process when this process launched it. */
  readonly child: ChildProcess | null;
}

export interface LaunchOptions {
  workers?: number;
  modelsDir?: string;
  /** How long to wait for the service to listen and answer health. */
  startTimeoutMs?: number;
  /** Where the service's own log lines go (default: discarded). */
  logLevel?: string;
  /** More `service` flags (e.g. `--session-cache-bytes`), for benchmarks and tests. */
  extraArgs?: readonly string[];
}

// From TypeScript sources the service needs tsx's loader; a build ships cli.js.
const cliUrl = new URL(import.meta.url.endsWith('.ts') ? '../../mock-service/service-main.ts' : '../../mock-service/service-main.js', import.meta.url);
const execArgv = import.meta.url.endsWith('.ts') ? ['--import', import.meta.resolve('tsx')] : [];

/**
 * Starts the bundled evaluation service as a separate process (it never shares memory with the
 * secret key): loopback, random port, a random token reported over the IPC channel; waits for
 * health. The service stops when `stop()` is called or this process exits.
 */
export async function launchBundledService(options: LaunchOptions = {}): Promise<BundledService> {
  const args = ['--host', '127.0.0.1', '--port', '0'];
  if (options.workers) args.push('--workers', String(options.workers));
  if (options.modelsDir) args.push('--models', options.modelsDir);
  if (options.extraArgs) args.push(...options.extraArgs);
  const child = fork(fileURLToPath(cliUrl), args, {
    execArgv,
    env: {
      // glibc gives each busy thread its own malloc arena (up to 8 per core); request bodies freed on
      // several threads then stay resident in arenas that are never trimmed. Two arenas keep the
      // service's RSS close to what it uses (docs/service.md, "Memory"); SEAL's own heap is in WebAssembly.
      MALLOC_ARENA_MAX: '2',
      ...process.env,
      CIPHERCARE_IPC_REPORT: '1',
      CIPHERCARE_LOG_LEVEL: options.logLevel ?? 'silent',
      CIPHERCARE_API_KEYS: '',
    },
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => {
    stderr = (stderr + c.toString()).slice(-2000);
  });
  const timeoutMs = options.startTimeoutMs ?? 60_000;
  const listening = await new Promise<{ url: string; token: string }>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new ProviderError('service_start_failed', `the bundled service did not start within ${timeoutMs} ms`));
    }, timeoutMs);
    child.on('message', (m: unknown) => {
      const msg = m as { type?: string; url?: string; token?: string };
      if (msg.type === 'listening' && msg.url && msg.token) {
        clearTimeout(timer);
        resolve({ url: msg.url, token: msg.token });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new ProviderError('service_start_failed', `the bundled service exited during start (code ${code}): ${stderr.trim().split('\n').pop() ?? ''}`));
    });
  });
  const client = new ProviderClient({ kind: 'bundled', url: listening.url, credential: listening.token, attempts: 10, backoffMs: 100 });
  const health = await client.health();
  if (health.status !== 'ok') throw new ProviderError('service_start_failed', `the bundled service reports ${health.status}`);

  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const onExit = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', onExit);
  return {
    ...listening,
    child,
    async stop() {
      process.off('exit', onExit);
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.send({ type: 'stop' });
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
