import { HeError } from '../errors.js';
import type { HeParameters } from '../params/parameters.js';
import type { ResultPacking } from './plan.js';

/** Widest and narrowest coefficient the packed format holds. */
const MIN_BITS = 8;
const MAX_BITS = 60;
/** Largest multiplier (the packed header holds it in 32 bits). */
const MAX_MULTIPLIER = 2 ** 31;

/**
 * Standard deviation of one decoded slot's error (real part) when both coefficients of a
 * level-0 ciphertext are rounded to `bits`: a coefficient of c0 off by at most half a step of
 * q0 / 2^bits (uniform: step / sqrt 12), one of c1 the same but multiplied by the ternary secret
 * (2N/3 non-zero terms on average); decoding sums N coefficients into each slot, of which the real
 * part keeps half the variance; then divided by the answer's scale.
 */
export function packingNoise(params: HeParameters, scale: number, bits: readonly [number, number]): number {
  const q = Number(params.primes[0]);
  const N = params.polyModulusDegree;
  const coefficient = (b: number): number => q / 2 ** b / Math.sqrt(12);
  const c0 = coefficient(bits[0]);
  const c1 = coefficient(bits[1]) * Math.sqrt((2 * N) / 3);
  return (Math.sqrt(N / 2) * Math.hypot(c0, c1)) / scale;
}

/**
 * How a plan's results travel (envelope/packed-result.ts). The answer must hold every accepted
 * value: values up to `range` = 1.5 × bound are exact, so the ciphertext is first multiplied by the
 * largest integer that keeps them below q0 / 2 (the headroom the parameters keep for values
 * beyond the bound is not sent). Then each coefficient of c0 and c1 is switched from q0 to the
 * fewest bits whose rounding error stays within a sixth of the answer's precision (`precision`,
 * compile.ts answerPrecision; as a standard deviation per slot): six standard deviations, so
 * that with the evaluation's own error the answer stays within the precision.
 */
export function chooseResultPacking(params: HeParameters, outputScale: number, bound: number, precision: number): ResultPacking {
  if (!(bound > 0) || !(precision > 0) || !Number.isFinite(bound) || !Number.isFinite(precision)) {
    throw new HeError('model_invalid', `an output bound (${bound}) and a precision (${precision}) must be positive numbers`);
  }
  const q = Number(params.primes[0]);
  const range = 1.5 * bound;
  const multiplier = Math.min(MAX_MULTIPLIER, Math.max(1, Math.floor(q / (2 * outputScale * range))));
  const scale = outputScale * multiplier;
  if (q / (2 * scale) < range) {
    throw new HeError('params_unsatisfiable', `the first prime holds outputs up to ${(q / (2 * scale)).toFixed(1)}, the model needs ${range.toFixed(1)}`);
  }
  const target = precision / 6;
  const widest = Math.min(MAX_BITS, params.coeffModulusBits[0]!);
  let best: { bits: [number, number]; noise: number } | null = null;
  for (let b0 = MIN_BITS; b0 <= widest; b0++) {
    for (let b1 = MIN_BITS; b1 <= widest; b1++) {
      const bits: [number, number] = [b0, b1];
      const noise = packingNoise(params, scale, bits);
      if (noise > target) continue;
      if (!best || b0 + b1 < best.bits[0] + best.bits[1] || (b0 + b1 === best.bits[0] + best.bits[1] && noise < best.noise)) best = { bits, noise };
    }
  }
  if (!best) throw new HeError('params_unsatisfiable', `no packing of the answer keeps its rounding error below ${target.toExponential(2)}`);
  return { multiplier, bits: best.bits, bound, range: q / (2 * scale), noise: best.noise };
}
