// Issue 15: the key cache's accounting bounds what the service really holds. A session's keys are
// held twice over: the envelope in the store and a loaded SEAL copy in each worker that used them
// (about 3× the envelope). `sessionCacheBytes` bounds both (mock-service/pool/key-bytes.ts).
import { afterEach, describe, expect, it } from 'vitest';
import { HeContext, compile, encodeKeyEnvelope, loadSeal, openKeyEnvelope, referenceForward } from '../../he-core/index.js';
import type { CatalogModel } from '../../he-core/index.js';
import { ClientKeyPair } from '../../he-core/client/index.js';
import { keyBudget, loadedKeyBytes } from '../../mock-service/pool/key-bytes.js';
import type { RunningService } from '../../mock-service/service.js';
import { MemorySessionStore } from '../../mock-service/sessions/memory-store.js';
import { loadBundledModel } from '../encrypted/harness.js';
import { TestClient, call, catalogOf, startTestService } from './harness.js';

const MiB = 2 ** 20;
const mlp = loadBundledModel('breast-cancer-mlp');
const sample = mlp.testVectors[0]!.input;

async function metrics(service: RunningService): Promise<Map<string, number>> {
  const res = await call(service, 'GET', '/v1/metrics');
  const out = new Map<string, number>();
  for (const line of Buffer.from(res.body).toString('utf8').split('\n')) {
    const m = /^([a-z_]+) (\S+)$/.exec(line);
    if (m) out.set(m[1]!, Number(m[2]));
  }
  return out;
}

function expectCorrect(out: Float64Array): void {
  expect(Math.abs(out[0]! - referenceForward(mlp, sample)[0]!)).toBeLessThan(mlp.testVectors[0]!.tolerance);
}

describe('loadedKeyBytes', () => {
  it('is what SEAL holds once it has loaded a key envelope (about 3× the envelope)', async () => {
    const rt = await loadSeal();
    for (const id of ['breast-cancer-mlp', 'mnist-cnn', 'breast-cancer']) {
      const plan = compile(rt.seal, loadBundledModel(id), { mode: 'single' }).public;
      const ctx = HeContext.create(rt, plan.params);
      const pair = ClientKeyPair.generate(ctx);
      try {
        const generated = pair.createEvaluationKeys(plan);
        const envelope = encodeKeyEnvelope(plan.params.fingerprint, generated.relin, generated.galois);
        const keys = openKeyEnvelope(ctx, plan, envelope);
        // The loaded keys saved uncompressed: every coefficient as SEAL holds it, 8 bytes each.
        const held = (keys.relin ? (keys.relin.saveToArray(rt.seal.ComprModeType.none) as Uint8Array).byteLength : 0) + (keys.galois ? (keys.galois.saveToArray(rt.seal.ComprModeType.none) as Uint8Array).byteLength : 0);
        keys.dispose();
        const computed = loadedKeyBytes(plan);
        // Never less than SEAL's own count; a little more (its in-memory table of Galois key slots).
        expect(computed, id).toBeGreaterThanOrEqual(held);
        expect(computed / held, id).toBeLessThan(1.05);
        expect(computed / envelope.byteLength, id).toBeGreaterThan(2.5);
      } finally {
        pair.dispose();
        ctx.dispose();
      }
    }
  }, 120_000);
});

describe('keyBudget', () => {
  const plans = [
    { modelId: 'mnist-cnn', mode: 'single', plan: { params: { polyModulusDegree: 8192, primes: [1, 2, 3, 4, 5, 6, 7] }, galoisSteps: [1, 8, 64, 512], relinearization: true } },
    { modelId: 'breast-cancer', mode: 'batch', plan: { params: { polyModulusDegree: 4096, primes: [1, 2, 3] }, galoisSteps: [], relinearization: false } },
  ] as unknown as Parameters<typeof keyBudget>[0]['plans'];
  const largest = loadedKeyBytes(plans[0]!.plan);

  it('gives half of the bytes to the store and half to the workers by default, or what the operator sets', () => {
    expect(keyBudget({ sessionCacheBytes: 512 * MiB, workers: 2, plans, storeInMemory: true })).toEqual({ storeBytes: 256 * MiB, workerBytes: 128 * MiB, workers: 2, totalBytes: 512 * MiB });
    expect(keyBudget({ sessionCacheBytes: 512 * MiB, workerKeyCacheBytes: 64 * MiB, workers: 2, plans, storeInMemory: true })).toEqual({ storeBytes: 384 * MiB, workerBytes: 64 * MiB, workers: 2, totalBytes: 512 * MiB });
    // The default: 1 GiB, or enough for two of the largest sets in each of many workers.
    expect(keyBudget({ workers: 2, plans, storeInMemory: true })).toEqual({ storeBytes: 512 * MiB, workerBytes: 256 * MiB, workers: 2, totalBytes: 1024 * MiB });
    const many = keyBudget({ workers: 16, plans, storeInMemory: true });
    expect(many.workerBytes).toBe(2 * largest);
    expect(many.storeBytes).toBe(16 * 2 * largest);
    // Sessions in Redis: the bound is the workers' loaded keys; a front loads none.
    expect(keyBudget({ sessionCacheBytes: 512 * MiB, workers: 2, plans, storeInMemory: false }).totalBytes).toBe(256 * MiB);
    expect(keyBudget({ sessionCacheBytes: 512 * MiB, workers: 0, plans, storeInMemory: false }).totalBytes).toBe(0);
  });

  it('refuses a budget that cannot hold one session of every model, naming the option', () => {
    expect(() => keyBudget({ sessionCacheBytes: Number('12x'), workers: 2, plans, storeInMemory: true })).toThrow(/--session-cache-bytes takes a positive whole number of bytes \(got NaN\)/);
    expect(() => keyBudget({ sessionCacheBytes: -1, workers: 2, plans, storeInMemory: true })).toThrow(/--session-cache-bytes takes a positive/);
    expect(() => keyBudget({ sessionCacheBytes: 512 * MiB, workerKeyCacheBytes: 0.5, workers: 2, plans, storeInMemory: true })).toThrow(/--worker-key-cache-bytes takes a positive/);
    // Half of 64 MiB shared by 2 workers: 16 MiB each, less than one mnist-cnn key set (26.4 MiB).
    expect(() => keyBudget({ sessionCacheBytes: 64 * MiB, workers: 2, plans, storeInMemory: true })).toThrow(/one loaded key set of mnist-cnn\/single \(26\.4 MiB\), but gets 16\.0 MiB .*raise --session-cache-bytes/);
    expect(() => keyBudget({ sessionCacheBytes: 512 * MiB, workerKeyCacheBytes: largest - 1, workers: 2, plans, storeInMemory: true })).toThrow(/\(--worker-key-cache-bytes\): raise it/);
    // The workers take everything: no room left for the envelopes.
    expect(() => keyBudget({ sessionCacheBytes: 64 * MiB, workerKeyCacheBytes: 32 * MiB, workers: 2, plans, storeInMemory: true })).toThrow(/leaves 0\.0 MiB for the session store/);
  });
});

describe('the service bounds the loaded keys', () => {
  let service: RunningService | undefined;
  afterEach(async () => {
    await service?.close();
    service = undefined;
  });

  it('refuses to start on a bad budget before it touches the store: what is stored stays', async () => {
    const store = new MemorySessionStore({ ttlMs: 60_000, maxBytes: 10 * MiB });
    const now = Date.now();
    await store.put({ id: 'kept', principal: 'bundled', modelId: 'breast-cancer', mode: 'single', fingerprint: 'f', keyBytes: 3, keys: new Uint8Array(3), createdAt: now, lastUsedAt: now, expiresAt: now + 60_000 });
    await expect(startTestService({ workers: 2, sessionCacheBytes: 40 * MiB, sessionStore: store })).rejects.toThrow(/one loaded key set of mnist-cnn\/single/);
    expect(await store.stats()).toEqual({ sessions: 1, bytes: 3 });
    expect(await store.keys('kept')).toEqual(new Uint8Array(3));
  }, 60_000);

  it('keeps each worker within its bytes of loaded keys, with real keys, and reloads evicted keys from the store', async () => {
    const perSet = loadedKeyBytes(compile((await loadSeal()).seal, mlp, { mode: 'single' }).public);
    // Each of the 2 workers: room for two loaded breast-cancer-mlp key sets (2 × 15.2 MiB), not three;
    // the entry bound is out of the way, so that bytes decide. The store: every envelope (8 × 4.8 MiB).
    const workerBytes = 2 * perSet + MiB;
    const limit = 2 * workerBytes + 48 * MiB;
    service = await startTestService({ workers: 2, workerKeyCacheEntries: 64, workerKeyCacheBytes: workerBytes, sessionCacheBytes: limit });
    const entry: CatalogModel = (await catalogOf(service)).find((m) => m.id === mlp.id)!;
    const idle = await metrics(service);
    expect(idle.get('ciphercare_key_memory_limit_bytes')).toBe(limit);
    expect(idle.get('ciphercare_worker_key_bytes_limit')).toBe(workerBytes);
    const clients = Array.from({ length: 8 }, () => new TestClient(service!, entry, 'single'));
    try {
      // Two at a time, so that both workers load keys (each session: loaded when opened, then used).
      for (let i = 0; i < clients.length; i += 2) {
        await Promise.all(clients.slice(i, i + 2).map(async (c) => {
          await c.open();
          expectCorrect((await c.predict([sample]))[0]!);
        }));
      }
      const full = await metrics(service);
      expect(full.get('ciphercare_sessions')).toBe(8);
      const workerKeyBytes = full.get('ciphercare_worker_key_bytes')!;
      expect(full.get('ciphercare_worker_key_sets')).toBeLessThanOrEqual(4);
      expect(workerKeyBytes).toBeLessThanOrEqual(2 * workerBytes);
      expect(workerKeyBytes).toBe(full.get('ciphercare_worker_key_sets')! * perSet);
      expect(full.get('ciphercare_key_memory_bytes')).toBe(full.get('ciphercare_session_cache_bytes')! + workerKeyBytes);
      expect(full.get('ciphercare_key_memory_bytes')).toBeLessThanOrEqual(full.get('ciphercare_key_memory_limit_bytes')!);
      // The real memory: no worker's WebAssembly heap grew by more than its bound plus a fixed 40 MiB
      // (a load's transient copies of the keys, the first evaluation's workspace, the heap's growth
      // steps: 17–35 MiB measured). Unbounded, one worker would hold at least 4 of the 8 sets (≥ 61 MiB of keys).
      const slack = 40 * MiB;
      const grown = full.get('ciphercare_worker_heap_bytes_max')! - idle.get('ciphercare_worker_heap_bytes_max')!;
      expect(grown).toBeLessThanOrEqual(workerBytes + slack);
      // The first sessions' keys were freed in the workers, not lost: they load again from the store.
      for (const c of clients.slice(0, 2)) expectCorrect((await c.predict([sample]))[0]!);
      const after = await metrics(service);
      expect(after.get('ciphercare_worker_key_bytes')).toBeLessThanOrEqual(2 * workerBytes);
      expect(after.get('ciphercare_worker_heap_bytes_max')! - idle.get('ciphercare_worker_heap_bytes_max')!).toBeLessThanOrEqual(workerBytes + slack);
    } finally {
      clients.forEach((c) => c.close());
    }
  }, 240_000);
});
