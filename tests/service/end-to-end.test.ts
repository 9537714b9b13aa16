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
