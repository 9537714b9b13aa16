import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBreastCancer } from '../../scripts/datasets/breast-cancer.js';
import { loadDiabetes } from '../../scripts/datasets/diabetes.js';
import { compare, createRig, loadBundledModel } from './harness.js';
import type { EncryptedRig } from './harness.js';

// Tolerances: classification must give the reference's class on every held-out sample;
// raw network outputs (logits up to ~50) within 1e-2 absolute, the models' published test-vector
// tolerance; regression within 1e-3 of the target's range.
const OUTPUT_TOLERANCE = 1e-2;

const cases = [
  { id: 'breast-cancer', data: loadBreastCancer },
  { id: 'breast-cancer-mlp', data: loadBreastCancer },
  { id: 'diabetes-progression', data: loadDiabetes },
] as const;

for (const { id, data } of cases) {
  describe(`${id}: encrypted evaluation of the whole held-out set equals the plaintext reference`, () => {
    const model = loadBundledModel(id);
    const { test, all } = data();
    const targetRange = Math.max(...all.y) - Math.min(...all.y);
    const rigs: Partial<Record<'single' | 'batch', EncryptedRig>> = {};
    beforeAll(async () => {
      rigs.single = await createRig(model, 'single');
      rigs.batch = await createRig(model, 'batch');
    });
    afterAll(() => {
      rigs.single?.dispose();
      rigs.batch?.dispose();
    });

    it(`single layout (${model.he.singleLayout}), one request per patient`, () => {
      const outputs = test.x.map((x) => rigs.single!.predict([x])[0]!);
      const agreement = compare(model, test.x, outputs);
      expect(agreement.samples).toBe(test.x.length);
      expect(agreement.maxOutputError).toBeLessThan(OUTPUT_TOLERANCE);
      if (model.task === 'regression') expect(agreement.maxValueError).toBeLessThanOrEqual(1e-3 * targetRange);
      else expect(agreement.sameClass).toBe(test.x.length);
    });

    it('batch layout, the whole held-out set in one request', () => {
      const outputs = rigs.batch!.predict(test.x);
      const agreement = compare(model, test.x, outputs);
      expect(outputs).toHaveLength(test.x.length);
      expect(agreement.maxOutputError).toBeLessThan(OUTPUT_TOLERANCE);
      if (model.task === 'regression') expect(agreement.maxValueError).toBeLessThanOrEqual(1e-3 * targetRange);
      else expect(agreement.sameClass).toBe(test.x.length);
    });

    it('reproduces the published test vectors within their tolerance', () => {
      for (const tv of model.testVectors) {
        const out = rigs.single!.predict([tv.input])[0]!;
        tv.expected.forEach((e, j) => expect(Math.abs(out[j]! - e)).toBeLessThanOrEqual(tv.tolerance));
      }
    });
  });
}
