import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBreastCancer } from '../../scripts/datasets/breast-cancer.js';
import { loadDiabetes } from '../../scripts/datasets/diabetes.js';
import { loadMnist } from '../../scripts/datasets/mnist.js';
import type { RunningService } from '../../mock-service/service.js';
import { compare, loadBundledModel } from '../encrypted/harness.js';
import { TestClient, catalogOf, startTestService } from './harness.js';

// Every bundled model through the real service on 127.0.0.1, with he-core as the client working
// from the catalog's public plan only. Tolerances: same class as the plaintext reference on every
// sample; raw outputs within 1e-2 (the models' published test-vector tolerance).
const inputs: Record<string, () => number[][]> = {
  'breast-cancer': () => loadBreastCancer().test.x.slice(0, 20),
  'breast-cancer-mlp': () => loadBreastCancer().test.x.slice(0, 20),
  'diabetes-progression': () => loadDiabetes().test.x.slice(0, 20),
  'mnist-cnn': () => loadMnist().test.x.slice(0, 6),
};

describe('every bundled model end to end through the service', () => {
  let service: RunningService;
  beforeAll(async () => {
    service = await startTestService();
  });
  afterAll(async () => service?.close());

  for (const id of Object.keys(inputs)) {
    for (const mode of ['single', 'batch'] as const) {
      it(`${id} (${mode})`, async () => {
        const model = loadBundledModel(id);
        const catalog = await catalogOf(service);
        const entry = catalog.find((m) => m.id === id)!;
        expect(entry.weightsSha256).toBe(model.weightsSha256);
        expect(JSON.stringify(entry)).not.toContain('"layers"');
        const client = new TestClient(service, entry, mode);
        try {
          await client.open();
          const xs = inputs[id]!();
          const outputs = mode === 'batch' ? await client.predict(xs) : await Promise.all(xs.map(async (x) => (await client.predict([x]))[0]!));
          const agreement = compare(model, xs, outputs);
          expect(agreement.maxOutputError).toBeLessThan(1e-2);
          if (model.task !== 'regression') expect(agreement.sameClass).toBe(xs.length);
        } finally {
          client.close();
        }
      }, 300_000);
    }
  }
});

describe('a batch request of a splittable plan is shared among the workers', () => {
  // breast-cancer-mlp's batch plan (dense, square, dense) splits after its first layer. Same
  // tolerances as above: raw outputs within 1e-2 of the plaintext reference, the same class.
  const model = loadBundledModel('breast-cancer-mlp');
  const xs = loadBreastCancer().test.x;

  for (const splitBatches of [true, false]) {
    it(splitBatches ? 'with two workers: two shares, then the join (server-timing says so)' : 'with splitting turned off: one worker, the same answers', async () => {
      const service = await startTestService({ splitBatches });
      const client = new TestClient(service, (await catalogOf(service)).find((m) => m.id === model.id)!, 'batch');
      try {
        await client.open();
        // Uncompressed ciphertexts are valid too (the app sends zstd, as in the tests above).
        const request = client.encrypt(xs, 'none');
        expect(request.byteLength).toBeGreaterThan(client.encrypt(xs).byteLength * 1.5);
        const res = await client.post(request);
        expect(res.status).toBe(200);
        const timing = String(res.headers['server-timing']);
        if (splitBatches) expect(timing).toContain('shares;desc="2"');
        else expect(timing).not.toContain('shares');
        const agreement = compare(model, xs, client.decrypt(res.body, xs.length));
        expect(agreement.maxOutputError).toBeLessThan(1e-2);
        expect(agreement.sameClass).toBe(xs.length);
      } finally {
        client.close();
        await service.close();
      }
    }, 120_000);
  }
});
