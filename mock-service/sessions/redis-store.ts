import type { Redis } from 'ioredis';
import type { PlanMode } from '../../he-core/index.js';
import type { SessionInfo, SessionRecord, SessionStore, StoreStats } from './session-store.js';

export interface RedisStoreOptions {
  /** Sliding time-to-live of a session (Redis expires it). */
  ttlMs: number;
  /** Key prefix of this deployment. */
  prefix: string;
}

/**
 * Sessions in Redis, shared by every front and worker: the details as JSON and the key envelope
 * as a binary value, both expiring after `ttlMs` without use. An index (sorted set by expiry)
 * counts them for the metrics and lets a sweep report the expired ones. Redis may evict a
 * session under memory pressure (allkeys-lru on a session instance): then it is simply gone and
 * the client uploads its keys again, as after an expiry.
 */
export class RedisSessionStore implements SessionStore {
  constructor(
    private readonly redis: Redis,
    private readonly options: RedisStoreOptions,
  ) {}

  private infoKey(id: string): string {
    return `${this.options.prefix}:session:${id}`;
  }
  private keysKey(id: string): string {
    return `${this.options.prefix}:session:${id}:keys`;
  }
  private get index(): string {
    return `${this.options.prefix}:sessions`;
  }
  private get sizes(): string {
    return `${this.options.prefix}:session-bytes`;
  }

  async touch(id: string, now: number): Promise<SessionInfo | undefined> {
    const ttl = this.options.ttlMs;
    const expiresAt = now + ttl;
    // One script: the expiry slides only for a session that is still whole (an expired one must
    // keep its old index score, so that the sweep reports it and the workers free its keys).
    const text = (await this.redis.eval(TOUCH, 3, this.infoKey(id), this.keysKey(id), this.index, String(ttl), id, String(expiresAt))) as string | null;
    if (text === null) return undefined;
    const info = parseInfo(text, id);
    info.lastUsedAt = now;
    info.expiresAt = expiresAt;
    return info;
  }

  async keys(id: string): Promise<Uint8Array | undefined> {
    const bytes = await this.redis.getBuffer(this.keysKey(id));
    return bytes ? new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) : undefined;
  }

  async put(record: SessionRecord): Promise<string[]> {
    const ttl = this.options.ttlMs;
    const { keys, ...info } = record;
    info.expiresAt = record.lastUsedAt + ttl;
    record.expiresAt = info.expiresAt;
    await this.redis
      .multi()
      .set(this.keysKey(record.id), Buffer.from(keys.buffer, keys.byteOffset, keys.byteLength), 'PX', ttl)
      .set(this.infoKey(record.id), JSON.stringify(info), 'PX', ttl)
      .zadd(this.index, info.expiresAt, record.id)
      .hset(this.sizes, record.id, String(keys.byteLength))
      .exec();
    // Redis applies its own memory policy; nothing is evicted here.
    return [];
  }

  async delete(id: string): Promise<boolean> {
    const replies = await this.redis.multi().del(this.infoKey(id), this.keysKey(id)).zrem(this.index, id).hdel(this.sizes, id).exec();
    return Boolean(replies && (replies[0]![1] as number) > 0);
  }

  async sweep(now: number): Promise<string[]> {
    const expired = await this.redis.zrangebyscore(this.index, '-inf', now);
    if (expired.length === 0) return [];
    await this.redis.multi().zrem(this.index, ...expired).hdel(this.sizes, ...expired).exec();
    return expired;
  }

  async stats(): Promise<StoreStats> {
    const [sessions, sizes] = await Promise.all([this.redis.zcount(this.index, Date.now(), '+inf'), this.redis.hvals(this.sizes)]);
    return { sessions, bytes: sizes.reduce((a, v) => a + Number(v), 0) };
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => undefined);
  }
}

/** KEYS: details, keys, index. ARGV: ttl ms, id, new expiry. Returns the details, or nil when the session is gone. */
const TOUCH = `
local info = redis.call('GET', KEYS[1])
if not info then return false end
if redis.call('PEXPIRE', KEYS[2], ARGV[1]) == 0 then
  redis.call('DEL', KEYS[1])
  return false
end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[2])
return info
`;

function parseInfo(text: string, id: string): SessionInfo {
  const v = JSON.parse(text) as Partial<SessionInfo>;
  const modes: readonly PlanMode[] = ['single', 'batch'];
  if (v.id !== id || typeof v.principal !== 'string' || typeof v.modelId !== 'string' || !modes.includes(v.mode as PlanMode) || typeof v.fingerprint !== 'string' || typeof v.keyBytes !== 'number' || typeof v.createdAt !== 'number') {
    throw new Error(`session ${id} in Redis is not one this service wrote`);
  }
  return v as SessionInfo;
}
