import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectRedis } from '../../mock-service/distributed/redis.js';
import { RedisSessionStore } from '../../mock-service/sessions/redis-store.js';
import type { SessionRecord } from '../../mock-service/sessions/session-store.js';
import { startRedis } from '../../scripts/distributed/cluster.js';
import type { RedisServer } from '../../scripts/distributed/cluster.js';

// The Redis session store against a real redis-server on a free loopback port (no persistence).
describe('RedisSessionStore', () => {
  let server: RedisServer;
  let store: RedisSessionStore;
  const TTL = 400;

  beforeAll(async () => {
    server = await startRedis();
    store = new RedisSessionStore(connectRedis(server.url, 'store-test'), { ttlMs: TTL, prefix: 'test' });
  });
  afterAll(async () => {
    await store?.close();
    await server?.stop();
  });

  function record(id: string, now: number, bytes = 1000): SessionRecord {
    const keys = new Uint8Array(bytes).map((_, i) => i % 251);
    return { id, principal: 'key:abc', modelId: 'm', mode: 'single', fingerprint: 'f', keyBytes: bytes, keys, createdAt: now, lastUsedAt: now, expiresAt: now + TTL };
  }

  it('keeps the details and the key bytes, slides the expiry on use, and forgets after the time-to-live', async () => {
    const now = Date.now();
    await store.put(record('s1', now));
    const info = await store.touch('s1', now);
    expect(info).toMatchObject({ id: 's1', principal: 'key:abc', modelId: 'm', mode: 'single', keyBytes: 1000 });
    expect(info).not.toHaveProperty('keys');
    expect(Array.from((await store.keys('s1'))!.subarray(0, 5))).toEqual([0, 1, 2, 3, 4]);
    expect(await store.stats()).toEqual({ sessions: 1, bytes: 1000 });
    // Used every 250 ms (under the 400 ms time-to-live): still there after 750 ms.
    for (let i = 0; i < 3; i++) {
      await new Promise((r) => setTimeout(r, 250));
      expect(await store.touch('s1', Date.now())).toBeDefined();
    }
    await new Promise((r) => setTimeout(r, TTL + 150));
    expect(await store.touch('s1', Date.now())).toBeUndefined();
    expect(await store.keys('s1')).toBeUndefined();
    expect(await store.sweep(Date.now())).toEqual(['s1']);
    expect(await store.stats()).toEqual({ sessions: 0, bytes: 0 });
  });

  it('treats a session whose keys were evicted as gone, and deletes on request', async () => {
    const redis = connectRedis(server.url, 'store-test-evict');
    try {
      await store.put(record('s2', Date.now()));
      await redis.del('test:session:s2:keys');
      expect(await store.touch('s2', Date.now())).toBeUndefined();
      expect(await redis.exists('test:session:s2')).toBe(0);
      await store.put(record('s3', Date.now()));
      expect(await store.delete('s3')).toBe(true);
      expect(await store.delete('s3')).toBe(false);
    } finally {
      await redis.quit();
    }
  });
});
