import { HeError } from '../errors.js';
import type { Plan } from './plan.js';

/** rot(v, k)[i] = v[i + k], cyclic: SEAL's rotateVector on CKKS slots (positive: to the left). */
function rotate(v: Float64Array, k: number): Float64Array {
  const n = v.length;
  const s = ((k % n) + n) % n;
  const out = new Float64Array(n);
  out.set(v.subarray(s), 0);
  out.set(v.subarray(0, s), n - s);
  return out;
}

/**
 * Runs a single-sample plan (vector or im2col layout) on clear slot values, step for step as
 * `PlanEvaluator` does on ciphertexts: the same diagonals, rotations, block sums, biases and
 * activations, without noise. Its use: the value of every output slot for an input whose slots
 * are not one periodic sample (the client's in-ciphertext checks put other samples in some
 * replicas, and needs to know which output slots depend on which input slots). The batch layout
 * has no rotation, so each slot is one sample and this is not needed.
 */
export function simulateSlots(plan: Plan, input: Float64Array): Float64Array {
  let x = input;
  for (const step of plan.steps) {
    switch (step.op) {
      case 'linear': {
        const babies: Float64Array[] = [x];
        const maxBaby = Math.max(0, ...step.diagonals.map((d, i) => (d ? i % step.baby : 0)));
        for (let b = 1; b <= maxBaby; b++) babies.push(rotate(babies[b - 1]!, step.babyUnit));
        let acc: Float64Array | null = null;
        for (const { group, shift } of step.giantSchedule) {
          const sum = new Float64Array(x.length);
          for (let b = 0; b < step.baby; b++) {
            const d = step.diagonals[group * step.baby + b];
            if (!d) continue;
            const v = babies[b]!;
            for (let i = 0; i < sum.length; i++) sum[i]! += d[i]! * v[i]!;
          }
          if (acc) {
            if (shift) acc = rotate(acc, shift);
            for (let i = 0; i < sum.length; i++) acc[i]! += sum[i]!;
          } else acc = sum;
        }
        if (!acc) throw new HeError('model_unsupported', `layer ${step.name} has no non-zero weights`);
        if (step.finalShift) acc = rotate(acc, step.finalShift);
        for (const t of step.blockSums) {
          const r = rotate(acc, t);
          for (let i = 0; i < acc.length; i++) acc[i]! += r[i]!;
        }
        if (step.bias) for (let i = 0; i < acc.length; i++) acc[i]! += step.bias[i]!;
        x = acc;
        break;
      }
      case 'square':
        x = x.map((v) => v * v);
        break;
      case 'cube':
        x = x.map((v) => v * (v * v + step.e));
        break;
      case 'batch-linear':
        throw new HeError('model_unsupported', 'simulateSlots runs single-sample plans only');
    }
  }
  return x;
}
