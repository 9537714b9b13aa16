import { HeError } from '../errors.js';
import type { HeParameters } from '../params/parameters.js';
import { checkPacking } from '../envelope/packed-result.js';
import type { ModelFile } from '../model/format.js';
import type { PublicPlan, ResultPacking } from './plan.js';

/** Widest and narrowest coefficient the packed format holds. */
const MIN_BITS = 8;
const MAX_BITS = 60;
/** Largest multiplier (the packed header holds it in 32 bits). */
const MAX_MULTIPLIER = 2 ** 31;

/**
 * The largest error a raw output may carry: the strictest test-vector tolerance and, where the
 * shown value is the raw output scaled (identity, argmax), one step of the shown precision in raw
 * units (diabetes-progression: 0.1 / 76.8 = 1.3e-3). Probabilities move by at most a quarter
 * (sigmoid) or half (softmax) of the raw error, and are held to the tolerance only.
 */
export function answerPrecision(model: Pick<ModelFile, 'testVectors' | 'output' | 'postprocess'>): number {
  if (model.testVectors.length === 0) throw new HeError('model_invalid', 'a model needs at least one test vector: its tolerance sets the precision of the answers');
  const tolerance = Math.min(...model.testVectors.map((tv) => tv.tolerance));
  const step = 10 ** -model.output.precision;
  const post = model.postprocess;
  if (post.fn === 'identity') return Math.min(tolerance, step / Math.abs(post.scale));
  if (post.fn === 'argmax') return Math.min(tolerance, step);
  return tolerance;
}

/** Probability, per key, that some output's rounding error is larger than the model below says. */
const KEY_RISK = 1e-3;

/**
 * How much larger than its average the secret key makes the c1 term of the worst of `outputs`
 * outputs, each averaged over `replicas` slots: with |s(ζ)|² exponentially distributed around its
 * mean (2N/3) at every slot, the mean over n slots is Gamma(n)/n, and the Chernoff bound
 * P(Gamma(n)/n > x) ≤ exp(-n (x - 1 - ln x)) is kept below KEY_RISK / outputs.
 * One slot read out of 4,096: 19.2; ten outputs, each the mean of 256 replicas: 1.29.
 */
export function keyAmplification(replicas: number, outputs: number): number {
  const need = Math.log(outputs / KEY_RISK) / replicas;
  let lo = 1;
  let hi = 1e3;
  for (let i = 0; i < 100; i++) {
    const mid = (lo + hi) / 2;
    if (mid - 1 - Math.log(mid) >= need) hi = mid;
    else lo = mid;
  }
  return hi;
}

/**
 * Standard deviation of an output's error (real part) when both coefficients of a level-0
 * ciphertext are rounded to `bits`: a coefficient of c0 off by at most half a step of q0 / 2^bits
 * (uniform: step / sqrt 12), one of c1 the same but multiplied by the ternary secret (2N/3
 * non-zero terms on average, times `amplification`, see keyAmplification); decoding sums N
 * coefficients into each slot, of which the real part keeps half the variance; independent
 * across slots, so the mean of `replicas` copies divides it by sqrt(replicas); then divided by
 * the answer's scale. With the defaults: one slot, an average key.
 */
export function packingNoise(params: HeParameters, scale: number, bits: readonly [number, number], replicas = 1, amplification = 1): number {
  const q = Number(params.primes[0]);
  const N = params.polyModulusDegree;
  const coefficient = (b: number): number => q / 2 ** b / Math.sqrt(12);
  const c0 = coefficient(bits[0]);
  const c1 = coefficient(bits[1]) * Math.sqrt(((2 * N) / 3) * amplification);
  return (Math.sqrt(N / 2) * Math.hypot(c0, c1)) / scale / Math.sqrt(replicas);
}

/**
 * How a plan's results travel (envelope/packed-result.ts). The answer must hold every accepted
 * value: values up to `range` = 1.5 × bound are exact, so the ciphertext is first multiplied by the
 * largest integer that keeps them below q0 / 2 (the headroom the parameters keep for values
 * beyond the bound is not sent). Then each coefficient of c0 and c1 is switched from q0 to the
 * fewest bits whose rounding error stays within a sixth of the answer's precision
 * (answerPrecision) as a standard deviation of the worst output of all but one key in a thousand.
 * So the rounding exceeds three quarters of the precision (4.5 standard deviations) about once in
 * 150,000 outputs, leaving a quarter for the evaluation's own error (mnist-cnn: up to 1.9e-3 of
 * its 1e-2). `layout`: copies of each output in a ciphertext (the client reads their
 * mean), and outputs read per ciphertext (the batch layout: one per slot).
 */
/** A bound as people read it: three significant digits, with thousands separators (30.6, 380, 21,600). */
export function formatBound(value: number): string {
  return Number(value.toPrecision(3)).toLocaleString('en-US', { maximumFractionDigits: 6 });
}

export function chooseResultPacking(params: HeParameters, outputScale: number, bound: number, precision: number, layout: { replicas: number; outputs: number; project?: boolean }): ResultPacking {
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
  const amplification = keyAmplification(layout.replicas, layout.outputs);
  const widest = Math.min(MAX_BITS, params.coeffModulusBits[0]!);
  let best: { bits: [number, number]; noise: number } | null = null;
  // Outputs repeated by construction: c0 travels at N / replicas coefficients only (ResultPacking.c0Stride),
  // so those keep every bit of q0 and only c1's width is chosen.
  const project = layout.project === true && layout.replicas > 1;
  for (let b0 = project ? widest : MIN_BITS; b0 <= widest; b0++) {
    for (let b1 = MIN_BITS; b1 <= widest; b1++) {
      const bits: [number, number] = [b0, b1];
      const noise = packingNoise(params, scale, bits, layout.replicas, amplification);
      if (noise > target) continue;
      if (!best || b0 + b1 < best.bits[0] + best.bits[1] || (b0 + b1 === best.bits[0] + best.bits[1] && noise < best.noise)) best = { bits, noise };
    }
  }
  if (!best) throw new HeError('params_unsatisfiable', `no packing of the answer keeps its rounding error below ${target.toExponential(2)}`);
  const packing: ResultPacking = { multiplier, bits: best.bits, bound, range: q / (2 * scale), noise: best.noise };
  if (project) packing.c0Stride = layout.replicas;
  return packing;
}

/**
 * Checks a public plan's answer description before the client reads an answer with it: the plan
 * comes from the provider. The packing's fields must be in range, the output scale near the
 * parameters' scale, the range it keeps exact at least 1.5 × its bound (so the bound cannot switch
 * the range check off), and its predicted noise within a sixth of the model's precision (so a
 * plan cannot quietly make answers noisier than it says).
 */
export function checkAnswerPlan(plan: PublicPlan): void {
  const fail = (why: string): never => {
    throw new HeError('params_mismatch', `the plan's answer description is not usable: ${why}`);
  };
  const { params, output } = plan;
  const { packing, replicas, scale } = output;
  checkPacking(packing, params.coeffModulusBits[0]!);
  const { multiplier, bits, bound } = packing;
  if (!(scale > 0) || !Number.isFinite(scale) || Math.abs(Math.log2(scale) - params.scaleBits) > 1) fail(`output scale 2^${Math.log2(scale)} for parameters at 2^${params.scaleBits}`);
  const slots = params.polyModulusDegree / 2;
  const perCiphertext = output.kind === 'batch' ? slots : output.size;
  if (!Number.isInteger(replicas) || replicas < 1 || slots % replicas !== 0 || (output.kind === 'batch' ? replicas !== 1 : slots / replicas < output.size)) fail(`${replicas} replicas of ${output.size} outputs in ${slots} slots`);
  if (packing.c0Stride !== undefined && (output.kind !== 'slots' || replicas < 2 || packing.c0Stride !== replicas)) fail(`c0 every ${packing.c0Stride} coefficients with ${replicas} replicas of ${output.kind} outputs`);
  // A stride is plan format 2 (a format-1 client cannot read such answers), and format 2 has one.
  if (plan.planFormat !== (packing.c0Stride === undefined ? 1 : 2)) fail(`plan format ${plan.planFormat} ${packing.c0Stride === undefined ? 'without' : 'with'} a c0 stride`);
  const exact = Number(params.primes[0]) / (2 * scale * multiplier);
  if (exact < 1.5 * bound * (1 - 1e-12)) fail(`values are exact up to ${exact.toPrecision(4)}, less than 1.5 × the bound ${bound}`);
  const noise = packingNoise(params, scale * multiplier, bits, replicas, keyAmplification(replicas, perCiphertext));
  const precision = answerPrecision(plan.model);
  if (noise > (precision / 6) * (1 + 1e-9)) fail(`its rounding noise ${noise.toExponential(2)} is above a sixth of the model's precision ${precision}`);
}
