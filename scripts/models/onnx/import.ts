// `npm run models -- import MODEL.onnx --calibration CALIB.csv --out DIR [--card CARD.json]`:
// maps an ONNX export onto the model format, compiles it exactly as the service does, verifies the
// encrypted evaluation against onnxruntime, and writes DIR/ID.json and the card source
// DIR/drafts/ID.card.json (and, with --key, the signed card DIR/cards/ID.card.json) all at once or
// not at all. docs/providers.md walks through it.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import {
  HeContext,
  HeError,
  PlanEvaluator,
  argmax,
  cardFromModel,
  compile,
  encodeKeyEnvelope,
  evaluateEnvelope,
  explain,
  forwardPreprocessed,
  inputSize,
  loadSeal,
  openKeyEnvelope,
  postprocess,
  preprocess as applyPreprocess,
  privateKeyFromPem,
  referenceForward,
  signCard,
  slotCount,
  validateModel,
  weightsHash,
} from '../../../he-core/index.js';
import type { FeatureSpec, HeldOutMetrics, Layer, ModelFile, ModelInput, ModelOutput, ModelTask, Plan, PlanMode, Postprocess, PublicPlan, TestVector } from '../../../he-core/index.js';
import { ClientKeyPair, decryptResult, encryptRequest } from '../../../he-core/client/index.js';
import { outputHeadroomBits } from '../../../he-core/compiler/compile.js';
import { lowerModel, opDepth } from '../../../he-core/compiler/lower.js';
import { inputShape, layerOutputShape, shapeSize } from '../../../he-core/model/shapes.js';
import { ceilSig, formatModelJson, roundSig } from '../../train/model-file.js';
import { readCalibration } from './calibration.js';
import type { Calibration } from './calibration.js';
import { ImportError } from './errors.js';
import { mapGraph } from './graph.js';
import type { Approximation, MappedNetwork } from './graph.js';
import { readOnnx } from './read.js';
import { onnxruntimeVersion, runOnnx } from './runtime.js';

/** The part of a model file a provider writes by hand: the card source (a draft, or --card). */
export interface CardSource {
  id: string;
  version: string;
  title: string;
  description: string;
  /** features: one entry per calibration column, in order; image: the pixel range and a description. */
  input: { kind: 'features'; features: FeatureSpec[] } | { kind: 'image'; min: number; max: number; description: string };
  output: ModelOutput;
  metrics: HeldOutMetrics;
  source: ModelFile['source'];
  /** The known-answer tolerance on the raw output; it also sets the answers' precision (default 0.01). */
  tolerance?: number;
  /** Bits of precision of encrypted values (default: 26, as the bundled models, raised by the import when its verification needs more). */
  precisionBits?: number;
}

export interface ImportOptions {
  onnx: string;
  calibration: string;
  out: string;
  card?: string;
  key?: string;
  id?: string;
  approximate: string[];
  /** Calibration rows verified encrypted against onnxruntime (0: skip; default 200). */
  verifyRows: number;
}

export interface VerificationRow {
  what: string;
  maxError: number;
  agree: number;
}

export interface Verification {
  rows: number;
  requests: number;
  tolerance: number;
  classification: boolean;
  plaintext: VerificationRow;
  encrypted: VerificationRow;
  /** Encrypted against the importer's own float64 reference: the compiler's error alone. */
  encryptedVsPlain: number;
}

export interface ImportResult {
  model: ModelFile;
  plans: Record<PlanMode, Plan>;
  network: MappedNetwork;
  verification: Verification | null;
  written: string[];
}

export const DEFAULT_TOLERANCE = 0.01;
export const DEFAULT_PRECISION_BITS = 26;
/** The most bits of precision the importer picks by itself. */
const MAX_AUTO_PRECISION_BITS = 38;
const PRECISION_STEP_BITS = 4;
/** Slots of a ciphertext at N = 32768, the largest degree with 128-bit security parameters. */
const MAX_SLOTS = 16_384;
const TEST_VECTORS = 4;

/** `relu:poly2:[-4,4]` (also `relu:poly3:-4,4`). */
export function parseApproximation(spec: string): [string, Approximation] {
  const m = /^(relu|sigmoid):poly([23]):\[?\s*(-?[0-9.eE+-]+)\s*,\s*(-?[0-9.eE+-]+)\s*\]?$/.exec(spec.trim());
  if (!m) throw new ImportError(`--approximate ${spec}: expected OP:polyD:[low,high] with OP relu or sigmoid and D 2 or 3, for example relu:poly2:[-4,4]`, 2);
  const low = Number(m[3]);
  const high = Number(m[4]);
  if (!Number.isFinite(low) || !Number.isFinite(high) || !(low < high)) throw new ImportError(`--approximate ${spec}: the range must be [low, high] with low < high`, 2);
  return [m[1]!, { fn: m[1] as Approximation['fn'], degree: Number(m[2]) as 2 | 3, range: [low, high] }];
}

function idFrom(file: string): string {
  const id = basename(file).replace(/\.onnx$/i, '').toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 64);
  return /^[a-z0-9]/.test(id) ? id : `model-${id}`.slice(0, 64);
}

function taskOf(net: MappedNetwork): { task: ModelTask; post: Postprocess } {
  if (net.final === 'sigmoid') return { task: 'binary-classification', post: { fn: 'sigmoid' } };
  if (net.final === 'softmax') return { task: 'multiclass-classification', post: { fn: 'softmax' } };
  if (net.outputs > 1) return { task: 'multiclass-classification', post: { fn: 'argmax' } };
  return { task: 'regression', post: { fn: 'identity', scale: 1, offset: 0 } };
}

/** The draft card: names and ranges from the calibration data, generic labels for the provider to edit. */
export function draftCard(id: string, net: MappedNetwork, calib: Calibration): CardSource {
  const { task } = taskOf(net);
  const column = (i: number): number[] => calib.rows.map((r) => r[i]!);
  let input: CardSource['input'];
  if (net.input.kind === 'features') {
    input = {
      kind: 'features',
      features: calib.names.map((name, i) => {
        const values = column(i).sort((a, b) => a - b);
        let min = values[0]!;
        let max = values[values.length - 1]!;
        if (min === max) {
          const pad = Math.abs(min) * 0.01 || 1;
          min -= pad;
          max += pad;
        }
        const typical = Math.min(max, Math.max(min, values[Math.floor(values.length / 2)]!));
        return { name, label: name, unit: '', min, max, typical };
      }),
    };
  } else {
    let min = Infinity;
    let max = -Infinity;
    for (const r of calib.rows) for (const v of r) [min, max] = [Math.min(min, v), Math.max(max, v)];
    input = { kind: 'image', min, max, description: `A ${net.input.shape.join(' x ')} image (channels x height x width), flattened channel by channel, row by row. Describe what it shows.` };
  }
  const output: ModelOutput =
    task === 'binary-classification'
      ? { labels: ['positive'], negativeLabel: 'negative', precision: 3 }
      : task === 'multiclass-classification'
        ? { labels: Array.from({ length: net.outputs }, (_, i) => `class ${i}`), precision: 3 }
        : { labels: ['output'], unit: '', precision: 3 };
  return {
    id,
    version: '1.0.0',
    title: `${id} (imported from ONNX)`,
    description: 'Draft card written by the ONNX importer: say what the model predicts, from what, for whom.',
    input,
    output,
    metrics: { trainRows: 0, testRows: 0, split: 'not stated: describe the training data and the held-out split', seed: 0 },
    source: { dataset: 'not stated', attribution: 'not stated', licence: 'not stated' },
    tolerance: DEFAULT_TOLERANCE,
  };
}

function readCardSource(file: string): CardSource {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ImportError(`cannot read the card ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, 2);
  }
  const c = doc as Partial<CardSource>;
  for (const k of ['id', 'version', 'title', 'description'] as const) if (typeof c[k] !== 'string') throw new ImportError(`the card ${file} needs a string "${k}"`, 2);
  if (!c.input || (c.input.kind !== 'features' && c.input.kind !== 'image')) throw new ImportError(`the card ${file} needs "input" with kind features or image`, 2);
  if (!c.output || !Array.isArray(c.output.labels)) throw new ImportError(`the card ${file} needs "output" with labels`, 2);
  if (!c.metrics || !c.source) throw new ImportError(`the card ${file} needs "metrics" and "source"`, 2);
  return c as CardSource;
}

function inputFromCard(card: CardSource, net: MappedNetwork, calib: Calibration): ModelInput {
  if (card.input.kind === 'features') {
    if (net.input.kind !== 'features') throw new ImportError(`the card describes features, but the model takes an image of ${net.input.shape.join(' x ')}`, 2);
    const names = card.input.features.map((f) => f.name);
    if (names.length !== calib.names.length || names.some((n, i) => n !== calib.names[i])) {
      throw new ImportError(`the card's features (${names.join(', ')}) must be the calibration columns, in order (${calib.names.join(', ')})`, 2);
    }
    return { kind: 'features', features: card.input.features };
  }
  if (net.input.kind !== 'image') throw new ImportError(`the card describes an image, but the model takes ${net.input.shape[0]} features`, 2);
  const [channels, height, width] = net.input.shape as [number, number, number];
  return { kind: 'image', channels, height, width, min: card.input.min, max: card.input.max, description: card.input.description };
}

/** Standardisation from the calibration data, folded exactly into the first dense layer (tabular models without their own). */
function standardise(net: MappedNetwork, calib: Calibration): { layers: Layer[]; mean: number[]; scale: number[] } {
  const n = calib.names.length;
  const mean = calib.names.map((_, i) => roundSig(calib.rows.reduce((a, r) => a + r[i]!, 0) / calib.rows.length));
  const scale = calib.names.map((_, i) => {
    const sd = Math.sqrt(calib.rows.reduce((a, r) => a + (r[i]! - mean[i]!) ** 2, 0) / calib.rows.length);
    return sd > 0 ? roundSig(sd) : 1;
  });
  const [first, ...rest] = net.layers;
  if (first?.type !== 'dense' || first.inputs !== n) throw new ImportError('a tabular model must start with a Gemm or MatMul layer');
  // W z + b with z = (x - m) / s equals the exported W x + b when W' = W s and b' = b + W m.
  const weights = first.weights.map((row) => row.map((w, c) => w * scale[c]!));
  const bias = first.bias.map((b, r) => b + first.weights[r]!.reduce((a, w, c) => a + w * mean[c]!, 0));
  return { layers: [{ ...first, weights, bias }, ...rest], mean, scale };
}

function inRange(model: ModelFile, raw: readonly number[]): boolean {
  if (model.input.kind === 'image') {
    const { min, max } = model.input;
    return raw.every((v) => v >= min && v <= max);
  }
  return model.input.features.every((f, i) => raw[i]! >= f.min && raw[i]! <= f.max);
}

/** Four calibration rows for the known answers: different predicted classes first. */
function testVectorRows(model: ModelFile, rows: readonly number[][]): number[] {
  const picked: number[] = [];
  const classes = new Set<number>();
  const classOf = (out: Float64Array): number => (out.length === 1 ? (out[0]! >= 0 ? 1 : 0) : argmax(out));
  rows.forEach((r, i) => {
    if (picked.length >= TEST_VECTORS || !inRange(model, r)) return;
    const c = model.task === 'regression' ? i : classOf(referenceForward(model, r));
    if (classes.has(c)) return;
    classes.add(c);
    picked.push(i);
  });
  for (let i = 0; i < rows.length && picked.length < TEST_VECTORS; i++) if (!picked.includes(i) && inRange(model, rows[i]!)) picked.push(i);
  return picked;
}

/** Builds and validates the model file from the mapped network, the calibration data and the card. */
export function buildModel(net: MappedNetwork, calib: Calibration, card: CardSource): ModelFile {
  const { task, post } = taskOf(net);
  let layers = net.layers;
  let pre = net.preprocess;
  if (!pre) {
    if (net.input.kind === 'features') {
      const s = standardise(net, calib);
      layers = s.layers;
      pre = { mean: s.mean, scale: s.scale };
    } else {
      pre = { mean: [0], scale: [1] };
    }
  }
  const first = layers[0];
  const singleLayout = net.input.kind === 'image' && first?.type === 'conv2d' && !first.padding ? 'im2col' : 'vector';
  const draft: ModelFile = {
    format: 'ciphercare-model',
    formatVersion: 1,
    id: card.id,
    version: card.version,
    title: card.title,
    description: card.description,
    task,
    input: inputFromCard(card, net, calib),
    preprocess: pre,
    layers,
    postprocess: post,
    output: card.output,
    metrics: card.metrics,
    he: { precisionBits: card.precisionBits ?? DEFAULT_PRECISION_BITS, singleLayout, valueBounds: new Array<number>(layers.length + 1).fill(0) },
    testVectors: [],
    weightsSha256: weightsHash(layers),
    source: card.source,
  };
  // The largest |value| entering each layer and of the output, over every calibration row.
  const bounds = new Array<number>(layers.length + 1).fill(0);
  for (const row of calib.rows) {
    const trace = forwardPreprocessed(draft, applyPreprocess(draft, row));
    trace.layerInputs.forEach((v, i) => v.forEach((x) => (bounds[i] = Math.max(bounds[i]!, Math.abs(x)))));
    trace.output.forEach((x) => (bounds[layers.length] = Math.max(bounds[layers.length]!, Math.abs(x))));
  }
  draft.he.valueBounds = bounds.map(ceilSig);
  const tolerance = card.tolerance ?? DEFAULT_TOLERANCE;
  const rows = testVectorRows(draft, calib.rows);
  if (rows.length === 0) throw new ImportError("no calibration row lies inside the card's input ranges: the known answers need at least one", 2);
  draft.testVectors = rows.map((i): TestVector => ({ input: calib.rows[i]!, expected: Array.from(referenceForward(draft, calib.rows[i]!), roundSig), tolerance }));
  try {
    return validateModel(draft);
  } catch (err) {
    if (err instanceof HeError) throw new ImportError(`the imported model is not valid: ${err.message}`);
    throw err;
  }
}

/** c0 + c1 x + c2 x² (+ c3 x³), 4 significant digits. */
export function polynomialText(coefficients: readonly number[]): string {
  const powers = ['', ' x', ' x²', ' x³'];
  return coefficients
    .map((c, k) => `${k === 0 ? '' : c < 0 ? ' − ' : ' + '}${(k === 0 ? c : Math.abs(c)).toPrecision(4)}${powers[k]}`)
    .join('');
}

/** How many values entering the `which`-th fitted activation, over the calibration rows, lie outside its range. */
function outsideRange(model: ModelFile, calib: Calibration, [low, high]: [number, number], which: number): { count: number; total: number; largest: number } {
  const index = model.layers.map((l, i) => (l.type === 'activation' && l.fn === 'poly' ? i : -1)).filter((i) => i >= 0)[which]!;
  let count = 0;
  let total = 0;
  let largest = 0;
  for (const row of calib.rows) {
    for (const v of forwardPreprocessed(model, applyPreprocess(model, row)).layerInputs[index]!) {
      total++;
      if (v < low || v > high) {
        count++;
        largest = Math.max(largest, Math.abs(v));
      }
    }
  }
  return { count, total, largest };
}

/** Compiles one mode; when no 128-bit plan exists, says which limit and why. */
function compileOrExplain(seal: Awaited<ReturnType<typeof loadSeal>>['seal'], model: ModelFile, mode: PlanMode): Plan {
  // The compiler sizes the first prime from the output's bound over the input box (interval
  // arithmetic); a deep network can overflow it to NaN, which no parameter search can satisfy.
  // One sample's values must fit the slots of one ciphertext (N/2, at most 16,384 at 128-bit
  // security with N = 32768); checked before compiling, which would build matrices that large.
  if (mode === 'single') {
    let shape = inputShape(model.input);
    let widest = { size: shapeSize(shape), what: 'the input' };
    model.layers.forEach((layer, i) => {
      shape = layerOutputShape(layer, shape, i);
      if (shapeSize(shape) > widest.size) widest = { size: shapeSize(shape), what: `layer ${i} (${layer.type === 'activation' ? layer.fn : layer.type})` };
    });
    if (widest.size > MAX_SLOTS) {
      throw new ImportError(`no 128-bit plan for the single layout: ${widest.what} has ${widest.size} values, and one sample must fit the ${MAX_SLOTS} slots of a ciphertext at the largest polynomial degree 128-bit security allows (32768). Use a narrower layer or a smaller input`);
    }
  }
  if (Number.isNaN(outputHeadroomBits(model))) {
    throw new ImportError(`no 128-bit plan for the ${mode} layout: the output's bound over the input ranges overflows (interval arithmetic through ${model.layers.length} layers gives no finite number), so no first prime can be sized for it. Narrow the input ranges in the card, or use a shallower network`);
  }
  try {
    return compile(seal, model, { mode });
  } catch (err) {
    if (!(err instanceof HeError)) throw err;
    const ir = lowerModel(model, mode === 'single' && model.he.singleLayout === 'im2col');
    const depth = ir.reduce((a, op) => a + opDepth(op), 0);
    const widest = Math.max(inputSize(model.input), ...ir.map((op) => (op.kind === 'linear' ? op.rows : 0)));
    const multiplications = ir.filter((op) => op.kind !== 'linear').length;
    const why =
      err.code === 'params_unsatisfiable'
        ? `depth ${depth} (${ir.length - multiplications} linear steps after fusing, ${multiplications} activations) at ${model.he.precisionBits}-bit precision needs a longer modulus chain than 128-bit security allows at any polynomial degree up to 32768${mode === 'single' ? `, and one sample needs ${widest} slots (its widest tensor)` : ''}. Fewer activations or layers (each costs a level), a lower precision (card "precisionBits"), or a smaller network fits`
        : 'the compiler refused the network';
    throw new ImportError(`no 128-bit plan for the ${mode} layout: ${err.message}. ${why}`);
  }
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** Encrypted (batch layout, in-process through the real envelopes) vs onnxruntime on up to `count` calibration rows. */
async function verify(model: ModelFile, plan: Plan, bytes: Uint8Array, net: MappedNetwork, calib: Calibration, count: number): Promise<Verification> {
  const rows = calib.rows.filter((r) => inRange(model, r)).slice(0, count);
  if (rows.length === 0) throw new ImportError("no calibration row lies inside the card's input ranges, so none can be verified", 2);
  const ort = await runOnnx(bytes, net, rows);
  const plain = rows.map((r) => referenceForward(model, r));
  const rt = await loadSeal();
  const ctx = HeContext.create(rt, plan.public.params);
  const evaluator = new PlanEvaluator(ctx, plan);
  const client = ClientKeyPair.generate(ctx);
  let encrypted: Float64Array[] = [];
  let requests = 0;
  try {
    const generated = client.createEvaluationKeys(plan.public);
    const keys = openKeyEnvelope(ctx, plan.public, encodeKeyEnvelope(ctx.params.fingerprint, generated.relin, generated.galois));
    try {
      const per = slotCount(plan.public.params);
      for (let start = 0; start < rows.length; start += per) {
        const part = rows.slice(start, start + per);
        encrypted = encrypted.concat(decryptResult(client, plan.public, evaluateEnvelope(evaluator, keys, encryptRequest(client, plan.public, part)), part.length));
        requests++;
      }
    } finally {
      keys.dispose();
    }
  } finally {
    client.dispose();
    evaluator.dispose();
    ctx.dispose();
  }
  const classification = model.task !== 'regression';
  const classOf = (out: ArrayLike<number>): number => (out.length === 1 ? (out[0]! >= 0 ? 1 : 0) : argmax(out));
  const row = (what: string, outs: Float64Array[]): VerificationRow => {
    let maxError = 0;
    let agree = 0;
    outs.forEach((o, i) => {
      // Regression: compared after post-processing (the value shown); classification: raw outputs.
      const a = classification ? o : postprocess(model.postprocess, o).values;
      const b = classification ? ort.raw[i]! : postprocess(model.postprocess, ort.raw[i]!).values;
      maxError = Math.max(maxError, maxAbsDiff(a, b));
      if (classification && classOf(o) === classOf(ort.raw[i]!)) agree++;
    });
    return { what, maxError, agree };
  };
  return {
    rows: rows.length,
    requests,
    tolerance: Math.min(...model.testVectors.map((t) => t.tolerance)),
    classification,
    plaintext: row('import (float64) vs onnxruntime', plain),
    encrypted: row('encrypted vs onnxruntime', encrypted),
    encryptedVsPlain: Math.max(...encrypted.map((e, i) => maxAbsDiff(e, plain[i]!))),
  };
}

export function verificationTable(v: Verification): string[] {
  const head = v.classification ? 'max |raw output error|   class agreement' : 'max |error| (shown value)';
  const line = (r: VerificationRow): string => `  ${r.what.padEnd(34)} ${r.maxError.toExponential(2).padStart(10)}${v.classification ? `   ${`${r.agree}/${v.rows}`.padStart(9)} (${((100 * r.agree) / v.rows).toFixed(1)}%)` : ''}`;
  return [
    `verification on ${v.rows} calibration rows (encrypted: batch layout, ${v.requests} request${v.requests === 1 ? '' : 's'}; reference: onnxruntime ${onnxruntimeVersion()} CPU)`,
    `  ${''.padEnd(34)} ${head}`,
    line(v.plaintext),
    line(v.encrypted),
    `  tolerance ${v.tolerance} (the known answers' tolerance); encrypted vs the import's own float64 reference: ${v.encryptedVsPlain.toExponential(2)}`,
  ];
}

/** Moves the staged files into DIR in one step each; DIR is created by renaming the staging directory. */
function commitFiles(stage: string, out: string, files: string[]): string[] {
  if (!existsSync(out)) {
    renameSync(stage, out);
    return files.map((f) => join(out, f));
  }
  for (const f of files) {
    const target = join(out, f);
    mkdirSync(dirname(target), { recursive: true });
    renameSync(join(stage, f), target);
  }
  rmSync(stage, { recursive: true, force: true });
  return files.map((f) => join(out, f));
}

export async function importOnnx(options: ImportOptions, log: (line: string) => void): Promise<ImportResult> {
  const approximations = new Map(options.approximate.map(parseApproximation));
  const { graph, bytes } = readOnnx(options.onnx);
  const net = mapGraph(graph, approximations);
  const inputs = net.input.shape.reduce((a, b) => a * b, 1);
  const calib = readCalibration(options.calibration, inputs);
  const card = options.card ? readCardSource(options.card) : draftCard(options.id ?? idFrom(options.onnx), net, calib);
  if (options.id && options.card && options.id !== card.id) throw new ImportError(`--id ${options.id} differs from the card's id ${card.id}`, 2);
  let model = buildModel(net, calib, card);
  log(`${options.onnx}: ONNX IR ${graph.irVersion}, opset ${graph.opset}, from ${graph.producer}; ${graph.nodes.length} nodes -> ${model.layers.length} layers (${model.layers.map((l) => (l.type === 'activation' ? l.fn : l.type)).join(', ')})`);
  for (const note of net.notes) log(`  ${note}`);
  for (const a of net.approximated) {
    const outside = outsideRange(model, calib, a.range, net.approximated.indexOf(a));
    log(`  ${a.op} "${a.node}" approximated by ${polynomialText(a.coefficients)} on [${a.range.join(', ')}]; ${outside.count} of ${outside.total} calibration values entering it lie outside that range${outside.count > 0 ? ` (up to ${outside.largest.toPrecision(3)}): widen the range` : ''}`);
  }
  const { seal } = await loadSeal();
  let plans = { single: compileOrExplain(seal, model, 'single'), batch: compileOrExplain(seal, model, 'batch') };
  let verification: Verification | null = null;
  if (options.verifyRows > 0) {
    verification = await verify(model, plans.batch, bytes, net, calib, options.verifyRows);
    // Without a precision in the card, raise it until the encrypted error is within half the
    // tolerance (a network with large intermediate values needs more bits than 2^26 gives).
    for (let attempt = 0; card.precisionBits === undefined && attempt < 3 && verification.encryptedVsPlain > verification.tolerance / 2; attempt++) {
      // Steps of 4 bits (26, 30, 34, 38): the choice does not hang on one draw of the encryption noise.
      const bits = Math.min(MAX_AUTO_PRECISION_BITS, model.he.precisionBits + PRECISION_STEP_BITS);
      if (bits === model.he.precisionBits) break;
      log(`encrypted error ${verification.encryptedVsPlain.toExponential(2)} at ${model.he.precisionBits}-bit precision is above half the tolerance ${verification.tolerance}: compiling at ${bits} bits`);
      model = buildModel(net, calib, { ...card, precisionBits: bits });
      plans = { single: compileOrExplain(seal, model, 'single'), batch: compileOrExplain(seal, model, 'batch') };
      verification = await verify(model, plans.batch, bytes, net, calib, options.verifyRows);
    }
  }
  log('');
  log(explain(plans.single));
  log('');
  log(explain(plans.batch));
  log('');
  if (verification) {
    for (const line of verificationTable(verification)) log(line);
    if (net.approximated.length > 0) {
      const v = verification.plaintext;
      log(`  the approximation costs ${v.maxError.toExponential(2)} on the raw output${verification.classification ? ` and changes ${verification.rows - v.agree} of ${verification.rows} classes` : ''} (the plaintext import against onnxruntime's exact activation)`);
    }
    const tol = verification.tolerance;
    if (verification.encryptedVsPlain > tol) {
      throw new ImportError(`verification failed: the encrypted outputs differ from the plaintext ones by up to ${verification.encryptedVsPlain.toExponential(2)}, above the tolerance ${tol}; raise the card's precisionBits or its tolerance. Nothing was written`);
    }
    if (net.approximated.length === 0 && verification.plaintext.maxError > tol) {
      throw new ImportError(`verification failed: the imported network differs from onnxruntime by up to ${verification.plaintext.maxError.toExponential(2)}, above the tolerance ${tol} (an import error, please report it with the .onnx file). Nothing was written`);
    }
  } else {
    log(`verification skipped (--verify 0): the model is compiled at ${model.he.precisionBits}-bit precision without checking that its encrypted answers hold its known answers' tolerance; a network with large intermediate values may need more (import without --verify 0 to have it chosen)`);
  }

  // Stage everything beside DIR, then move it in: a failure leaves DIR as it was.
  const out = resolve(options.out);
  mkdirSync(dirname(out), { recursive: true });
  const stage = mkdtempSync(join(dirname(out), `.${basename(out)}.import-`));
  try {
    const files = [`${model.id}.json`, `drafts/${model.id}.card.json`];
    mkdirSync(join(stage, 'drafts'));
    writeFileSync(join(stage, files[0]!), `${formatModelJson(model)}\n`);
    // The card source records the precision the import settled on, so a re-import compiles the same plan.
    const cardSource: CardSource = { ...card, tolerance: card.tolerance ?? DEFAULT_TOLERANCE, precisionBits: model.he.precisionBits };
    writeFileSync(join(stage, files[1]!), `${formatModelJson(cardSource)}\n`);
    if (options.key) {
      let pem: string;
      try {
        pem = readFileSync(options.key, 'utf8');
      } catch (err) {
        throw new ImportError(`cannot read the key file ${options.key} (${(err as NodeJS.ErrnoException).code ?? 'error'})`, 2);
      }
      const publicPlans: Record<PlanMode, PublicPlan> = { single: plans.single.public, batch: plans.batch.public };
      const signed = signCard(cardFromModel(model, publicPlans), privateKeyFromPem(pem));
      mkdirSync(join(stage, 'cards'));
      files.push(`cards/${model.id}.card.json`);
      writeFileSync(join(stage, files[2]!), `${JSON.stringify(signed, null, 2)}\n`);
    }
    const written = commitFiles(stage, out, files);
    for (const f of written) log(`wrote ${f}`);
    if (!options.card) log(`the card is a draft: edit ${join(out, 'drafts', `${model.id}.card.json`)} (labels, units, metrics, source) and import again with --card, then sign: npm run models -- sign ${join(out, `${model.id}.json`)} --key KEYFILE --out ${join(out, 'cards', `${model.id}.card.json`)}`);
    return { model, plans, network: net, verification, written };
  } catch (err) {
    rmSync(stage, { recursive: true, force: true });
    throw err;
  }
}
