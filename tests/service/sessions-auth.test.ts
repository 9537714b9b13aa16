import { afterEach, describe, expect, it } from 'vitest';
import { Routes } from '../../he-core/index.js';
import type { SessionResponse } from '../../he-core/index.js';
import type { RunningService } from '../../mock-service/service.js';
import { referenceForward } from '../../he-core/index.js';
import { MemorySessionStore } from '../../mock-service/sessions/memory-store.js';
import { loadBundledModel } from '../encrypted/harness.js';
import { TestClient, call, catalogOf, problemOf, startTestService } from './harness.js';

const model = loadBundledModel('breast-cancer');
const sample = model.testVectors[0]!.input;

function expectCorrect(out: Float64Array): void {
  // Tolerance: the model's published test-vector tolerance.
  expect(Math.abs(out[0]! - referenceForward(model, sample)[0]!)).toBeLessThan(model.testVectors[0]!.tolerance);
}

describe('authentication and sessions', () => {
  let service: RunningService | undefined;
  afterEach(async () => {
    await service?.close();
    service = undefined;
  });

  it('refuses requests without a token or with a wrong one, but answers health', async () => {
    service = await startTestService({ workers: 1 });
    const none = await call(service, 'GET', Routes.models, undefined, { authorization: '' });
    expect(none.status).toBe(401);
    expect(problemOf(none).code).toBe('unauthorized');
    expect(none.headers['content-type']).toContain('application/problem+json');
    const wrong = await call(service, 'GET', Routes.models, undefined, { authorization: 'Bearer wrong-token-wrong-token-wrong' });
    expect(wrong.status).toBe(401);
    const alsoWrong = await call(service, 'GET', Routes.models, undefined, { authorization: `Bearer ${service.token}x` });
    expect(alsoWrong.status).toBe(401);
    expect((await call(service, 'GET', Routes.health, undefined, { authorization: '' })).status).toBe(200);
    expect((await call(service, 'GET', Routes.models)).status).toBe(200);
    expect(service.url.startsWith('http://127.0.0.1:')).toBe(true);
    // Another Host than the loopback address is refused (DNS rebinding).
    expect((await call(service, 'GET', Routes.models, undefined, { host: `evil.example:${service.port}` })).status).toBe(400);
  });

  it('gives the same session for the same keys, forgets keys on DELETE, and 404 session_not_found after', async () => {
    service = await startTestService({ workers: 1 });
    const entry = (await catalogOf(service)).find((m) => m.id === model.id)!;
    const client = new TestClient(service, entry, 'single');
    try {
      const first = await client.open();
      const second: SessionResponse = await client.upload();
      expect(first.reused).toBe(false);
      expect(second.reused).toBe(true);
      expect(second.sessionId).toBe(first.sessionId);
      expectCorrect((await client.predict([sample]))[0]!);
      expect((await call(service, 'DELETE', Routes.session(first.sessionId))).status).toBe(204);
      const gone = await client.post(client.encrypt([sample]));
      expect(gone.status).toBe(404);
      expect(problemOf(gone).code).toBe('session_not_found');
      // The client's recovery: upload the keys again and retry.
      await client.upload();
      expectCorrect((await client.predict([sample]))[0]!);
    } finally {
      client.close();
    }
  }, 120_000);

  it('expires sessions after their time-to-live', async () => {
    service = await startTestService({ workers: 1, sessionTtlMs: 400 });
    const entry = (await catalogOf(service)).find((m) => m.id === model.id)!;
    const client = new TestClient(service, entry, 'single');
    try {
      await client.open();
      expectCorrect((await client.predict([sample]))[0]!);
      await new Promise((r) => setTimeout(r, 900));
      const expired = await client.post(client.encrypt([sample]));
      expect(expired.status).toBe(404);
      expect(problemOf(expired).code).toBe('session_not_found');
    } finally {
      client.close();
    }
  }, 120_000);

  it('evicts the least recently used session beyond the memory bound', async () => {
    service = await startTestService({ workers: 1 });
    const entry = (await catalogOf(service)).find((m) => m.id === model.id)!;
    const probe = new TestClient(service, entry, 'single');
    await probe.open();
    const keyBytes = probe.keyEnvelope.byteLength;
    probe.close();
    await service.close();
    // A store with room for two sessions' keys, not three (the service's own budget must hold one
    // envelope of every bundled model, mnist-cnn's included; key-memory.test.ts tests that budget).
    service = await startTestService({ workers: 1, sessionStore: new MemorySessionStore({ ttlMs: 60_000, maxBytes: Math.floor(keyBytes * 2.5) }) });
    const clients = [0, 1, 2].map(() => new TestClient(service!, entry, 'single'));
    try {
      for (const c of clients) await c.open();
      const oldest = await clients[0]!.post(clients[0]!.encrypt([sample]));
      expect(oldest.status).toBe(404);
      expect(problemOf(oldest).code).toBe('session_not_found');
      expectCorrect((await clients[1]!.predict([sample]))[0]!);
      expectCorrect((await clients[2]!.predict([sample]))[0]!);
    } finally {
      clients.forEach((c) => c.close());
    }
  }, 120_000);

  it('refuses unknown models and sessions with stable codes', async () => {
    service = await startTestService({ workers: 1 });
    const unknownModel = await call(service, 'POST', `${Routes.sessions}?model=nope&mode=single`, new Uint8Array(10));
    expect(unknownModel.status).toBe(404);
    expect(problemOf(unknownModel).code).toBe('model_not_found');
    const unknownSession = await call(service, 'POST', Routes.predictions('AAAAAAAAAAAAAAAA'), new Uint8Array(10));
    expect(unknownSession.status).toBe(404);
    expect(problemOf(unknownSession).code).toBe('session_not_found');
    // A protocol-relative path must not route as its tail.
    const relative = await call(service, 'GET', '//anything/v1/models');
    expect(relative.status).toBe(404);
    const badRoute = await call(service, 'GET', '/v2/anything');
    expect(badRoute.status).toBe(404);
    expect(problemOf(badRoute).code).toBe('not_found');
  });
});
