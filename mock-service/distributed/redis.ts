// Redis connections and every key and channel name the distributed roles share, in one place.
import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';

/**
 * A connection to Redis. `maxRetriesPerRequest: null` is what BullMQ requires (a command waits
 * for a reconnect instead of failing); the URL is never logged (it may carry a password).
 */
export function connectRedis(url: string, name: string): Redis {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error('--redis takes a URL such as redis://127.0.0.1:6379');
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') throw new Error(`--redis takes a redis:// or rediss:// URL (got ${parsed.protocol}//)`);
  return new Redis(url, { maxRetriesPerRequest: null, connectionName: name, lazyConnect: false });
}

/** Waits until a connection answers PING, with a message naming the problem when it does not. */
export async function checkRedis(redis: Redis, what: string, timeoutMs = 10_000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: Redis did not answer within ${timeoutMs} ms (is redis-server running at the --redis address?)`)), timeoutMs);
  });
  try {
    await Promise.race([redis.ping(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Every Redis name of one deployment, under one prefix (several deployments can share a Redis). */
export class Keyspace {
  constructor(readonly prefix: string) {}

  /** BullMQ's own prefix for its queue keys. */
  get bullPrefix(): string {
    return `${this.prefix}:bull`;
  }
  shardQueue(shard: number): string {
    return `shard-${shard}`;
  }
  get overflowQueue(): string {
    return 'overflow';
  }
  /** A prediction's request body while its job waits or runs. */
  body(jobId: string): string {
    return `${this.prefix}:job:${jobId}:body`;
  }
  /** The answer's envelope. */
  result(jobId: string): string {
    return `${this.prefix}:job:${jobId}:result`;
  }
  /** The outcome (JobOutcome JSON): success or the error, runs, times. */
  outcome(jobId: string): string {
    return `${this.prefix}:job:${jobId}:outcome`;
  }
  /** How many times a worker started the job. */
  runs(jobId: string): string {
    return `${this.prefix}:job:${jobId}:runs`;
  }
  /** Live workers: sorted set, member = worker id, score = last heartbeat (ms). */
  get members(): string {
    return `${this.prefix}:workers`;
  }
  /** A worker's heartbeat details (JSON), expiring with it. */
  member(id: string): string {
    return `${this.prefix}:worker:${id}`;
  }
  /** Channel: a job was queued on the named queue. */
  get doorbell(): string {
    return `${this.prefix}:doorbell`;
  }
  /** Channel: a front's jobs finished (message: the job id). */
  done(frontId: string): string {
    return `${this.prefix}:done:${frontId}`;
  }
  /** Channel: sessions deleted (message: JSON list of ids); workers free their keys. */
  get forget(): string {
    return `${this.prefix}:forget`;
  }
}

/** How often a worker renews its heartbeat. */
export const HEARTBEAT_MS = 500;
/** A worker's heartbeat older than this means it is gone: its shards go to the others. */
export const MEMBER_STALE_MS = 3_000;

function hash32(text: string): number {
  return createHash('sha256').update(text).digest().readUInt32BE(0);
}

/** The shard queue of a session: a hash of its id. */
export function shardOf(sessionId: string, shards: number): number {
  return hash32(`shard\0${sessionId}`) % shards;
}

/**
 * The workers that serve a shard: the `replicas` live workers with the highest rendezvous score.
 * When a worker joins or leaves, only the shards it serves (or will serve) change hands.
 */
export function servingWorkers(shard: number, members: readonly string[], replicas: number): string[] {
  return [...members]
    .map((id) => ({ id, score: hash32(`${shard}\0${id}`) }))
    .sort((a, b) => b.score - a.score || (a.id < b.id ? -1 : 1))
    .slice(0, replicas)
    .map((m) => m.id);
}
