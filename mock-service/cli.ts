// The `service` command (`npm run service -- --host 127.0.0.1 --port 8787`, entry service-main.ts).
// Without API keys it runs like the bundled service (loopback, a random bearer token printed once);
// with API keys it runs as a remote provider (TLS, or --behind-proxy when a proxy terminates TLS).
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { optionsFromEnv, parseRole } from './config.js';
import type { ServiceOptions } from './config.js';
import { startService } from './service.js';

interface ServiceFlags {
  host?: string;
  port?: number;
  apiKey?: string[];
  tlsCert?: string;
  tlsKey?: string;
  behindProxy?: boolean;
  workers?: number;
  maxQueue?: number;
  models?: string;
  sessionCacheBytes?: number;
  workerKeyCacheBytes?: number;
  redis?: string;
  role?: string;
  sessionRedis?: string;
  shards?: number;
  shardReplicas?: number;
  overflowAt?: number;
  jobLockMs?: number;
  redisPrefix?: string;
}

export function serviceCommand(): Command {
  return new Command('service')
    .description('run the evaluation service (homomorphic evaluation of the bundled models)')
    .option('--host <host>', 'address to bind (bundled mode: 127.0.0.1 only)')
    .option('--port <port>', 'port (0: random)', (v) => Number.parseInt(v, 10))
    .option('--api-key <key...>', 'accept these API keys (remote mode); also CIPHERCARE_API_KEYS')
    .option('--tls-cert <file>', 'TLS certificate (PEM)')
    .option('--tls-key <file>', 'TLS private key (PEM)')
    .option('--behind-proxy', 'remote mode without TLS: a reverse proxy terminates it')
    .option('--workers <n>', 'evaluation worker threads (default: one per core)', (v) => Number.parseInt(v, 10))
    .option('--max-queue <n>', 'jobs that may wait for a worker before 503', (v) => Number.parseInt(v, 10))
    .option('--models <dir>', 'directory of model files (default: the bundled models)')
    .option('--session-cache-bytes <n>', 'memory for evaluation keys, every copy counted: stored envelopes + the workers\' loaded keys (default 1 GiB)', Number)
    .option('--worker-key-cache-bytes <n>', 'of it, loaded key bytes each worker keeps (default: half of --session-cache-bytes shared by the workers)', Number)
    .option('--redis <url>', 'run as part of a distributed deployment on this Redis (redis://HOST:PORT; docs/deploy.md)')
    .option('--role <role>', 'with --redis: front (HTTP API), worker (evaluations) or both (default)')
    .option('--session-redis <url>', 'with --redis: keep sessions on this other Redis (it may evict)')
    .option('--shards <n>', 'with --redis: shard queues (the same on every process)', (v) => Number.parseInt(v, 10))
    .option('--shard-replicas <n>', 'with --redis: live workers serving each shard', (v) => Number.parseInt(v, 10))
    .option('--overflow-at <n>', "with --redis: a shard's waiting jobs beyond which new ones go to the overflow queue", (v) => Number.parseInt(v, 10))
    .option('--job-lock-ms <ms>', "with --redis: a dead worker's job runs again this long after its last lock renewal", (v) => Number.parseInt(v, 10))
    .option('--redis-prefix <prefix>', 'with --redis: prefix of every Redis key (default ciphercare)')
    .action(async (flags: ServiceFlags) => {
      const env = optionsFromEnv(process.env);
      const apiKeys = flags.apiKey ?? env.apiKeys;
      const options: ServiceOptions = { ...env, mode: apiKeys && apiKeys.length > 0 ? 'remote' : 'bundled' };
      if (apiKeys) options.apiKeys = apiKeys;
      if (flags.host) options.host = flags.host;
      if (flags.port !== undefined) options.port = flags.port;
      if (flags.workers !== undefined) options.workers = flags.workers;
      if (flags.maxQueue !== undefined) options.maxQueue = flags.maxQueue;
      if (flags.models) options.modelsDir = flags.models;
      if (flags.sessionCacheBytes !== undefined) options.sessionCacheBytes = flags.sessionCacheBytes;
      if (flags.workerKeyCacheBytes !== undefined) options.workerKeyCacheBytes = flags.workerKeyCacheBytes;
      if (flags.behindProxy) options.behindProxy = true;
      if (flags.redis) options.redis = flags.redis;
      if (flags.role) options.role = parseRole(flags.role);
      if (flags.sessionRedis) options.sessionRedis = flags.sessionRedis;
      if (flags.shards !== undefined) options.shards = flags.shards;
      if (flags.shardReplicas !== undefined) options.shardReplicas = flags.shardReplicas;
      if (flags.overflowAt !== undefined) options.overflowAt = flags.overflowAt;
      if (flags.jobLockMs !== undefined) options.jobLockMs = flags.jobLockMs;
      if (flags.redisPrefix) options.redisPrefix = flags.redisPrefix;
      if (flags.tlsCert || flags.tlsKey) {
        if (!flags.tlsCert || !flags.tlsKey) throw new Error('--tls-cert and --tls-key go together');
        options.tls = { cert: readFileSync(flags.tlsCert), key: readFileSync(flags.tlsKey) };
      }
      const service = await startService(options);
      const stop = (): void => {
        void service.close().then(() => process.exit(0));
      };
      // Electron's utility process talks through process.parentPort; a Node child through process.send.
      const parentPort = (process as unknown as { parentPort?: { postMessage(m: unknown): void; on(e: 'message', l: (m: { data: unknown }) => void): void } }).parentPort;
      if (process.env.CIPHERCARE_IPC_REPORT === '1' && (parentPort || process.send)) {
        // Launched by the app: report over the IPC channel (never a terminal or a log), and stop
        // when the parent asks or goes away.
        const report = { type: 'listening', url: service.url, token: service.token };
        if (parentPort) {
          parentPort.postMessage(report);
          parentPort.on('message', (m) => {
            if ((m.data as { type?: string }).type === 'stop') stop();
          });
        } else {
          process.send!(report);
          process.on('message', (m: unknown) => {
            if ((m as { type?: string }).type === 'stop') stop();
          });
          process.once('disconnect', stop);
        }
      } else {
        process.stdout.write(`CipherCare evaluation service listening on ${service.url}\n`);
        if (service.token) process.stdout.write(`bearer token for this launch: ${service.token}\n`);
      }
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
}

/** Runs `service` with command-line arguments (without the node and script entries). */
export function runServiceCli(args: string[]): void {
  serviceCommand()
    .parseAsync(['node', 'service', ...args])
    .catch((err: unknown) => {
      process.stderr.write(`ciphercare service: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    });
}

