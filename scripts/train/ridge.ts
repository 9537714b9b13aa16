import { choleskySolve } from './linalg.js';
import type { LinearModel } from './logistic.js';

/**
 * Ridge regression in closed form: minimises sum (y - z.w - b)^2 + l2 |w|^2, the bias unpenalised.
 * Inputs and target are standardised by the caller, so l2 is in the same units for every feature.
 */
export function trainRidge(z: readonly (readonly number[])[], y: readonly number[], l2: number): LinearModel {
  const d = z[0]!.length;
  const a = Array.from({ length: d + 1 }, () => new Array<number>(d + 1).fill(0));
  const b = new Array<number>(d + 1).fill(0);
  z.forEach((row, r) => {
    for (let i = 0; i <= d; i++) {
      const zi = i < d ? row[i]! : 1;
      b[i]! += zi * y[r]!;
      for (let j = 0; j <= d; j++) a[i]![j]! += zi * (j < d ? row[j]! : 1);
    }
  });
  for (let i = 0; i < d; i++) a[i]![i]! += l2;
  const theta = choleskySolve(a, b);
  return { weights: theta.slice(0, d), bias: theta[d]! };
}
