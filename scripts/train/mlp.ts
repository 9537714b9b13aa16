import { Adam, clipGradients, cosineRate } from './adam.js';
import { gaussian, mulberry32, permutation } from './prng.js';

export interface MlpOptions {
  hidden: number;
  epochs: number;
  batchSize: number;
  learningRate: number;
  /** L2 weight decay on the weights (not biases), added to the mean batch loss. */
  l2: number;
  /**
   * Penalty on the mean squared value entering the square activation. Encrypted evaluation needs
   * bounded magnitudes, and x^2 grows fast, so the network is taught to keep these small.
   */
  activationPenalty: number;
  seed: number;
}

/** dense(d -> hidden), square, dense(hidden -> 1): the weights as the model file stores them. */
export interface MlpWeights {
  w1: number[][];
  b1: number[];
  w2: number[];
  b2: number;
}

/** Binary classifier (sigmoid cross-entropy on the logit) with one square-activated hidden layer. */
export function trainSquareMlp(z: readonly (readonly number[])[], y: readonly number[], opts: MlpOptions): MlpWeights {
  const n = z.length;
  const d = z[0]!.length;
  const h = opts.hidden;
  // Flat layout: W1 (h x d, row-major), b1 (h), W2 (h), b2 (1).
  const size = h * d + h + h + 1;
  const params = new Float64Array(size);
  const grads = new Float64Array(size);
  const W1 = params.subarray(0, h * d);
  const b1 = params.subarray(h * d, h * d + h);
  const W2 = params.subarray(h * d + h, h * d + 2 * h);
  const gW1 = grads.subarray(0, h * d);
  const gb1 = grads.subarray(h * d, h * d + h);
  const gW2 = grads.subarray(h * d + h, h * d + 2 * h);
  const rng = mulberry32(opts.seed);
  // Small initialisation: pre-activations start well inside [-1, 1] so that squaring does not explode.
  for (let i = 0; i < W1.length; i++) W1[i] = (gaussian(rng) * 0.5) / Math.sqrt(d);
  for (let i = 0; i < W2.length; i++) W2[i] = (gaussian(rng) * 0.5) / Math.sqrt(h);
  const adam = new Adam(size);
  const pre = new Float64Array(h);
  const batches = Math.ceil(n / opts.batchSize);
  const totalSteps = opts.epochs * batches;
  let step = 0;
  for (let epoch = 0; epoch < opts.epochs; epoch++) {
    const order = permutation(n, rng);
    for (let start = 0; start < n; start += opts.batchSize) {
      const batch = order.slice(start, start + opts.batchSize);
      grads.fill(0);
      for (const r of batch) {
        const row = z[r]!;
        let logit = params[size - 1]!;
        for (let k = 0; k < h; k++) {
          let s = b1[k]!;
          for (let j = 0; j < d; j++) s += W1[k * d + j]! * row[j]!;
          pre[k] = s;
          logit += W2[k]! * s * s;
        }
        const dLogit = 1 / (1 + Math.exp(-logit)) - y[r]!;
        grads[size - 1]! += dLogit;
        for (let k = 0; k < h; k++) {
          const s = pre[k]!;
          gW2[k]! += dLogit * s * s;
          const dPre = dLogit * W2[k]! * 2 * s + opts.activationPenalty * (2 * s) / h;
          gb1[k]! += dPre;
          for (let j = 0; j < d; j++) gW1[k * d + j]! += dPre * row[j]!;
        }
      }
      const inv = 1 / batch.length;
      for (let i = 0; i < size; i++) grads[i]! *= inv;
      for (let i = 0; i < W1.length; i++) gW1[i]! += opts.l2 * W1[i]!;
      for (let i = 0; i < W2.length; i++) gW2[i]! += opts.l2 * W2[i]!;
      clipGradients(grads, 5);
      adam.step(params, grads, cosineRate(opts.learningRate, step++, totalSteps));
    }
  }
  return {
    w1: Array.from({ length: h }, (_, k) => Array.from(W1.subarray(k * d, (k + 1) * d))),
    b1: Array.from(b1),
    w2: Array.from(W2),
    b2: params[size - 1]!,
  };
}
