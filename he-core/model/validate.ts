import { HeError } from '../errors.js';
import { canonicalJson, sha256Hex } from './canonical.js';
import { MODEL_FORMAT, MODEL_FORMAT_VERSION, inputSize } from './format.js';
import type { FeatureSpec, Layer, ModelFile } from './format.js';
import { convPadding, inputShape, layerOutputShape, shapeSize } from './shapes.js';
import type { Shape } from './shapes.js';

/** SHA-256 of the canonical JSON of a model's layers: what `weightsSha256` must equal. */
export function weightsHash(layers: readonly Layer[]): string {
  return sha256Hex(canonicalJson(layers));
}

function fail(message: string): never {
  throw new HeError('model_invalid', message);
}

function isFiniteNumber(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

function checkNumbers(values: unknown, length: number, what: string): void {
  if (!Array.isArray(values) || values.length !== length) fail(`${what} must be an array of ${length} numbers`);
  for (const v of values) if (!isFiniteNumber(v)) fail(`${what} holds a value that is not a finite number`);
}

function checkLayer(layer: Layer, index: number, shape: Shape): Shape {
  const where = `layer ${index} (${layer.type})`;
  switch (layer.type) {
    case 'dense':
      if (!Number.isInteger(layer.inputs) || !Number.isInteger(layer.outputs) || layer.inputs < 1 || layer.outputs < 1) {
        fail(`${where}: inputs and outputs must be positive integers`);
      }
      if (!Array.isArray(layer.weights) || layer.weights.length !== layer.outputs) fail(`${where}: weights must have ${layer.outputs} rows`);
      layer.weights.forEach((row, r) => checkNumbers(row, layer.inputs, `${where} weights row ${r}`));
      checkNumbers(layer.bias, layer.outputs, `${where} bias`);
      break;
    case 'conv2d': {
      const [kh, kw] = layer.kernel;
      if (!Array.isArray(layer.weights) || layer.weights.length !== layer.outChannels) fail(`${where}: weights must have ${layer.outChannels} output channels`);
      for (const out of layer.weights) {
        if (!Array.isArray(out) || out.length !== layer.inChannels) fail(`${where}: each output channel needs ${layer.inChannels} input channels`);
        for (const inner of out) {
          if (!Array.isArray(inner) || inner.length !== kh) fail(`${where}: kernel rows must be ${kh}`);
          inner.forEach((row, r) => checkNumbers(row, kw, `${where} kernel row ${r}`));
        }
      }
      checkNumbers(layer.bias, layer.outChannels, `${where} bias`);
      if (layer.padding !== undefined) {
        const [ph, pw] = Array.isArray(layer.padding) && layer.padding.length === 2 ? layer.padding : [NaN, NaN];
        if (!Number.isInteger(ph) || !Number.isInteger(pw) || ph < 0 || pw < 0 || ph >= kh || pw >= kw) {
          fail(`${where}: padding must be [rows, columns], whole numbers from 0 to less than the kernel (${kh}x${kw})`);
        }
      }
      break;
    }
    case 'activation':
      if (layer.fn === 'poly') {
        if (!Array.isArray(layer.coefficients) || layer.coefficients.length < 2 || layer.coefficients.length > 4) {
          fail(`${where}: a polynomial activation has 2 to 4 coefficients (degree 1 to 3)`);
        }
        checkNumbers(layer.coefficients, layer.coefficients.length, `${where} coefficients`);
        const [a, b] = layer.range ?? [];
        if (!isFiniteNumber(a) || !isFiniteNumber(b) || !(a < b)) fail(`${where}: range must be [low, high] with low < high`);
        if (layer.approximates !== 'sigmoid' && layer.approximates !== 'relu') fail(`${where}: approximates must be sigmoid or relu`);
      } else if (layer.fn !== 'square') {
        fail(`${where}: unknown activation ${String((layer as { fn: unknown }).fn)}`);
      }
      break;
    case 'avgpool2d':
    case 'flatten':
      break;
    default:
      fail(`${where}: unknown layer type`);
  }
  return layerOutputShape(layer, shape, index);
}

/** The type and codes of one feature: integer bounds for integer and categorical fields, codes within [min, max]. */
function checkFieldType(f: FeatureSpec): void {
  const type = f.type ?? 'number';
  if (!['number', 'integer', 'categorical'].includes(type)) fail(`feature ${f.name}: type must be number, integer or categorical`);
  if (type !== 'categorical' && f.codes !== undefined) fail(`feature ${f.name}: codes are only for a categorical field`);
  if (type === 'number') return;
  if (![f.min, f.max, f.typical].every(Number.isInteger)) fail(`feature ${f.name}: an ${type} field needs whole-number min, max and typical`);
  if (type === 'integer') return;
  if (!Array.isArray(f.codes) || f.codes.length < 2) fail(`feature ${f.name}: a categorical field lists at least two codes`);
  const seen = new Set<number>();
  for (const c of f.codes) {
    if (!Number.isInteger(c?.value) || c.value < f.min || c.value > f.max) fail(`feature ${f.name}: every code must be a whole number in [${f.min}, ${f.max}]`);
    if (typeof c.label !== 'string' || c.label.trim() === '') fail(`feature ${f.name}: code ${c.value} needs a label`);
    if (seen.has(c.value)) fail(`feature ${f.name}: code ${c.value} is listed twice`);
    seen.add(c.value);
  }
  if (!seen.has(f.typical)) fail(`feature ${f.name}: typical must be one of the codes`);
}

/** Checks a parsed model document and returns it typed, or throws model_invalid naming the problem. */
export function validateModel(doc: unknown): ModelFile {
  if (doc === null || typeof doc !== 'object') fail('a model file must be a JSON object');
  const m = doc as ModelFile;
  if (m.format !== MODEL_FORMAT) fail(`format must be "${MODEL_FORMAT}"`);
  if (m.formatVersion !== MODEL_FORMAT_VERSION) fail(`formatVersion ${String(m.formatVersion)} is not supported (this build reads ${MODEL_FORMAT_VERSION})`);
  if (typeof m.id !== 'string' || !/^[a-z0-9][a-z0-9-]{0,63}$/.test(m.id)) fail('id must be lower-case letters, digits and dashes');
  if (typeof m.version !== 'string' || m.version.length === 0) fail('version is required');
  if (!['binary-classification', 'multiclass-classification', 'regression'].includes(m.task)) fail(`task ${String(m.task)} is unknown`);
  if (!m.input || (m.input.kind !== 'features' && m.input.kind !== 'image')) fail('input.kind must be features or image');
  if (m.input.kind === 'features') {
    if (!Array.isArray(m.input.features) || m.input.features.length === 0) fail('input.features must list the fields');
    for (const f of m.input.features) {
      if (typeof f.name !== 'string' || typeof f.label !== 'string' || typeof f.unit !== 'string') fail('every feature needs name, label and unit');
      if (!isFiniteNumber(f.min) || !isFiniteNumber(f.max) || !(f.min < f.max)) fail(`feature ${f.name}: min must be below max`);
      if (!isFiniteNumber(f.typical) || f.typical < f.min || f.typical > f.max) fail(`feature ${f.name}: typical must lie in [min, max]`);
      checkFieldType(f);
    }
  } else if (![m.input.channels, m.input.height, m.input.width].every((v) => Number.isInteger(v) && v > 0)) {
    fail('input image dimensions must be positive integers');
  }
  const n = inputSize(m.input);
  const perValue = m.input.kind === 'features' ? n : 1;
  checkNumbers(m.preprocess?.mean, perValue, 'preprocess.mean');
  checkNumbers(m.preprocess?.scale, perValue, 'preprocess.scale');
  if (m.preprocess.scale.some((s) => s === 0)) fail('preprocess.scale must not contain 0');
  if (!Array.isArray(m.layers) || m.layers.length === 0) fail('layers must not be empty');
  let shape = inputShape(m.input);
  m.layers.forEach((layer, i) => {
    shape = checkLayer(layer, i, shape);
  });
  const outputs = shapeSize(shape);
  if (!m.output || !Array.isArray(m.output.labels) || m.output.labels.length !== outputs) {
    fail(`output.labels must name each of the ${outputs} outputs`);
  }
  if (!Number.isInteger(m.output.precision) || m.output.precision < 0 || m.output.precision > 8) fail('output.precision must be 0..8 decimals');
  if (m.output.trainingRange !== undefined) {
    const r = m.output.trainingRange as unknown;
    if (!Array.isArray(r) || r.length !== 2 || !r.every(isFiniteNumber) || !((r[0] as number) <= (r[1] as number))) fail('output.trainingRange must be [lowest, highest], two finite numbers in order');
    if (m.task !== 'regression') fail('output.trainingRange is for regression models (a classifier answers probabilities)');
  }
  const post = m.postprocess;
  if (!post || !['sigmoid', 'softmax', 'argmax', 'identity'].includes(post.fn)) fail('postprocess.fn must be sigmoid, softmax, argmax or identity');
  if (post.fn === 'identity' && (!isFiniteNumber(post.scale) || !isFiniteNumber(post.offset))) fail('identity post-processing needs scale and offset');
  if (post.fn === 'sigmoid' && outputs !== 1) fail('sigmoid post-processing needs exactly one output');
  if (!m.he || !Number.isInteger(m.he.precisionBits) || m.he.precisionBits < 16 || m.he.precisionBits > 50) fail('he.precisionBits must be 16..50');
  checkNumbers(m.he.valueBounds, m.layers.length + 1, 'he.valueBounds');
  if (m.he.valueBounds.some((b) => b < 0)) fail('he.valueBounds must not be negative');
  if (m.he.singleLayout !== 'vector' && m.he.singleLayout !== 'im2col') fail('he.singleLayout must be vector or im2col');
  if (m.he.singleLayout === 'im2col' && m.layers[0]?.type !== 'conv2d') fail('the im2col layout needs a conv2d first layer');
  if (m.he.singleLayout === 'im2col' && m.layers[0]?.type === 'conv2d' && convPadding(m.layers[0]).some((p) => p > 0)) {
    fail('the im2col layout needs a first conv2d without padding (its windows are laid out by the client); use the vector layout');
  }
  if (!Array.isArray(m.testVectors)) fail('testVectors must be an array');
  for (const [i, tv] of m.testVectors.entries()) {
    checkNumbers(tv.input, n, `testVectors[${i}].input`);
    checkNumbers(tv.expected, outputs, `testVectors[${i}].expected`);
    if (!isFiniteNumber(tv.tolerance) || tv.tolerance <= 0) fail(`testVectors[${i}].tolerance must be positive`);
  }
  const hash = weightsHash(m.layers);
  if (m.weightsSha256 !== hash) fail(`weightsSha256 does not match the layers (expected ${hash})`);
  return m;
}

/** Parses and validates a model file's text. */
export function parseModel(text: string): ModelFile {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new HeError('model_invalid', `the model file is not valid JSON: ${(err as Error).message}`);
  }
  return validateModel(doc);
}
