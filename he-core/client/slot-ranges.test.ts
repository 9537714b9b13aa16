import { describe, expect, it } from 'vitest';
import type { PublicPlan } from '../compiler/plan.js';
import { slotRanges } from './crypto.js';

describe('slotRanges', () => {
  it('puts each sample in bound, beyond the bound (exact) or beyond the exact range', () => {
    const plan = { output: { packing: { bound: 30, range: 45 } } } as unknown as PublicPlan;
    const rows = [
      [1, -29.9, 30],
      [1, 30.5, -2],
      [-44.9, 31, 0],
      [46, 0, 0],
      [0, Number.NaN, 0],
      [31, -45.1, 0],
    ].map((r) => Float64Array.from(r));
    expect(slotRanges(plan, rows)).toEqual(['in', 'beyond_bound', 'beyond_bound', 'beyond_range', 'beyond_range', 'beyond_range']);
  });
});
