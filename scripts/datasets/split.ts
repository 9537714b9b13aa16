import { permutation, mulberry32 } from '../train/prng.js';
import type { Rows, SplitInfo } from './types.js';

/** The one seed of every split and training run; changing it changes every bundled model. */
export const SEED = 42;

/**
 * A seeded shuffle of the row numbers 0..n-1: the first `trainCount` are the training rows, the
 * rest the held-out test rows. Sorted back to file order so that a row's position never depends
 * on the shuffle beyond which side it falls on.
 */
export function seededSplit(n: number, trainCount: number, seed: number, what: string): SplitInfo {
  if (!(trainCount > 0 && trainCount < n)) throw new Error(`cannot split ${n} rows into ${trainCount} for training`);
  const order = permutation(n, mulberry32(seed));
  const trainIndices = order.slice(0, trainCount).sort((a, b) => a - b);
  const testIndices = order.slice(trainCount).sort((a, b) => a - b);
  const description =
    `${what}: seeded shuffle (mulberry32, seed ${seed}) of all ${n} rows; ` +
    `${trainCount} train / ${n - trainCount} held-out test, disjoint`;
  return { seed, description, trainIndices, testIndices };
}

/** 80/20, rounding the training share to the nearest row. */
export function split8020(n: number, seed: number, what: string): SplitInfo {
  return seededSplit(n, Math.round(n * 0.8), seed, what);
}

export function pickRows(all: Rows, indices: readonly number[]): Rows {
  return { x: indices.map((i) => all.x[i]!), y: indices.map((i) => all.y[i]!) };
}
