import { describe, it, expect } from 'vitest';
import { chooseRotationKeys } from './rotations.js';
import type { RotationKeyChoice, RotationUse } from './rotations.js';
import { mulberry32 } from '../testing/mulberry32.js';


const mod = (a: number, n: number): number => ((a % n) + n) % n;

function use(amount: number, level = 1, count = 1): RotationUse {
  return { amount, level, count };
}

/** Every used amount has a path of chosen keys summing to it mod slots; paths cover exactly the used amounts. */
function expectComposable(choice: RotationKeyChoice, uses: RotationUse[], slots: number): void {
  const used = new Set(uses.map((u) => mod(u.amount, slots)).filter((a) => a !== 0));
  expect(new Set(Object.keys(choice.paths).map(Number))).toEqual(used);
  const keys = new Set(choice.steps);
  for (const amount of used) {
    const path = choice.paths[amount]!;
    expect(path.length).toBeGreaterThan(0);
    for (const step of path) expect([amount, step, keys.has(step)]).toEqual([amount, step, true]);
    expect([amount, mod(path.reduce((a, b) => a + b, 0), slots)]).toEqual([amount, amount]);
  }
}

describe('chooseRotationKeys', () => {
  it('returns exactly the used amounts, sorted, each its own path, when they fit', () => {
    const uses = [use(16), use(1, 3, 7), use(4), use(2), use(8, 0), use(4, 2, 3)];
    const choice = chooseRotationKeys(uses, 2048, 9);
    expect(choice.steps).toEqual([1, 2, 4, 8, 16]);
    expect(choice.paths).toEqual({ 1: [1], 2: [2], 4: [4], 8: [8], 16: [16] });
    // The limit exactly at the number of amounts drops nothing.
    expect(chooseRotationKeys(uses, 2048, 5).steps).toEqual([1, 2, 4, 8, 16]);
  });

  it('normalises amounts mod slots and ignores rotations by 0', () => {
    const choice = chooseRotationKeys([use(-1), use(0), use(2048), use(2049), use(-2047), use(3)], 2048, 10);
    expect(choice.steps).toEqual([1, 3, 2047]);
    expect(choice.paths).toEqual({ 1: [1], 3: [3], 2047: [2047] });
    expect(chooseRotationKeys([use(0), use(64)], 64, 4)).toEqual({ steps: [], paths: {} });
    expect(chooseRotationKeys([], 64, 4)).toEqual({ steps: [], paths: {} });
  });

  it('with fewer keys allowed, composes every amount from the chosen keys', () => {
    const uses = [1, 2, 4, 8, 16, 32, 64, 128, 512].map((a) => use(a));
    for (const maxKeys of [1, 2, 3, 4, 8]) {
      const choice = chooseRotationKeys(uses, 4096, maxKeys);
      expect(choice.steps.length).toBeLessThanOrEqual(maxKeys);
      expect(choice.steps.every((s) => uses.some((u) => u.amount === s))).toBe(true);
      expectComposable(choice, uses, 4096);
    }
    // With one key only 1 can make the others.
    expect(chooseRotationKeys(uses, 4096, 1).steps).toEqual([1]);
    expect(chooseRotationKeys(uses, 4096, 1).paths[4]).toEqual([1, 1, 1, 1]);
    // maxKeys below 1 is treated as 1.
    expect(chooseRotationKeys(uses, 4096, 0).steps).toEqual([1]);
  });

  it('keeps the key that saves the most weighted work', () => {
    // Dropping 3 means composing 3 = 1 + 1 + 1 a hundred times; dropping 1 means 1 = 11 x 3 (mod 16) once.
    const choice = chooseRotationKeys([use(1, 0, 1), use(3, 0, 100)], 16, 1);
    expect(choice.steps).toEqual([3]);
    expect(choice.paths[1]).toEqual(Array(11).fill(3));
    expect(choice.paths[3]).toEqual([3]);
    // The same amounts with the weights swapped keep 1.
    expect(chooseRotationKeys([use(1, 0, 100), use(3, 0, 1)], 16, 1).steps).toEqual([1]);
    // Rotations at a higher level cost more: the level tips the balance too.
    expect(chooseRotationKeys([use(1, 0, 10), use(3, 0, 4)], 16, 1).steps).toEqual([1]);
    expect(chooseRotationKeys([use(1, 0, 10), use(3, 5, 4)], 16, 1).steps).toEqual([3]);
  });

  it('random use sets (seeded): keys within the limit, every amount composable', () => {
    const rand = mulberry32(99);
    for (let trial = 0; trial < 200; trial++) {
      const slots = [16, 64, 512, 2048][trial % 4]!;
      const uses = Array.from({ length: 1 + Math.floor(rand() * 10) }, () => use(Math.floor(rand() * 2 * slots) - slots, Math.floor(rand() * 6), 1 + Math.floor(rand() * 20)));
      const maxKeys = 1 + Math.floor(rand() * 4);
      const choice = chooseRotationKeys(uses, slots, maxKeys);
      const distinct = new Set(uses.map((u) => mod(u.amount, slots)).filter((a) => a !== 0));
      expect(choice.steps.length).toBe(Math.min(distinct.size, maxKeys));
      expect(choice.steps).toEqual([...choice.steps].sort((a, b) => a - b));
      for (const s of choice.steps) expect(distinct.has(s)).toBe(true);
      expectComposable(choice, uses, slots);
    }
  });
});
