import { choleskySolve } from './linalg.js';

export interface LinearModel {
  weights: number[];
  bias: number;
}

export interface LogisticOptions {
  /** L2 penalty on the weights (not the bias), on the summed log-loss; 1 matches scikit-learn's C = 1. */
  l2: number;
  maxIterations: number;
  /** Stop when the largest Newton step component falls below this. */
  tolerance: number;
}

/**
 * L2-regularised logistic regression by Newton's method (IRLS) on standardised inputs. The loss
 * is strictly convex, so the result does not depend on a starting point or a seed, and Newton
 * converges in a handful of exact steps where gradient descent would need thousands.
 */
export function trainLogistic(z: readonly (readonly number[])[], y: readonly number[], opts: LogisticOptions): LinearModel & { iterations: number } {
  const d = z[0]!.length;
  // Parameter vector: d weights then the bias.
  const theta = new Array<number>(d + 1).fill(0);
  let iterations = 0;
  while (iterations < opts.maxIterations) {
    iterations++;
    const grad = new Array<number>(d + 1).fill(0);
    const hess = Array.from({ length: d + 1 }, () => new Array<number>(d + 1).fill(0));
    z.forEach((row, r) => {
      let s = theta[d]!;
      for (let j = 0; j < d; j++) s += theta[j]! * row[j]!;
      const p = 1 / (1 + Math.exp(-s));
      const err = p - y[r]!;
      const w = p * (1 - p);
      for (let i = 0; i <= d; i++) {
        const zi = i < d ? row[i]! : 1;
        grad[i]! += err * zi;
        const hi = hess[i]!;
        for (let j = 0; j <= i; j++) hi[j]! += w * zi * (j < d ? row[j]! : 1);
      }
    });
    for (let i = 0; i <= d; i++) {
      for (let j = 0; j < i; j++) hess[j]![i] = hess[i]![j]!;
      if (i < d) {
        grad[i]! += opts.l2 * theta[i]!;
        hess[i]![i]! += opts.l2;
      }
    }
    const step = choleskySolve(hess, grad);
    for (let i = 0; i <= d; i++) theta[i]! -= step[i]!;
    if (Math.max(...step.map(Math.abs)) < opts.tolerance) break;
  }
  return { weights: theta.slice(0, d), bias: theta[d]!, iterations };
}

/** Mean log-loss of a linear logistic model on rows (probabilities clamped away from 0 and 1). */
function logLoss(model: LinearModel, z: readonly (readonly number[])[], y: readonly number[]): number {
  let sum = 0;
  z.forEach((row, r) => {
    let s = model.bias;
    row.forEach((v, j) => (s += model.weights[j]! * v));
    const p = Math.min(1 - 1e-12, Math.max(1e-12, 1 / (1 + Math.exp(-s))));
    sum -= y[r] === 1 ? Math.log(p) : Math.log(1 - p);
  });
  return sum / z.length;
}

/**
 * Picks the L2 penalty by k-fold cross-validation on the TRAINING rows only (mean held-out
 * log-loss), so the test rows never influence the model. `foldOf[r]` assigns each row to a fold.
 */
export function crossValidateL2(
  z: readonly (readonly number[])[],
  y: readonly number[],
  candidates: readonly number[],
  foldOf: readonly number[],
  opts: Omit<LogisticOptions, 'l2'>,
): { l2: number; losses: number[] } {
  const folds = Math.max(...foldOf) + 1;
  const losses = candidates.map((l2) => {
    let total = 0;
    for (let f = 0; f < folds; f++) {
      const fitRows = z.filter((_, r) => foldOf[r] !== f);
      const fitY = y.filter((_, r) => foldOf[r] !== f);
      const model = trainLogistic(fitRows, fitY, { ...opts, l2 });
      total += logLoss(
        model,
        z.filter((_, r) => foldOf[r] === f),
        y.filter((_, r) => foldOf[r] === f),
      );
    }
    return total / folds;
  });
  const best = losses.indexOf(Math.min(...losses));
  return { l2: candidates[best]!, losses };
}
