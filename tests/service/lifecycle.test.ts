import { afterEach, describe, expect, it } from 'vitest';
import { Routes, argmax, referenceForward } from '../../he-core/index.js';
import type { HealthResponse } from '../../he-core/index.js';
import type { RunningService } from '../../mock-service/service.js';
import { loadBundledModel } from '../encrypted/harness.js';
import { TestClient, call, catalogOf, problemOf, startTestService } from './harness.js';

const mnist = loadBundledModel('mnist-cnn');
const image = mnist.testVectors[0]!.input;
const bc = loadBundledModel('breast-cancer');

function sameClass(out: Float64Array): boolean {
  return argmax(out) === argmax(referenceForward(mnist, image));
}

describe('service lifecycle under load', () => {
  let service: RunningService | undefined;
  afterEach(async () => {
    await service?.close();
    service = undefined;
  });

  it('answers health and the catalog while every worker is busy', async () => {
    service = await startTestService({ workers: 1 });
    const entry = (await catalogOf(service)).find((m) => m.id === mnist.id)!;
    const client = new TestClient(service, entry, 'single');
    try {
      await client.open();
      const body = client.encrypt([image]);
      const work = Promise.all([0, 1, 2, 3].map(() => client.post(body)));
      await new Promise((r) => setTimeout(r, 100));
      const started = performance.now();
      const health = await call(service, 'GET', Routes.health);
      const catalog = await call(service, 'GET', Routes.models);
      const ms = performance.now() - started;
      expect(health.status).toBe(200);
      expect(catalog.status).toBe(200);
      expect((JSON.parse(Buffer.from(health.body).toString()) as HealthResponse).workers.busy).toBe(1);
      // Well under one evaluation (~400 ms each, four queued): the main thread never evaluates.
      expect(ms).toBeLessThan(400);
      for (const r of await work) expect(sameClass(client.decrypt(r.body, 1)[0]!)).toBe(true);
    } finally {
      client.close();
    }
  }, 120_000);

  it('answers 503 overloaded with Retry-After beyond the queue, and serves the rest', async () => {
    service = await startTestService({ workers: 1, maxQueue: 1 });
    const entry = (await catalogOf(service)).find((m) => m.id === mnist.id)!;
    const client = new TestClient(service, entry, 'single');
    try {
      await client.open();
      const body = client.encrypt([image]);
      const results = await Promise.all([0, 1, 2, 3, 4, 5].map(() => client.post(body)));
      const refused = results.filter((r) => r.status === 503);
      const served = results.filter((r) => r.status === 200);
      expect(refused.length).toBeGreaterThan(0);
      expect(served.length).toBeGreaterThan(0);
      expect(refused.length + served.length).toBe(6);
      for (const r of refused) {
        expect(problemOf(r).code).toBe('overloaded');
        expect(Number(r.headers['retry-after'])).toBeGreaterThan(0);
      }
      for (const r of served) expect(sameClass(client.decrypt(r.body, 1)[0]!)).toBe(true);
    } finally {
      client.close();
    }
  }, 120_000);

  it('stops an evaluation past the time limit, replaces the worker and keeps serving', async () => {
    service = await startTestService({ workers: 1, jobTimeoutMs: 150 });
    const catalog = await catalogOf(service);
    const slow = new TestClient(service, catalog.find((m) => m.id === mnist.id)!, 'batch');
    const fast = new TestClient(service, catalog.find((m) => m.id === bc.id)!, 'single');
    try {
      await fast.open();
      await slow.open();
      const timedOut = await slow.post(slow.encrypt([image, image]));
      expect(timedOut.status).toBe(503);
      expect(problemOf(timedOut).code).toBe('evaluation_timeout');
      const sample = bc.testVectors[0]!.input;
      const out = (await fast.predict([sample]))[0]!;
      expect(Math.abs(out[0]! - referenceForward(bc, sample)[0]!)).toBeLessThan(bc.testVectors[0]!.tolerance);
    } finally {
      slow.close();
      fast.close();
    }
  }, 120_000);

  it('lets in-flight work finish on shutdown and refuses new work', async () => {
    service = await startTestService({ workers: 1 });
    const entry = (await catalogOf(service)).find((m) => m.id === mnist.id)!;
    const client = new TestClient(service, entry, 'single');
    try {
      await client.open();
      const body = client.encrypt([image]);
      const inFlight = Promise.all([client.post(body), client.post(body)]);
      await new Promise((r) => setTimeout(r, 100));
      const closing = service.close();
      const late = await call(service, 'GET', Routes.models).catch(() => null);
      if (late) {
        expect(late.status).toBe(503);
        expect(problemOf(late).code).toBe('shutting_down');
      }
      for (const r of await inFlight) {
        expect(r.status).toBe(200);
        expect(sameClass(client.decrypt(r.body, 1)[0]!)).toBe(true);
      }
      await closing;
      service = undefined;
    } finally {
      client.close();
    }
  }, 120_000);
});
