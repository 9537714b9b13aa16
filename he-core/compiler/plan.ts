import type { HeldOutMetrics, ModelInput, ModelOutput, ModelTask, Postprocess, Preprocess, TestVector } from '../model/format.js';
import type { HeParameters } from '../params/parameters.js';
import type { Im2colGeometry } from './lower.js';

export type LayoutKind = 'vector' | 'im2col' | 'batch';

/** One sample per ciphertext: the pre-processed vector in slots [0, size), repeated every `period` slots. */
export interface VectorInputLayout {
  kind: 'vector';
  size: number;
  period: number;
}

/** One image per ciphertext: kernel position k's window w at slot k * windowBlock + w (laid out by the client). */
export interface Im2colInputLayout extends Im2colGeometry {
  kind: 'im2col';
  windowBlock: number;
  kernelPositions: number;
}

/** One feature per ciphertext, one sample per slot. */
export interface BatchInputLayout {
  kind: 'batch';
  features: number;
}

export type InputLayout = VectorInputLayout | Im2colInputLayout | BatchInputLayout;

export interface CiphertextShape {
  /** Number of ciphertexts. */
  count: number;
  /** Chain index they are at. */
  level: number;
  /** Their exact CKKS scale (as SEAL computes it). */
  scale: number;
}

/**
 * How the answer ciphertexts travel (he-core/envelope/packed-result.ts): each is multiplied by
 * `multiplier`, then the coefficients of its two polynomials are switched from the last prime q0
 * to `bits[0]` and `bits[1]` bits (rounded). The client rebuilds the ciphertext at scale
 * `scale × multiplier` and refuses an answer with any slot beyond `bound`.
 */
export interface ResultPacking {
  multiplier: number;
  bits: [number, number];
  /** Largest |value| in any decrypted slot that the client accepts. */
  bound: number;
  /** Values up to this magnitude come through exact; beyond it they wrap around (at least 1.5 × bound). */
  range: number;
  /** Predicted standard deviation of the rounding error of an output (the worst output, for all but one key in a thousand). */
  noise: number;
  /**
   * Where the outputs repeat by construction (`slots` outputs of a layout whose replicas the
   * client cannot fill with anything else, e.g. im2col), c0 travels only at the coefficients
   * i·c0Stride, with c0Stride = replicas: the client reads the mean of the replicas, and that
   * mean depends on no other coefficient of c0 + c1·s (docs/he-core.md, "Packed answers").
   * Absent: every coefficient of c0 travels.
   */
  c0Stride?: number;
}

/** Output i at slot i of one ciphertext (`slots`), or output i in ciphertext i with one sample per slot (`batch`). */
export interface OutputLayout extends CiphertextShape {
  kind: 'slots' | 'batch';
  size: number;
  /** `slots`: the outputs repeat this many times, every slots / replicas slots (the client reads their mean); `batch`: 1. */
  replicas: number;
  packing: ResultPacking;
}

/**
 * The public part of a plan: everything a client needs to encrypt, check and decrypt, and none of
 * the weights. A provider publishes it; the client never needs more.
 */
export interface PublicPlan {
  /** 1; 2 for a plan whose answers carry c0 at a stride (`output.packing.c0Stride`), which a format-1 client cannot read. */
  planFormat: 1 | 2;
  model: {
    id: string;
    version: string;
    title: string;
    description: string;
    task: ModelTask;
    weightsSha256: string;
    metrics: HeldOutMetrics;
    input: ModelInput;
    output: ModelOutput;
    preprocess: Preprocess;
    postprocess: Postprocess;
    testVectors: TestVector[];
  };
  layout: LayoutKind;
  params: HeParameters;
  /** Exactly the Galois (rotation) steps the evaluation uses. */
  galoisSteps: number[];
  relinearization: boolean;
  /** Samples per request: 1, or the slot count for the batch layout. */
  samplesPerRequest: number;
  input: InputLayout & CiphertextShape;
  output: OutputLayout;
}

/** A linear map evaluated by the diagonal method with baby-step/giant-step rotations. */
export interface LinearStep {
  op: 'linear';
  name: string;
  strategy: 'hybrid' | 'generic';
  rows: number;
  cols: number;
  levelIn: number;
  scaleIn: number;
  scaleOut: number;
  /** Baby steps: rot(x, babyUnit * beta) for beta < baby, made by repeated rotation. */
  babyUnit: number;
  baby: number;
  giant: number;
  /** Pre-rotated diagonals, index giant * baby + beta; null where the diagonal is zero. */
  diagonals: (Float64Array | null)[];
  /** Horner over the giant groups, from the top: rotate the accumulator by `shift`, then add group `group`. */
  giantSchedule: { group: number; shift: number }[];
  /** Rotation applied after the last group (when the lowest groups are empty). */
  finalShift: number;
  /** Rotate-and-add steps that sum the output blocks (hybrid method). */
  blockSums: number[];
  bias: Float64Array | null;
  /** The output is repeated with this period across all slots. */
  outPeriod: number;
}

/** x -> x^2 (one level). */
export interface SquareStep {
  op: 'square';
  name: string;
  levelIn: number;
  scaleIn: number;
  scaleOut: number;
}

/** x -> x^3 + e x (two levels, no plaintext multiplication). */
export interface CubeStep {
  op: 'cube';
  name: string;
  e: number;
  levelIn: number;
  scaleIn: number;
  scaleOut: number;
}

/** Batch layout: out_r = sum_c W[r][c] * in_c + bias_r over ciphertexts (one slot per sample). */
export interface BatchLinearStep {
  op: 'batch-linear';
  name: string;
  rows: number;
  cols: number;
  levelIn: number;
  scaleIn: number;
  scaleOut: number;
  weights: Float64Array;
  bias: Float64Array;
}

export type PlanStep = LinearStep | SquareStep | CubeStep | BatchLinearStep;

/** A compiled plan: its public part and the weight-bearing steps (kept by whoever holds the weights). */
export interface Plan {
  public: PublicPlan;
  steps: PlanStep[];
  /** For each rotation amount the evaluation uses, the sequence of key steps that composes it. */
  rotationPaths: Record<number, number[]>;
  depth: number;
}
