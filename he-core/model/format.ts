/**
 * The CipherCare model format, version 1: a JSON document of HE-friendly layers, the clear
 * pre- and post-processing that the client applies, and the model card (schema, labels,
 * held-out metrics, known-answer test vectors, weights hash).
 */
export const MODEL_FORMAT = 'ciphercare-model';
export const MODEL_FORMAT_VERSION = 1;

export type ModelTask = 'binary-classification' | 'multiclass-classification' | 'regression';

/** One input field of a tabular model, in the units a clinician types. */
export interface FeatureSpec {
  name: string;
  label: string;
  unit: string;
  min: number;
  max: number;
  typical: number;
  /** Decimal places shown and accepted in forms (display only). */
  decimals?: number;
  /**
   * What values the field takes: 'number' (the default) any value in [min, max]; 'integer' whole
   * numbers in [min, max]; 'categorical' exactly one of `codes`. Inputs are refused otherwise.
   */
  type?: 'number' | 'integer' | 'categorical';
  /** For a categorical field: every allowed code (a number in [min, max]) and what it means. */
  codes?: FeatureCode[];
}

/** One allowed value of a categorical field. */
export interface FeatureCode {
  value: number;
  label: string;
}

export interface FeatureInput {
  kind: 'features';
  features: FeatureSpec[];
}

/** A small grey-level image, values in [min, max] before pre-processing, shape [channels, height, width]. */
export interface ImageInput {
  kind: 'image';
  channels: number;
  height: number;
  width: number;
  min: number;
  max: number;
  description: string;
}

export type ModelInput = FeatureInput | ImageInput;

/** z = (x - mean) / scale, per feature (or one value for every pixel). */
export interface Preprocess {
  mean: number[];
  scale: number[];
}

export interface DenseLayer {
  type: 'dense';
  inputs: number;
  outputs: number;
  /** outputs x inputs, row-major by output. */
  weights: number[][];
  bias: number[];
}

export interface Conv2dLayer {
  type: 'conv2d';
  inChannels: number;
  outChannels: number;
  kernel: [number, number];
  stride: [number, number];
  /**
   * Zero rows added above and below, zero columns left and right of the input (each side the
   * same, less than the kernel); absent: none ("valid"). Written only when not [0, 0], so files
   * without padding keep their weights hash.
   */
  padding?: [number, number];
  /** [out][in][kh][kw]. */
  weights: number[][][][];
  bias: number[];
}

export interface AvgPool2dLayer {
  type: 'avgpool2d';
  kernel: [number, number];
  stride: [number, number];
}

export interface FlattenLayer {
  type: 'flatten';
}

export type ActivationFit = 'sigmoid' | 'relu';

export type ActivationLayer =
  | { type: 'activation'; fn: 'square' }
  | {
      type: 'activation';
      fn: 'poly';
      /** c0 + c1 x + c2 x^2 + c3 x^3; degree at most 3. */
      coefficients: number[];
      approximates: ActivationFit;
      /** The input range over which the fit is valid, declared by the model. */
      range: [number, number];
    };

export type Layer = DenseLayer | Conv2dLayer | AvgPool2dLayer | FlattenLayer | ActivationLayer;

export type Postprocess =
  | { fn: 'sigmoid' }
  | { fn: 'softmax' }
  | { fn: 'argmax' }
  /** value = output * scale + offset (regression targets are trained standardised). */
  | { fn: 'identity'; scale: number; offset: number };

export interface ModelOutput {
  /** One label per network output (binary classification: one output, the positive class). */
  labels: string[];
  /** For binary classification: the label of the negative class. */
  negativeLabel?: string;
  unit?: string;
  /** Decimal places the client rounds shown and stored results to. */
  precision: number;
  /**
   * Regression: the lowest and highest target seen in training, in `unit` (after post-processing).
   * A result outside this range is shown with a warning: the model was never fitted there.
   */
  trainingRange?: [number, number];
}

export interface HeldOutMetrics {
  trainRows: number;
  testRows: number;
  split: string;
  seed: number;
  accuracy?: number;
  auc?: number;
  rmse?: number;
  mae?: number;
  r2?: number;
}

/** Known answer: a raw input, the network output before post-processing, and the tolerance. */
export interface TestVector {
  input: number[];
  expected: number[];
  tolerance: number;
}

export interface HeHints {
  /**
   * Bits of precision every encrypted intermediate value carries: the CKKS scale is 2^precisionBits.
   * The compiler adds the integer headroom from `valueBounds`.
   */
  precisionBits: number;
  /**
   * Largest absolute value entering each layer, and of the output (length = layers + 1), measured
   * on the training data by the training script. The compiler sizes the modulus chain from it.
   */
  valueBounds: number[];
  /** The layout for one sample: 'vector' for tabular models, 'im2col' for a first conv layer. */
  singleLayout: 'vector' | 'im2col';
}

export interface ModelFile {
  format: typeof MODEL_FORMAT;
  formatVersion: typeof MODEL_FORMAT_VERSION;
  id: string;
  version: string;
  title: string;
  description: string;
  task: ModelTask;
  input: ModelInput;
  preprocess: Preprocess;
  layers: Layer[];
  postprocess: Postprocess;
  output: ModelOutput;
  metrics: HeldOutMetrics;
  he: HeHints;
  testVectors: TestVector[];
  /** SHA-256 (hex) of the canonical JSON of `layers`. */
  weightsSha256: string;
  source: { dataset: string; attribution: string; licence: string };
}

/** The number of raw input values a model takes. */
export function inputSize(input: ModelInput): number {
  return input.kind === 'features' ? input.features.length : input.channels * input.height * input.width;
}
