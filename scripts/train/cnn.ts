import { Adam, clipGradients, cosineRate } from './adam.js';
import { gaussian, mulberry32, permutation } from './prng.js';

/**
 * The fixed MNIST network: conv2d 1->4 (7x7, stride 3, valid) on 28x28 -> square -> flatten (256,
 * channel-major o*64 + y*8 + x, as he-core's reference) -> dense 256->64 -> square -> dense 64->10.
 * Forward and backward are written out by hand over Float64Arrays: small, exact and deterministic.
 */
export const SIDE = 28;
const PIXELS = SIDE * SIDE;
export const KERNEL = 7;
export const STRIDE = 3;
export const CHANNELS = 4;
const OUT_SIDE = (SIDE - KERNEL) / STRIDE + 1; // 8
const POSITIONS = OUT_SIDE * OUT_SIDE; // 64
const KSIZE = KERNEL * KERNEL; // 49
const FLAT = CHANNELS * POSITIONS; // 256
export const HIDDEN = 64;
export const CLASSES = 10;

export interface CnnOptions {
  epochs: number;
  batchSize: number;
  learningRate: number;
  /** L2 weight decay on weights (not biases). */
  l2: number;
  /** Penalty on the mean squared value entering each square: keeps encrypted magnitudes bounded. */
  activationPenalty: number;
  /**
   * Penalty on the mean squared logit. Softmax only sees logit differences, so without it
   * cross-entropy keeps inflating the logits; encrypted evaluation has limited headroom.
   */
  logitPenalty: number;
  /** Shift each training image by up to this many pixels (seeded): cheap augmentation for 8000 images. */
  maxShift: number;
  seed: number;
  onEpoch?: (epoch: number, meanLoss: number, trainAccuracy: number) => void;
}

/** The weights in the model file's nesting: conv [out][in][kh][kw], dense [out][in]. */
export interface CnnWeights {
  conv: number[][][][];
  convBias: number[];
  dense1: number[][];
  dense1Bias: number[];
  dense2: number[][];
  dense2Bias: number[];
}

/** Parameter views into one flat buffer, so Adam and clipping see a single vector. */
class Params {
  readonly all: Float64Array;
  readonly cw: Float64Array;
  readonly cb: Float64Array;
  readonly w1: Float64Array;
  readonly b1: Float64Array;
  readonly w2: Float64Array;
  readonly b2: Float64Array;
  /** The ranges of weight tensors (which weight decay applies to). */
  readonly weightViews: Float64Array[];

  constructor() {
    const sizes = [CHANNELS * KSIZE, CHANNELS, HIDDEN * FLAT, HIDDEN, CLASSES * HIDDEN, CLASSES];
    this.all = new Float64Array(sizes.reduce((a, b) => a + b, 0));
    let offset = 0;
    const views = sizes.map((s) => {
      const v = this.all.subarray(offset, offset + s);
      offset += s;
      return v;
    });
    [this.cw, this.cb, this.w1, this.b1, this.w2, this.b2] = views as [Float64Array, Float64Array, Float64Array, Float64Array, Float64Array, Float64Array];
    this.weightViews = [this.cw, this.w1, this.w2];
  }
}

/** Activations of one forward pass, kept for the backward pass. */
class Trace {
  readonly conv = new Float64Array(FLAT);
  readonly hidden = new Float64Array(HIDDEN);
  readonly sq1 = new Float64Array(FLAT);
  readonly sq2 = new Float64Array(HIDDEN);
  readonly logits = new Float64Array(CLASSES);
  readonly probs = new Float64Array(CLASSES);
}

function forward(p: Params, image: Float64Array, t: Trace): void {
  for (let o = 0; o < CHANNELS; o++) {
    for (let oy = 0; oy < OUT_SIDE; oy++) {
      for (let ox = 0; ox < OUT_SIDE; ox++) {
        let s = p.cb[o]!;
        for (let ky = 0; ky < KERNEL; ky++) {
          const rowStart = (oy * STRIDE + ky) * SIDE + ox * STRIDE;
          const kStart = o * KSIZE + ky * KERNEL;
          for (let kx = 0; kx < KERNEL; kx++) s += p.cw[kStart + kx]! * image[rowStart + kx]!;
        }
        const idx = o * POSITIONS + oy * OUT_SIDE + ox;
        t.conv[idx] = s;
        t.sq1[idx] = s * s;
      }
    }
  }
  for (let k = 0; k < HIDDEN; k++) {
    let s = p.b1[k]!;
    const base = k * FLAT;
    for (let j = 0; j < FLAT; j++) s += p.w1[base + j]! * t.sq1[j]!;
    t.hidden[k] = s;
    t.sq2[k] = s * s;
  }
  let max = -Infinity;
  for (let m = 0; m < CLASSES; m++) {
    let s = p.b2[m]!;
    const base = m * HIDDEN;
    for (let k = 0; k < HIDDEN; k++) s += p.w2[base + k]! * t.sq2[k]!;
    t.logits[m] = s;
    if (s > max) max = s;
  }
  let sum = 0;
  for (let m = 0; m < CLASSES; m++) sum += t.probs[m] = Math.exp(t.logits[m]! - max);
  for (let m = 0; m < CLASSES; m++) t.probs[m]! /= sum;
}

/** Adds this sample's gradient of (cross-entropy + activation penalty) to `g`. */
function backward(p: Params, g: Params, image: Float64Array, label: number, t: Trace, penalty: number, logitPenalty: number): void {
  const dLogits = new Float64Array(CLASSES);
  for (let m = 0; m < CLASSES; m++) dLogits[m] = t.probs[m]! - (m === label ? 1 : 0) + (logitPenalty * 2 * t.logits[m]!) / CLASSES;
  const dSq2 = new Float64Array(HIDDEN);
  for (let m = 0; m < CLASSES; m++) {
    const d = dLogits[m]!;
    g.b2[m]! += d;
    const base = m * HIDDEN;
    for (let k = 0; k < HIDDEN; k++) {
      g.w2[base + k]! += d * t.sq2[k]!;
      dSq2[k]! += d * p.w2[base + k]!;
    }
  }
  const dSq1 = new Float64Array(FLAT);
  for (let k = 0; k < HIDDEN; k++) {
    const h = t.hidden[k]!;
    const d = dSq2[k]! * 2 * h + (penalty * 2 * h) / HIDDEN;
    g.b1[k]! += d;
    const base = k * FLAT;
    for (let j = 0; j < FLAT; j++) {
      g.w1[base + j]! += d * t.sq1[j]!;
      dSq1[j]! += d * p.w1[base + j]!;
    }
  }
  for (let o = 0; o < CHANNELS; o++) {
    for (let oy = 0; oy < OUT_SIDE; oy++) {
      for (let ox = 0; ox < OUT_SIDE; ox++) {
        const idx = o * POSITIONS + oy * OUT_SIDE + ox;
        const c = t.conv[idx]!;
        const d = dSq1[idx]! * 2 * c + (penalty * 2 * c) / FLAT;
        g.cb[o]! += d;
        for (let ky = 0; ky < KERNEL; ky++) {
          const rowStart = (oy * STRIDE + ky) * SIDE + ox * STRIDE;
          const kStart = o * KSIZE + ky * KERNEL;
          for (let kx = 0; kx < KERNEL; kx++) g.cw[kStart + kx]! += d * image[rowStart + kx]!;
        }
      }
    }
  }
}

/** Copies `src` shifted by (dx, dy) pixels into `dst`, filling uncovered pixels with `background`. */
function shiftImage(src: Float64Array, dst: Float64Array, dx: number, dy: number, background: number): void {
  for (let y = 0; y < SIDE; y++) {
    const sy = y - dy;
    for (let x = 0; x < SIDE; x++) {
      const sx = x - dx;
      dst[y * SIDE + x] = sy >= 0 && sy < SIDE && sx >= 0 && sx < SIDE ? src[sy * SIDE + sx]! : background;
    }
  }
}

/**
 * Trains on pre-processed images (each 784 values, standardised). `background` is the
 * pre-processed value of a 0 pixel, used to fill the border of shifted images.
 */
export function trainCnn(images: readonly Float64Array[], labels: readonly number[], background: number, opts: CnnOptions): CnnWeights {
  const p = new Params();
  const g = new Params();
  const rng = mulberry32(opts.seed);
  // Small initialisation (about 0.5 / sqrt(fan-in)) so the values entering each square start near
  // +-1: squares of larger values compound layer to layer and training diverges.
  const init = (v: Float64Array, fanIn: number): void => {
    for (let i = 0; i < v.length; i++) v[i] = (gaussian(rng) * 0.5) / Math.sqrt(fanIn);
  };
  init(p.cw, KSIZE);
  init(p.w1, FLAT);
  init(p.w2, HIDDEN);
  const adam = new Adam(p.all.length);
  const t = new Trace();
  const shifted = new Float64Array(PIXELS);
  const n = images.length;
  const batches = Math.ceil(n / opts.batchSize);
  const totalSteps = opts.epochs * batches;
  let step = 0;
  for (let epoch = 0; epoch < opts.epochs; epoch++) {
    const order = permutation(n, rng);
    let lossSum = 0;
    let correct = 0;
    for (let start = 0; start < n; start += opts.batchSize) {
      const batch = order.slice(start, start + opts.batchSize);
      g.all.fill(0);
      for (const r of batch) {
        let image = images[r]!;
        if (opts.maxShift > 0) {
          const span = 2 * opts.maxShift + 1;
          const dx = Math.floor(rng() * span) - opts.maxShift;
          const dy = Math.floor(rng() * span) - opts.maxShift;
          if (dx !== 0 || dy !== 0) {
            shiftImage(image, shifted, dx, dy, background);
            image = shifted;
          }
        }
        const label = labels[r]!;
        forward(p, image, t);
        lossSum -= Math.log(Math.max(t.probs[label]!, 1e-300));
        let best = 0;
        for (let m = 1; m < CLASSES; m++) if (t.probs[m]! > t.probs[best]!) best = m;
        if (best === label) correct++;
        backward(p, g, image, label, t, opts.activationPenalty, opts.logitPenalty);
      }
      const inv = 1 / batch.length;
      for (let i = 0; i < g.all.length; i++) g.all[i]! *= inv;
      p.weightViews.forEach((w, v) => {
        const gw = g.weightViews[v]!;
        for (let i = 0; i < w.length; i++) gw[i]! += opts.l2 * w[i]!;
      });
      clipGradients(g.all, 5);
      adam.step(p.all, g.all, cosineRate(opts.learningRate, step++, totalSteps));
    }
    opts.onEpoch?.(epoch + 1, lossSum / n, correct / n);
  }
  return toWeights(p);
}

function toWeights(p: Params): CnnWeights {
  const rows = (v: Float64Array, count: number, width: number): number[][] =>
    Array.from({ length: count }, (_, r) => Array.from(v.subarray(r * width, (r + 1) * width)));
  return {
    conv: Array.from({ length: CHANNELS }, (_, o) => [rows(p.cw.subarray(o * KSIZE, (o + 1) * KSIZE), KERNEL, KERNEL)]),
    convBias: Array.from(p.cb),
    dense1: rows(p.w1, HIDDEN, FLAT),
    dense1Bias: Array.from(p.b1),
    dense2: rows(p.w2, CLASSES, HIDDEN),
    dense2Bias: Array.from(p.b2),
  };
}
