import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBreastCancer } from '../../scripts/datasets/breast-cancer.js';
import type { RunningService } from '../../mock-service/service.js';
import { compare, loadBundledModel } from '../encrypted/harness.js';
import { TestClient, catalogOf, startTestService } from './harness.js';

// 16 clients, each with its own keys and session, 10 encrypted predictions each, all at once.
// Every answer must give the plaintext reference's class, logits within 1e-2.
const CLIENTS = 16;
const PREDICTIONS = 10;

describe('16 concurrent clients x 10 predictions', () => {
  let service: RunningService;
  beforeAll(async () => {
    service = await startTestService({ maxQueue: 64 });
  });
  afterAll(async () => service?.close());

  it('answers every prediction correctly', async () => {
    const model = loadBundledModel('breast-cancer-mlp');
    const entry = (await catalogOf(service)).find((m) => m.id === model.id)!;
    const rows = loadBreastCancer().test.x;
    const clients = Array.from({ length: CLIENTS }, () => new TestClient(service, entry, 'single'));
    try {
      const sessions = await Promise.all(clients.map((c) => c.open()));
      expect(new Set(sessions.map((s) => s.sessionId)).size).toBe(CLIENTS);
      const results = await Promise.all(
        clients.map(async (client, c) => {
          const xs = Array.from({ length: PREDICTIONS }, (_, i) => rows[(c * PREDICTIONS + i) % rows.length]!);
          const outputs: Float64Array[] = [];
          for (const x of xs) outputs.push((await client.predict([x]))[0]!);
          return compare(model, xs, outputs);
        }),
      );
      for (const r of results) {
        expect(r.sameClass).toBe(PREDICTIONS);
        expect(r.maxOutputError).toBeLessThan(1e-2);
      }
    } finally {
      clients.forEach((c) => c.close());
    }
  }, 300_000);
});
