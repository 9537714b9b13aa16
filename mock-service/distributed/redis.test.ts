import { describe, expect, it } from 'vitest';
import { checkDistributedOptions, resolveOptions } from '../config.js';
import { servingWorkers, shardOf } from './redis.js';

describe('shards and rendezvous hashing', () => {
  const workers = ['w-a', 'w-b', 'w-c', 'w-d'];

  it('sends a session to one shard, the same every time, and spreads sessions over the shards', () => {
    const counts = new Array<number>(8).fill(0);
    for (let i = 0; i < 800; i++) {
      const shard = shardOf(`session-${i}`, 8);
      expect(shardOf(`session-${i}`, 8)).toBe(shard);
      counts[shard]!++;
    }
    // 100 per shard on average; a hash keeps every shard within a factor of 2 at this size.
    for (const c of counts) expect(c).toBeGreaterThan(50);
  });

  it('gives each shard `replicas` workers, whatever order the worker list comes in', () => {
    for (let shard = 0; shard < 8; shard++) {
      const chosen = servingWorkers(shard, workers, 2);
      expect(chosen).toHaveLength(2);
      expect(servingWorkers(shard, [...workers].reverse(), 2)).toEqual(chosen);
    }
    expect(servingWorkers(0, ['only'], 2)).toEqual(['only']);
  });

  it('moves only the shards of a worker that leaves', () => {
    const before = Array.from({ length: 64 }, (_, s) => servingWorkers(s, workers, 2));
    const after = Array.from({ length: 64 }, (_, s) => servingWorkers(s, workers.filter((w) => w !== 'w-c'), 2));
    for (let s = 0; s < 64; s++) {
      const kept = before[s]!.filter((w) => w !== 'w-c');
      // The workers that stay keep the shards they had; w-c's place goes to one other worker.
      for (const w of kept) expect(after[s]).toContain(w);
      if (!before[s]!.includes('w-c')) expect(after[s]).toEqual(before[s]);
    }
  });
});

describe('distributed options', () => {
  it('refuses --role and --session-redis without --redis, and out-of-range numbers by flag name', () => {
    expect(() => checkDistributedOptions(resolveOptions({ mode: 'bundled', role: 'front' }))).toThrow('--role needs --redis');
    expect(() => checkDistributedOptions(resolveOptions({ mode: 'bundled', sessionRedis: 'redis://x:1' }))).toThrow('--session-redis needs --redis');
    expect(() => checkDistributedOptions(resolveOptions({ mode: 'bundled', redis: 'redis://x:1', shards: 0 }))).toThrow('--shards takes an integer from 1 to 1024');
    expect(() => checkDistributedOptions(resolveOptions({ mode: 'bundled', redis: 'redis://x:1', jobLockMs: 10 }))).toThrow('--job-lock-ms');
    expect(() => checkDistributedOptions(resolveOptions({ mode: 'bundled', redis: 'redis://x:1' }))).not.toThrow();
    expect(() => checkDistributedOptions(resolveOptions({ mode: 'bundled' }))).not.toThrow();
  });
});
