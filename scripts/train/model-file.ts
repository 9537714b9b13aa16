import { writeFileSync } from 'node:fs';
import { MODEL_FORMAT, MODEL_FORMAT_VERSION } from '../../he-core/model/format.js';
import type { HeHints, Layer, ModelFile, Preprocess, TestVector } from '../../he-core/model/format.js';
import { forwardPreprocessed, postprocess, referenceForward } from '../../he-core/model/reference.js';
import { preprocess as applyPreprocess } from '../../he-core/model/input.js';
import { validateModel, weightsHash } from '../../he-core/model/validate.js';
import type { Rows, SplitInfo } from '../datasets/types.js';
import { evaluateModel } from './metrics.js';

/** Everything about a model that training decides; the common tail (bounds, metrics, hash) is derived. */
export type ModelSpec = Pick<ModelFile, 'id' | 'title' | 'description' | 'task' | 'input' | 'preprocess' | 'layers' | 'postprocess' | 'output' | 'source'> & {
  singleLayout: HeHints['singleLayout'];
};

/**
 * 1.1.0: integer and categorical input fields, the training range of regression outputs, and
 * cards signed with the 1.1 bundled publisher key (docs/SECURITY.md).
 * 1.2.0: special primes of at most 48 bits where the budget left more (breast-cancer-mlp 60 -> 48,
 * diabetes-progression 52 -> 48; he-core/params/select.ts), cards signed with the 1.2 bundled
 * publisher key.
 */
export const MODEL_VERSION = '1.2.0';
/** Bits of precision of every encrypted intermediate value (CKKS scale 2^26). */
export const PRECISION_BITS = 26;
/** Known-answer tolerance on the network output (logits, or the standardised regression value). */
export const TEST_VECTOR_TOLERANCE = 0.01;

/** 8 significant digits: far below the CKKS noise, and it halves the file size. */
export function roundSig(v: number): number {
  return Number(v.toPrecision(8));
}

/** Rounds up to 4 significant digits: a bound must never shrink below the value it bounds. */
export function ceilSig(v: number): number {
  if (v === 0) return 0;
  const r = Number(v.toPrecision(4));
  return r >= v ? r : Number((r + 10 ** (Math.floor(Math.log10(v)) - 3)).toPrecision(4));
}

/** Rounds every number inside a (nested) array. */
function roundDeep<T>(value: T): T {
  if (typeof value === 'number') return roundSig(value) as T;
  if (Array.isArray(value)) return value.map((v: unknown) => roundDeep(v)) as T;
  return value;
}

/** The layers with every weight and bias rounded as stored. */
export function roundLayers(layers: readonly Layer[]): Layer[] {
  return layers.map((layer) => {
    switch (layer.type) {
      case 'dense':
        return { ...layer, weights: roundDeep(layer.weights), bias: roundDeep(layer.bias) };
      case 'conv2d':
        return { ...layer, weights: roundDeep(layer.weights), bias: roundDeep(layer.bias) };
      case 'activation':
        return layer.fn === 'poly' ? { ...layer, coefficients: roundDeep(layer.coefficients) } : layer;
      default:
        return layer;
    }
  });
}

export function roundPreprocess(p: Preprocess): Preprocess {
  return { mean: roundDeep(p.mean), scale: roundDeep(p.scale) };
}

/**
 * The largest |value| entering each layer and of the output, over the training rows: the headroom
 * the HE compiler reserves. Length = layers + 1.
 */
export function valueBounds(model: ModelFile, train: Rows): number[] {
  const bounds = new Array<number>(model.layers.length + 1).fill(0);
  const maxAbs = (v: Float64Array, previous: number): number => {
    let m = previous;
    for (const x of v) m = Math.max(m, Math.abs(x));
    return m;
  };
  for (const x of train.x) {
    const trace = forwardPreprocessed(model, applyPreprocess(model, x));
    trace.layerInputs.forEach((v, i) => (bounds[i] = maxAbs(v, bounds[i]!)));
    bounds[model.layers.length] = maxAbs(trace.output, bounds[model.layers.length]!);
  }
  return bounds.map(ceilSig);
}

/**
 * Four held-out rows for known-answer tests, spread over the classes: for classification the first
 * correctly classified test rows of each class in turn (two per class for binary, four different
 * digits for MNIST), so a demo of a vector shows the right answer; for regression the first four.
 */
export function testVectorRows(model: ModelFile, test: Rows, count = 4): number[] {
  if (model.task === 'regression') return Array.from({ length: Math.min(count, test.y.length) }, (_, i) => i);
  const perClass = Math.ceil(count / new Set(test.y).size);
  const taken = new Map<number, number>();
  const rows: number[] = [];
  test.y.forEach((label, i) => {
    if (rows.length === count || (taken.get(label) ?? 0) >= perClass) return;
    const predicted = postprocess(model.postprocess, referenceForward(model, test.x[i]!)).classIndex;
    if (predicted !== label) return;
    taken.set(label, (taken.get(label) ?? 0) + 1);
    rows.push(i);
  });
  return rows;
}

/**
 * Builds the complete, validated model file from the trained spec: rounds the weights first, then
 * measures everything (bounds, metrics, known answers) on the model exactly as stored.
 */
export function assembleModel(spec: ModelSpec, data: { train: Rows; test: Rows; split: SplitInfo }): ModelFile {
  const layers = roundLayers(spec.layers);
  const model: ModelFile = {
    format: MODEL_FORMAT,
    formatVersion: MODEL_FORMAT_VERSION,
    id: spec.id,
    version: MODEL_VERSION,
    title: spec.title,
    description: spec.description,
    task: spec.task,
    input: spec.input,
    preprocess: roundPreprocess(spec.preprocess),
    layers,
    postprocess: spec.postprocess,
    output: spec.task === 'regression' ? { ...spec.output, trainingRange: [Math.min(...data.train.y), Math.max(...data.train.y)] } : spec.output,
    metrics: {
      trainRows: data.train.y.length,
      testRows: data.test.y.length,
      split: data.split.description,
      seed: data.split.seed,
    },
    he: { precisionBits: PRECISION_BITS, singleLayout: spec.singleLayout, valueBounds: [] },
    testVectors: [],
    weightsSha256: weightsHash(layers),
    source: spec.source,
  };
  model.metrics = { ...model.metrics, ...evaluateModel(model, data.test) };
  model.he.valueBounds = valueBounds(model, data.train);
  model.testVectors = testVectorRows(model, data.test).map(
    (i): TestVector => {
      const input = data.test.x[i]!;
      return { input, expected: Array.from(referenceForward(model, input), roundSig), tolerance: TEST_VECTOR_TOLERANCE };
    },
  );
  return validateModel(model);
}

/**
 * JSON with 2-space indentation, except that arrays of plain numbers stay on one line: the
 * metadata stays readable in a diff and a weight row is one line, not hundreds.
 */
export function formatModelJson(value: unknown, indent = ''): string {
  if (Array.isArray(value)) {
    if (value.every((v) => typeof v === 'number')) return JSON.stringify(value);
    const inner = indent + '  ';
    return `[\n${value.map((v: unknown) => inner + formatModelJson(v, inner)).join(',\n')}\n${indent}]`;
  }
  if (value !== null && typeof value === 'object') {
    const inner = indent + '  ';
    const entries = Object.entries(value).filter(([, v]) => v !== undefined);
    if (entries.length === 0) return '{}';
    return `{\n${entries.map(([k, v]) => `${inner}${JSON.stringify(k)}: ${formatModelJson(v, inner)}`).join(',\n')}\n${indent}}`;
  }
  return JSON.stringify(value);
}

/** Writes `assets/models/<id>.json` and returns its size in bytes. */
export function writeModel(model: ModelFile, dir: string): number {
  const text = formatModelJson(model) + '\n';
  writeFileSync(`${dir}/${model.id}.json`, text);
  return Buffer.byteLength(text);
}
