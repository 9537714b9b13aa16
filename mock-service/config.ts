import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import type { SessionStore } from './sessions/session-store.js';

export interface TlsOptions {
  cert: string | Buffer;
  key: string | Buffer;
}

export interface ServiceOptions {
  /** bundled: loopback only, random port and bearer token per launch. remote: API keys, TLS or a reverse proxy. */
  mode: 'bundled' | 'remote';
  host?: string;
  port?: number;
  /** Bundled mode's bearer token; random when absent. */
  token?: string;
  /** Remote mode's accepted API keys (sent as `Authorization: Bearer <key>`). */
  apiKeys?: string[];
  tls?: TlsOptions;
  /** Remote mode without TLS, because a reverse proxy terminates it (see docs/service.md). */
  behindProxy?: boolean;
  workers?: number;
  maxQueue?: number;
  jobTimeoutMs?: number;
  sessionTtlMs?: number;
  sessionCacheBytes?: number;
  /** Hard cap of any request body, whatever the plan allows. */
  maxBodyBytes?: number;
  modelsDir?: string;
  /** Loaded evaluation-key sets each worker keeps. */
  workerKeyCacheEntries?: number;
  /** Share a batch request of a splittable plan among all workers (default true; `batchSplit` in he-core). */
  splitBatches?: boolean;
  logger?: Logger;
  sessionStore?: SessionStore;
}

export type ResolvedOptions = Required<Omit<ServiceOptions, 'token' | 'apiKeys' | 'tls' | 'logger' | 'sessionStore'>> &
  Pick<ServiceOptions, 'token' | 'apiKeys' | 'tls' | 'logger' | 'sessionStore'>;

export const DEFAULT_MODELS_DIR = fileURLToPath(new URL('../assets/models/', import.meta.url));

export function resolveOptions(options: ServiceOptions): ResolvedOptions {
  return {
    host: options.mode === 'bundled' ? '127.0.0.1' : '0.0.0.0',
    port: options.mode === 'bundled' ? 0 : 8787,
    behindProxy: false,
    workers: Math.max(1, availableParallelism()),
    maxQueue: 32,
    jobTimeoutMs: 120_000,
    sessionTtlMs: 30 * 60_000,
    sessionCacheBytes: 512 * 2 ** 20,
    maxBodyBytes: 256 * 2 ** 20,
    modelsDir: DEFAULT_MODELS_DIR,
    workerKeyCacheEntries: 16,
    splitBatches: true,
    ...options,
  };
}

/** Reads service options from environment variables (flags override them in the CLI). */
export function optionsFromEnv(env: NodeJS.ProcessEnv): Partial<ServiceOptions> {
  const out: Partial<ServiceOptions> = {};
  const num = (name: string): number | undefined => (env[name] !== undefined && env[name] !== '' ? Number(env[name]) : undefined);
  if (env.CIPHERCARE_HOST) out.host = env.CIPHERCARE_HOST;
  if (num('CIPHERCARE_PORT') !== undefined) out.port = num('CIPHERCARE_PORT')!;
  if (env.CIPHERCARE_API_KEYS) out.apiKeys = env.CIPHERCARE_API_KEYS.split(',').map((k) => k.trim()).filter(Boolean);
  if (num('CIPHERCARE_WORKERS') !== undefined) out.workers = num('CIPHERCARE_WORKERS')!;
  if (num('CIPHERCARE_MAX_QUEUE') !== undefined) out.maxQueue = num('CIPHERCARE_MAX_QUEUE')!;
  if (env.CIPHERCARE_SPLIT_BATCHES !== undefined && env.CIPHERCARE_SPLIT_BATCHES !== '') out.splitBatches = env.CIPHERCARE_SPLIT_BATCHES !== '0';
  if (num('CIPHERCARE_JOB_TIMEOUT_MS') !== undefined) out.jobTimeoutMs = num('CIPHERCARE_JOB_TIMEOUT_MS')!;
  if (num('CIPHERCARE_SESSION_TTL_MS') !== undefined) out.sessionTtlMs = num('CIPHERCARE_SESSION_TTL_MS')!;
  if (num('CIPHERCARE_SESSION_CACHE_BYTES') !== undefined) out.sessionCacheBytes = num('CIPHERCARE_SESSION_CACHE_BYTES')!;
  if (env.CIPHERCARE_MODELS_DIR) out.modelsDir = env.CIPHERCARE_MODELS_DIR;
  if (env.CIPHERCARE_BEHIND_PROXY === '1') out.behindProxy = true;
  return out;
}
