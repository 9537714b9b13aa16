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
  /**
   * Memory the evaluation keys may take, all copies counted: the session store's key envelopes plus
   * every worker's loaded (SEAL) key sets (`loadedKeyBytes`, about 3× an envelope). Split by
   * `keyBudget` (mock-service/pool/key-bytes.ts): by default half to the store, half shared by the workers.
   * Default: 1 GiB, or more with many workers (each needs room for two of the largest loaded key sets).
   */
  sessionCacheBytes?: number;
  /** Loaded key bytes each worker keeps (default: half of sessionCacheBytes shared by the workers). */
  workerKeyCacheBytes?: number;
  /** Hard cap of any request body, whatever the plan allows. */
  maxBodyBytes?: number;
  modelsDir?: string;
  /** Loaded evaluation-key sets each worker keeps. */
  workerKeyCacheEntries?: number;
  /** Share a batch request of a splittable plan among all workers (default true; `batchSplit` in he-core). */
  splitBatches?: boolean;
  logger?: Logger;
  sessionStore?: SessionStore;
  /**
   * Redis URL (redis://HOST:PORT): the service runs in a role of a distributed deployment
   * (docs/deploy.md) instead of the embedded default. Absent: sessions in memory, this process's pool.
   */
  redis?: string;
  /** A second Redis for the sessions (may evict, allkeys-lru); default: the `redis` instance. */
  sessionRedis?: string;
  /** front: the HTTP API, jobs to the queues; worker: runs jobs; both: the two in one process (default). */
  role?: ServiceRole;
  /** Shard queues; a session's jobs go to shard hash(session id). Every process of a deployment must agree. */
  shards?: number;
  /** Live workers that serve each shard (rendezvous hashing). */
  shardReplicas?: number;
  /** Waiting jobs of a shard beyond which new jobs go to the overflow queue. */
  overflowAt?: number;
  /** BullMQ job lock: a dead worker's job runs again elsewhere this long after it stopped renewing it. */
  jobLockMs?: number;
  /** Prefix of every Redis key of this deployment. */
  redisPrefix?: string;
}

export type ServiceRole = 'front' | 'worker' | 'both';
export const SERVICE_ROLES: readonly ServiceRole[] = ['front', 'worker', 'both'];

type OptionalOptions = 'sessionCacheBytes' | 'workerKeyCacheBytes' | 'token' | 'apiKeys' | 'tls' | 'logger' | 'sessionStore' | 'redis' | 'sessionRedis' | 'role';
export type ResolvedOptions = Required<Omit<ServiceOptions, OptionalOptions>> & Pick<ServiceOptions, OptionalOptions>;

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
    maxBodyBytes: 256 * 2 ** 20,
    modelsDir: DEFAULT_MODELS_DIR,
    workerKeyCacheEntries: 16,
    splitBatches: true,
    shards: 8,
    shardReplicas: 2,
    overflowAt: 4,
    jobLockMs: 5_000,
    redisPrefix: 'ciphercare',
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
  if (num('CIPHERCARE_WORKER_KEY_CACHE_BYTES') !== undefined) out.workerKeyCacheBytes = num('CIPHERCARE_WORKER_KEY_CACHE_BYTES')!;
  if (env.CIPHERCARE_MODELS_DIR) out.modelsDir = env.CIPHERCARE_MODELS_DIR;
  if (env.CIPHERCARE_BEHIND_PROXY === '1') out.behindProxy = true;
  if (env.CIPHERCARE_REDIS) out.redis = env.CIPHERCARE_REDIS;
  if (env.CIPHERCARE_SESSION_REDIS) out.sessionRedis = env.CIPHERCARE_SESSION_REDIS;
  if (env.CIPHERCARE_ROLE) out.role = parseRole(env.CIPHERCARE_ROLE);
  if (num('CIPHERCARE_SHARDS') !== undefined) out.shards = num('CIPHERCARE_SHARDS')!;
  if (num('CIPHERCARE_SHARD_REPLICAS') !== undefined) out.shardReplicas = num('CIPHERCARE_SHARD_REPLICAS')!;
  if (num('CIPHERCARE_OVERFLOW_AT') !== undefined) out.overflowAt = num('CIPHERCARE_OVERFLOW_AT')!;
  if (num('CIPHERCARE_JOB_LOCK_MS') !== undefined) out.jobLockMs = num('CIPHERCARE_JOB_LOCK_MS')!;
  if (env.CIPHERCARE_REDIS_PREFIX) out.redisPrefix = env.CIPHERCARE_REDIS_PREFIX;
  return out;
}

export function parseRole(text: string): ServiceRole {
  if (!(SERVICE_ROLES as readonly string[]).includes(text)) throw new Error(`--role takes front, worker or both (got "${text}")`);
  return text as ServiceRole;
}

/** Checks the distributed options; a message names the flag at fault. */
export function checkDistributedOptions(options: ResolvedOptions): void {
  if (!options.redis) {
    if (options.role) throw new Error('--role needs --redis: without Redis the service runs embedded (one process, sessions in memory)');
    if (options.sessionRedis) throw new Error('--session-redis needs --redis');
    return;
  }
  const int = (name: string, v: number, min: number, max: number): void => {
    if (!Number.isInteger(v) || v < min || v > max) throw new Error(`${name} takes an integer from ${min} to ${max} (got ${v})`);
  };
  int('--shards', options.shards, 1, 1024);
  int('--shard-replicas', options.shardReplicas, 1, 64);
  int('--overflow-at', options.overflowAt, 1, 100_000);
  int('--job-lock-ms', options.jobLockMs, 500, 600_000);
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(options.redisPrefix)) throw new Error('--redis-prefix takes 1 to 64 letters, digits, dots, dashes or underscores');
}
