import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { ModelFile } from '../../he-core/model/format.js';
import { checkInput } from '../../he-core/model/input.js';
import { referenceForward } from '../../he-core/model/reference.js';
import { validateModel } from '../../he-core/model/validate.js';
import { loadBreastCancer } from '../datasets/breast-cancer.js';
import { loadDiabetes } from '../datasets/diabetes.js';
import { loadMnist } from '../datasets/mnist.js';
import type { SplitDataset } from '../datasets/types.js';
import { evaluateModel } from './metrics.js';
import { formatModelJson, valueBounds } from './model-file.js';
import { buildBreastCancer } from './model-breast-cancer.js';
import { buildBreastCancerMlp } from './model-breast-cancer-mlp.js';
import { buildDiabetes } from './model-diabetes.js';

const MODELS_DIR = fileURLToPath(new URL('../../assets/models/', import.meta.url));

function readText(id: string): string {
  return readFileSync(`${MODELS_DIR}${id}.json`, 'utf8');
}

function readModel(id: string): ModelFile {
  return validateModel(JSON.parse(readText(id)));
}

const breast = loadBreastCancer();
const diabetes = loadDiabetes();
const mnist = loadMnist();

const cases: { id: string; data: SplitDataset; layers: string[] }[] = [
  { id: 'breast-cancer', data: breast, layers: ['dense'] },
  { id: 'breast-cancer-mlp', data: breast, layers: ['dense', 'activation', 'dense'] },
  { id: 'diabetes-progression', data: diabetes, layers: ['dense'] },
  { id: 'mnist-cnn', data: mnist, layers: ['conv2d', 'activation', 'flatten', 'dense', 'activation', 'dense'] },
];

describe.each(cases)('assets/models/$id.json', ({ id, data, layers }) => {
  const model = readModel(id);

  it('validates, with the expected id, layers and split', () => {
    expect(model.id).toBe(id);
    expect(model.layers.map((l) => l.type)).toEqual(layers);
    expect(model.metrics).toMatchObject({
      trainRows: data.train.y.length,
      testRows: data.test.y.length,
      split: data.split.description,
      seed: data.split.seed,
    });
    expect(model.he.precisionBits).toBe(26);
  });

  it('reports held-out metrics equal to the reference recomputed on the test rows', () => {
    const { trainRows: _t, testRows: _n, split: _s, seed: _seed, ...written } = model.metrics;
    expect(evaluateModel(model, data.test)).toEqual(written);
  });

  it('has value bounds measured on the training rows', () => {
    expect(model.he.valueBounds).toEqual(valueBounds(model, data.train));
  });

  it('has four held-out known answers that the reference reproduces', () => {
    expect(model.testVectors).toHaveLength(4);
    const training = new Set(data.train.x.map((x) => x.join(',')));
    for (const tv of model.testVectors) {
      // A held-out row, never a training row.
      expect(training.has(tv.input.join(','))).toBe(false);
      expect(data.test.x.some((x) => x.join(',') === tv.input.join(','))).toBe(true);
      const out = Array.from(referenceForward(model, tv.input));
      out.forEach((v, i) => expect(Math.abs(v - tv.expected[i]!)).toBeLessThan(1e-6));
    }
  });

  it('accepts every row of the data set as valid input', () => {
    for (const x of data.all.x) checkInput(model, x);
  });
});

describe('model metrics', () => {
  it('reach the quality the bundled models are documented with', () => {
    expect(readModel('breast-cancer').metrics.accuracy).toBeGreaterThanOrEqual(0.95);
    expect(readModel('breast-cancer-mlp').metrics.accuracy).toBeGreaterThanOrEqual(0.95);
    expect(readModel('diabetes-progression').metrics.r2).toBeGreaterThanOrEqual(0.4);
    expect(readModel('mnist-cnn').metrics.accuracy).toBeGreaterThanOrEqual(0.96);
  });

  it('keep the values entering each square and the logits modest', () => {
    const mlp = readModel('breast-cancer-mlp').he.valueBounds;
    expect(mlp[1]).toBeLessThanOrEqual(6);
    const cnn = readModel('mnist-cnn').he.valueBounds;
    expect(cnn[1]).toBeLessThanOrEqual(6);
    expect(cnn[4]).toBeLessThanOrEqual(6);
    expect(cnn[6]).toBeLessThanOrEqual(50);
  });
});

describe('training is deterministic', () => {
  // The tabular models retrain in well under a second: rebuild them and compare byte for byte.
  // (MNIST takes ~20 s; `npm run train` twice checks it.)
  it.each([
    ['breast-cancer', () => buildBreastCancer(breast).model],
    ['breast-cancer-mlp', () => buildBreastCancerMlp(breast).model],
    ['diabetes-progression', () => buildDiabetes(diabetes).model],
  ] as const)('%s retrains to the committed file', (id, build) => {
    expect(formatModelJson(build()) + '\n').toBe(readText(id));
  });
});

describe('formatModelJson', () => {
  it('round-trips through JSON.parse and keeps number arrays on one line', () => {
    const value = { a: [1, 2.5, -3e-8], b: [[1, 2], [3]], c: { d: 'x', e: [] as number[], f: [{ g: true }] } };
    const text = formatModelJson(value);
    expect(JSON.parse(text)).toEqual(value);
    expect(text).toContain('"a": [1,2.5,-3e-8]');
  });
});
