import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { loadBreastCancer } from './breast-cancer.js';
import { loadDiabetes } from './diabetes.js';
import { loadMnist } from './mnist.js';
import { SEED, seededSplit } from './split.js';
import type { SplitDataset } from './types.js';

function fingerprint(indices: readonly number[]): string {
  return createHash('sha256').update(indices.join(',')).digest('hex').slice(0, 16);
}

/** The split is a partition of the rows, and train/test hold exactly those rows. */
function expectPartition(data: SplitDataset, trainRows: number, testRows: number): void {
  const { trainIndices, testIndices } = data.split;
  expect(trainIndices).toHaveLength(trainRows);
  expect(testIndices).toHaveLength(testRows);
  const seen = new Set([...trainIndices, ...testIndices]);
  expect(seen.size).toBe(trainRows + testRows);
  expect(Math.min(...seen)).toBe(0);
  expect(Math.max(...seen)).toBe(data.all.y.length - 1);
  expect(data.train.x).toEqual(trainIndices.map((i) => data.all.x[i]));
  expect(data.test.y).toEqual(testIndices.map((i) => data.all.y[i]));
  expect(data.split.seed).toBe(SEED);
}

describe('seededSplit', () => {
  it('is a function of (n, trainCount, seed) only', () => {
    expect(seededSplit(100, 80, 7, 'x')).toEqual(seededSplit(100, 80, 7, 'x'));
    expect(seededSplit(100, 80, 7, 'x').testIndices).not.toEqual(seededSplit(100, 80, 8, 'x').testIndices);
  });

  it('refuses an empty side', () => {
    expect(() => seededSplit(10, 10, 1, 'x')).toThrow();
    expect(() => seededSplit(10, 0, 1, 'x')).toThrow();
  });
});

describe('breast cancer', () => {
  const data = loadBreastCancer();

  it('reads 569 rows of 30 features with 212 malignant (y = 1)', () => {
    expect(data.all.x).toHaveLength(569);
    expect(data.all.x.every((r) => r.length === 30)).toBe(true);
    expect(data.all.y.filter((y) => y === 1)).toHaveLength(212);
    // Row 1 of the file is class 0 = malignant.
    expect(data.all.y[0]).toBe(1);
    expect(data.features.map((f) => f.name).slice(0, 2)).toEqual(['radius_mean', 'texture_mean']);
    expect(new Set(data.features.map((f) => f.name)).size).toBe(30);
  });

  it('has the fixed 455 / 114 split, the same on every load', () => {
    expectPartition(data, 455, 114);
    expect(loadBreastCancer().split).toEqual(data.split);
    // Pinned: a change of PRNG, seed or split rule would silently change every model.
    expect(fingerprint(data.split.testIndices)).toBe('f67c567fa1a7125b');
  });
});

describe('diabetes', () => {
  const data = loadDiabetes();

  it('reads 442 rows of 10 raw clinical features and the target', () => {
    expect(data.all.x).toHaveLength(442);
    expect(data.all.x[0]).toEqual([59, 2, 32.1, 101, 157, 93.2, 38, 4, 4.8598, 87]);
    expect(data.all.y[0]).toBe(151);
    expect(data.features).toHaveLength(10);
  });

  it('has the fixed 354 / 88 split, the same on every load', () => {
    expectPartition(data, 354, 88);
    expect(loadDiabetes().split).toEqual(data.split);
    expect(fingerprint(data.split.testIndices)).toBe('f5c2d09cbed45356');
  });
});

describe('mnist', () => {
  const data = loadMnist();

  it('reads the 10,000 images of the package, 784 pixels in [0, 1] each', () => {
    expect(data.all.x).toHaveLength(10_000);
    expect(data.all.x.every((img) => img.length === 784)).toBe(true);
    const counts = Array.from({ length: 10 }, (_, d) => data.all.y.filter((y) => y === d).length);
    expect(counts).toEqual([1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]);
  });

  it('has the fixed 8000 / 2000 split, the same on every load', () => {
    expectPartition(data, 8000, 2000);
    expect(fingerprint(data.split.testIndices)).toBe('5f0346d469f91d6e');
  });
});
