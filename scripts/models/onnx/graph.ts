// Maps an ONNX graph onto the layers of the CipherCare model format (docs/model-format.md). The
// importer is a front end only: it folds what ONNX spells as separate nodes (normalisation, biases,
// batch norm, scalar factors, polynomials written with Mul and Add) into the format's layers, and
// the he-core compiler does the rest exactly as for a trained model.
import type { ActivationFit, Conv2dLayer, DenseLayer, Layer } from '../../../he-core/model/format.js';
import { ImportError } from './errors.js';
import { DataType, typeName } from './read.js';
import type { OnnxGraph, OnnxNode, Tensor } from './read.js';

/** `--approximate relu:poly2:[-4,4]`: a least-squares polynomial for a non-polynomial activation. */
export interface Approximation {
  fn: ActivationFit;
  degree: 2 | 3;
  range: [number, number];
}

export interface MappedInput {
  name: string;
  kind: 'features' | 'image';
  /** features: [n]; image: [channels, height, width]. */
  shape: number[];
  /** Whether the graph's input has a free batch dimension (else it takes one sample at a time). */
  batched: boolean;
}

export interface MappedNetwork {
  input: MappedInput;
  /** Normalisation at the start of the graph, z = (x - mean) / scale per input value; null: none. */
  preprocess: { mean: number[]; scale: number[] } | null;
  layers: Layer[];
  /** A final Sigmoid or Softmax: the client applies it after decryption. */
  final: 'sigmoid' | 'softmax' | null;
  /** The tensor holding the network's raw output (before `final`). */
  rawOutput: string;
  /** The graph's output tensor. */
  output: string;
  outputElemType: number;
  outputs: number;
  /** The activations replaced by fitted polynomials (--approximate). */
  approximated: { node: string; op: string; coefficients: number[]; range: [number, number] }[];
  /** What was folded where, for the import report. */
  notes: string[];
}

interface ConstValue {
  kind: 'const';
  t: Tensor;
}

/** A value computed from the input: poly(u) element-wise, u the output of the layers so far. */
interface ActValue {
  kind: 'act';
  shape: number[];
  /** c0 + c1 u + c2 u^2 + ..., scalar coefficients. */
  poly: number[];
  stage: number;
  version: number;
}

type Value = ConstValue | ActValue;

const size = (dims: readonly number[]): number => dims.reduce((a, b) => a * b, 1);

function degree(poly: readonly number[]): number {
  let d = poly.length - 1;
  while (d > 0 && poly[d] === 0) d--;
  return d;
}

const isIdentity = (poly: readonly number[]): boolean => degree(poly) === 1 && poly[0] === 0 && poly[1] === 1;

function polyMul(a: readonly number[], b: readonly number[]): number[] {
  const out = new Array<number>(a.length + b.length - 1).fill(0);
  a.forEach((x, i) => b.forEach((y, j) => (out[i + j]! += x * y)));
  return out;
}

function polyAdd(a: readonly number[], b: readonly number[], sign = 1): number[] {
  const out = new Array<number>(Math.max(a.length, b.length)).fill(0);
  a.forEach((x, i) => (out[i]! += x));
  b.forEach((y, i) => (out[i]! += sign * y));
  return out;
}

/** numpy broadcasting of a constant onto `shape` (a leading batch dimension of 1 allowed), or null. */
function broadcastTo(t: Tensor, shape: readonly number[], batched = true): Float64Array | null {
  let dims = [...t.dims];
  const rank = shape.length + (batched ? 1 : 0);
  if (dims.length > rank) return null;
  while (dims.length < rank) dims.unshift(1);
  if (batched) {
    if (dims[0] !== 1) return null;
    dims = dims.slice(1);
  }
  if (!dims.every((d, i) => d === 1 || d === shape[i])) return null;
  const out = new Float64Array(size(shape));
  const strides = dims.map((_, i) => size(dims.slice(i + 1)));
  const outStrides = shape.map((_, i) => size(shape.slice(i + 1)));
  for (let k = 0; k < out.length; k++) {
    let src = 0;
    for (let i = 0; i < shape.length; i++) {
      const idx = Math.floor(k / outStrides[i]!) % shape[i]!;
      if (dims[i] !== 1) src += idx * strides[i]!;
    }
    out[k] = t.values[src]!;
  }
  return out;
}

/** numpy broadcasting of two constants (constant folding). */
function broadcastPair(a: Tensor, b: Tensor, f: (x: number, y: number) => number): Tensor {
  const rank = Math.max(a.dims.length, b.dims.length);
  const pad = (d: number[]): number[] => [...new Array<number>(rank - d.length).fill(1), ...d];
  const da = pad(a.dims);
  const db = pad(b.dims);
  const dims = da.map((x, i) => {
    const y = db[i]!;
    if (x !== y && x !== 1 && y !== 1) throw new ImportError(`cannot broadcast constants of shapes [${a.dims.join(', ')}] and [${b.dims.join(', ')}]`);
    return Math.max(x, y);
  });
  const A = broadcastTo({ ...a, dims: da }, dims, false)!;
  const B = broadcastTo({ ...b, dims: db }, dims, false)!;
  return { dims, values: A.map((x, i) => f(x, B[i]!)), dataType: a.dataType === DataType.INT64 && b.dataType === DataType.INT64 ? DataType.INT64 : DataType.DOUBLE };
}

function uniform(v: Float64Array): number | null {
  return v.every((x) => x === v[0]) ? v[0]! : null;
}

function nested2(values: Float64Array, rows: number, cols: number): number[][] {
  return Array.from({ length: rows }, (_, r) => Array.from(values.subarray(r * cols, (r + 1) * cols)));
}

const ONNX_OPS_SUPPORTED =
  'Gemm, MatMul (+ Add), Conv, AveragePool, GlobalAveragePool, Flatten, Reshape, BatchNormalization, Mul/Pow (square), Add, Sub, Div by constants, Sigmoid or Softmax last, Identity, Dropout, Pad (zero), Constant';

/** What to do about an op the importer does not map. */
function unsupportedAdvice(op: string): string {
  switch (op) {
    case 'Relu':
    case 'LeakyRelu':
    case 'Elu':
    case 'Selu':
    case 'Gelu':
    case 'Softplus':
    case 'HardSigmoid':
      return op === 'Relu'
        ? 'not a polynomial, so it cannot be evaluated on encrypted data. Retrain with a square activation (x * x), or pass --approximate relu:poly2:[-a,a] to replace it by a polynomial fitted on [-a, a] (the import reports what that costs on the calibration data)'
        : 'not a polynomial, so it cannot be evaluated on encrypted data. Retrain with a square activation (x * x), or with ReLU, which --approximate relu:poly2:[-a,a] replaces by a fitted polynomial';
    case 'Sigmoid':
      return 'not a polynomial, so it cannot be evaluated on encrypted data. Retrain with a square activation (x * x), or pass --approximate sigmoid:poly2:[-a,a] to replace it by a polynomial fitted on [-a, a] (the import reports what that costs on the calibration data)';
    case 'Tanh':
      return 'not a polynomial, so it cannot be evaluated on encrypted data, and the model format has no fitted tanh: retrain with a square activation (x * x), or with ReLU and pass --approximate relu:poly2:[-a,a]';
    case 'MaxPool':
    case 'GlobalMaxPool':
      return 'a maximum is not a polynomial: use AveragePool (nn.AvgPool2d) instead and retrain';
    case 'LogSoftmax':
      return 'use Softmax as the last node (the client applies it after decryption)';
    case 'Exp':
    case 'Log':
    case 'Sqrt':
    case 'Reciprocal':
    case 'Abs':
    case 'Max':
    case 'Min':
    case 'Clip':
    case 'Where':
    case 'ArgMax':
      return 'not a polynomial of its input, so it cannot be evaluated on encrypted data; remove it from the network (post-processing runs on the client)';
    case 'LSTM':
    case 'GRU':
    case 'RNN':
    case 'Attention':
    case 'LayerNormalization':
      return 'not supported by CipherCare\'s encrypted evaluation; use a feed-forward network of the supported operations';
    default:
      return `the importer maps ${ONNX_OPS_SUPPORTED}; rewrite the network with these`;
  }
}

/** Least-squares fit of relu or sigmoid by a polynomial of the given degree on a dense grid of [a, b]. */
export function fitActivation(fn: ActivationFit, deg: number, [a, b]: [number, number]): number[] {
  const f = fn === 'relu' ? (x: number) => Math.max(0, x) : (x: number) => 1 / (1 + Math.exp(-x));
  const n = deg + 1;
  const ata = Array.from({ length: n }, () => new Array<number>(n).fill(0));
  const atb = new Array<number>(n).fill(0);
  const points = 2001;
  for (let k = 0; k < points; k++) {
    const x = a + ((b - a) * k) / (points - 1);
    const pow = Array.from({ length: n }, (_, i) => x ** i);
    for (let i = 0; i < n; i++) {
      atb[i]! += pow[i]! * f(x);
      for (let j = 0; j < n; j++) ata[i]![j]! += pow[i]! * pow[j]!;
    }
  }
  // Gaussian elimination with partial pivoting (n <= 4).
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(ata[r]![c]!) > Math.abs(ata[p]![c]!)) p = r;
    [ata[c], ata[p]] = [ata[p]!, ata[c]!];
    [atb[c], atb[p]] = [atb[p]!, atb[c]!];
    for (let r = c + 1; r < n; r++) {
      const m = ata[r]![c]! / ata[c]![c]!;
      for (let k = c; k < n; k++) ata[r]![k]! -= m * ata[c]![k]!;
      atb[r]! -= m * atb[c]!;
    }
  }
  const coeffs = new Array<number>(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    let s = atb[r]!;
    for (let k = r + 1; k < n; k++) s -= ata[r]![k]! * coeffs[k]!;
    coeffs[r] = s / ata[r]![r]!;
  }
  return coeffs.map((c) => Number(c.toPrecision(10)));
}

class Mapper {
  readonly values = new Map<string, Value>();
  readonly layers: Layer[] = [];
  /** Output shape of each layer (for per-channel folding into a conv). */
  readonly shapes: number[][] = [];
  version = 0;
  preMean: Float64Array;
  preScale: Float64Array;
  preTouched = false;
  readonly notes: string[] = [];
  readonly approximated: MappedNetwork['approximated'] = [];
  final: MappedNetwork['final'] = null;
  rawOutput = '';

  constructor(
    readonly graph: OnnxGraph,
    readonly input: MappedInput,
    readonly approximations: ReadonlyMap<string, Approximation>,
  ) {
    this.preMean = new Float64Array(size(input.shape));
    this.preScale = new Float64Array(size(input.shape)).fill(1);
    for (const [name, t] of graph.initializers) this.values.set(name, { kind: 'const', t });
    this.values.set(input.name, this.act(input.shape, [0, 1]));
  }

  act(shape: number[], poly: number[]): ActValue {
    return { kind: 'act', shape, poly, stage: this.layers.length, version: this.version };
  }

  fail(node: OnnxNode, why: string): never {
    throw new ImportError(`node "${node.name}" (${node.opType}): ${why}`);
  }

  get(node: OnnxNode, index: number): Value | undefined {
    const name = node.inputs[index];
    if (name === undefined || name === '') return undefined;
    const v = this.values.get(name);
    if (!v) this.fail(node, `input "${name}" is neither the graph input, an initializer nor the output of an earlier node`);
    return v;
  }

  constOf(node: OnnxNode, index: number, what: string): Tensor {
    const v = this.get(node, index);
    if (!v) this.fail(node, `${what} is missing`);
    if (v.kind !== 'const') this.fail(node, `${what} must be a constant (an initializer), not computed from the input`);
    return v.t;
  }

  current(node: OnnxNode, v: ActValue): ActValue {
    if (v.stage !== this.layers.length || v.version !== this.version) {
      this.fail(node, 'uses a value from earlier in the network again (a skip or residual connection); the importer maps chains of layers only');
    }
    return v;
  }

  /** The last layer with weights, looking back over flatten layers; null if none or an activation/pool comes first. */
  lastLinear(): { layer: DenseLayer | Conv2dLayer; shape: number[] } | null {
    for (let i = this.layers.length - 1; i >= 0; i--) {
      const l = this.layers[i]!;
      if (l.type === 'flatten') continue;
      if (l.type === 'dense' || l.type === 'conv2d') return { layer: l, shape: this.shapes[i]! };
      return null;
    }
    return null;
  }

  /**
   * value = A ⊙ u + B per element, folded into the layer that computes u (dense: per output; conv:
   * per channel). Returns a description, or null when there is no such layer or a conv would need
   * per-position factors.
   */
  foldIntoLast(A: Float64Array, B: Float64Array): string | null {
    const last = this.lastLinear();
    if (!last) return null;
    if (last.layer.type === 'dense') {
      const l = last.layer;
      l.weights = l.weights.map((row, r) => row.map((w) => w * A[r]!));
      l.bias = l.bias.map((b, r) => b * A[r]! + B[r]!);
      return 'dense';
    }
    const l = last.layer;
    const per = size(last.shape.slice(1));
    const a = new Float64Array(l.outChannels);
    const b = new Float64Array(l.outChannels);
    for (let o = 0; o < l.outChannels; o++) {
      a[o] = A[o * per]!;
      b[o] = B[o * per]!;
      for (let k = 1; k < per; k++) if (A[o * per + k] !== a[o] || B[o * per + k] !== b[o]) return null;
    }
    l.weights = l.weights.map((ch, o) => ch.map((k) => k.map((row) => row.map((w) => w * a[o]!))));
    l.bias = l.bias.map((v, o) => v * a[o]! + b[o]!);
    return 'conv2d';
  }

  /**
   * Applies z' = A ⊙ value + B (per element) to an input-derived value. `divisor`: A is 1 / divisor
   * (a Div node), kept exact for the input's scale (0.3091 stays 0.3091, not 1 / (1 / 0.3091)).
   */
  affine(node: OnnxNode, v: ActValue, A: Float64Array, B: Float64Array, out: string, divisor?: Float64Array): void {
    const a = uniform(A);
    const b = uniform(B);
    if (v.stage === 0 && this.layers.length === 0) {
      // Before the first layer: it is the input's normalisation, z = (x - mean) / scale.
      this.current(node, v);
      for (let i = 0; i < A.length; i++) {
        if (A[i] === 0) this.fail(node, 'multiplies an input by 0');
        this.preMean[i] = this.preMean[i]! - (B[i]! * this.preScale[i]!) / A[i]!;
        this.preScale[i] = divisor ? this.preScale[i]! * divisor[i]! : this.preScale[i]! / A[i]!;
      }
      this.preTouched = true;
      this.version++;
      this.values.set(out, this.act(v.shape, [0, 1]));
      return;
    }
    if (a !== null && b !== null) {
      // A scalar factor and offset: kept in the value's polynomial, folded where it is used.
      this.values.set(out, { ...v, poly: polyAdd(v.poly.map((c) => c * a), [b]) });
      return;
    }
    this.current(node, v);
    if (degree(v.poly) > 1) this.fail(node, 'a per-channel constant after a polynomial cannot be folded into a layer; apply it before the activation');
    const [c0 = 0, c1 = 0] = v.poly;
    const fold = this.foldIntoLast(A.map((x) => x * c1), A.map((x, i) => x * c0 + B[i]!));
    if (!fold) this.fail(node, 'a per-element constant here cannot be folded into a Gemm or Conv (it must directly follow one, per output channel for a Conv)');
    this.version++;
    this.notes.push(`${node.opType} "${node.name}" folded into the ${fold} layer before it`);
    this.values.set(out, this.act(v.shape, [0, 1]));
  }

  /** Brings a value to degree <= 1 in u, emitting a square layer for a quadratic. */
  materialise(node: OnnxNode, v: ActValue): ActValue {
    this.current(node, v);
    const d = degree(v.poly);
    if (d <= 1) {
      if (d === 0 && this.layers.length > 0) this.fail(node, 'its input does not depend on the model input (a constant)');
      return v;
    }
    if (d > 2) this.fail(node, `its input is a polynomial of degree ${d} written with Mul and Add; the importer maps squares and quadratics (a x² + b x + c) only`);
    const [c0 = 0, c1 = 0, c2 = 0] = v.poly;
    const shift = c1 / (2 * c2);
    // c2 u² + c1 u + c0 = c2 (u + shift)² + (c0 - c1² / 4 c2): the shift goes into the layer before.
    if (shift !== 0) {
      const n = size(v.shape);
      if (!this.foldIntoLast(new Float64Array(n).fill(1), new Float64Array(n).fill(shift))) {
        this.fail(node, 'a quadratic with a linear term must directly follow a Gemm, MatMul or Conv (its shift is folded into that layer)');
      }
    }
    if (this.layers.length === 0) this.fail(node, 'an activation before the first Gemm, MatMul or Conv layer cannot be evaluated (it must sit between two linear layers)');
    this.push({ type: 'activation', fn: 'square' }, v.shape);
    return this.act(v.shape, [c0 - (c1 * c1) / (4 * c2), c2]);
  }

  push(layer: Layer, shape: number[]): void {
    this.layers.push(layer);
    this.shapes.push(shape);
    this.version++;
  }

  actIn(node: OnnxNode, index = 0): ActValue {
    const v = this.get(node, index);
    if (!v || v.kind !== 'act') this.fail(node, `input ${index} must be computed from the model input`);
    return v;
  }

  attrInts(node: OnnxNode, name: string, fallback: number[]): number[] {
    const a = node.attributes.get(name);
    return a && a.ints.length > 0 ? a.ints : fallback;
  }

  attrInt(node: OnnxNode, name: string, fallback: number): number {
    return node.attributes.get(name)?.i ?? fallback;
  }

  attrFloat(node: OnnxNode, name: string, fallback: number): number {
    return node.attributes.get(name)?.f ?? fallback;
  }

  dense(node: OnnxNode, x: ActValue, W: Float64Array, rows: number, cols: number, bias: Float64Array): void {
    if (x.shape.length !== 1) this.fail(node, `needs a flat input, but receives a [${x.shape.join(', ')}] tensor: add Flatten (torch.flatten(x, 1)) before it`);
    if (x.shape[0] !== cols) this.fail(node, `expects ${cols} inputs but receives ${x.shape[0]}`);
    const v = this.materialise(node, x);
    const [c0 = 0, c1 = 1] = v.poly;
    const weights = nested2(W.map((w) => w * c1), rows, cols);
    const b = Array.from(bias, (bv, r) => {
      let s = bv;
      for (let c = 0; c < cols; c++) s += c0 * W[r * cols + c]!;
      return s;
    });
    this.push({ type: 'dense', inputs: cols, outputs: rows, weights, bias: b }, [rows]);
    this.values.set(node.outputs[0]!, this.act([rows], [0, 1]));
  }

  gemm(node: OnnxNode): void {
    const x = this.actIn(node, 0);
    if (this.attrInt(node, 'transA', 0) !== 0) this.fail(node, 'transA = 1 is not supported: export x @ W.T as torch.nn.Linear does');
    const B = this.constOf(node, 1, 'the weight matrix B');
    if (B.dims.length !== 2) this.fail(node, `B must be a matrix, not [${B.dims.join(', ')}]`);
    const transB = this.attrInt(node, 'transB', 0) !== 0;
    const alpha = this.attrFloat(node, 'alpha', 1);
    const beta = this.attrFloat(node, 'beta', 1);
    const [r0, c0] = B.dims as [number, number];
    const rows = transB ? r0 : c0;
    const cols = transB ? c0 : r0;
    const W = new Float64Array(rows * cols);
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) W[r * cols + c] = alpha * (transB ? B.values[r * cols + c]! : B.values[c * rows + r]!);
    let bias = new Float64Array(rows);
    const C = this.get(node, 2);
    if (C) {
      if (C.kind !== 'const') this.fail(node, 'the bias C must be a constant');
      const cb = broadcastTo(C.t, [rows]);
      if (!cb) this.fail(node, `the bias C of shape [${C.t.dims.join(', ')}] does not broadcast to ${rows} outputs`);
      bias = cb.map((v) => beta * v);
    }
    this.dense(node, x, W, rows, cols, bias);
  }

  matmul(node: OnnxNode): void {
    const x = this.actIn(node, 0);
    const B = this.constOf(node, 1, 'the second operand (the weights)');
    if (B.dims.length !== 2) this.fail(node, `the weights must be a matrix, not [${B.dims.join(', ')}]`);
    const [cols, rows] = B.dims as [number, number];
    const W = new Float64Array(rows * cols);
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) W[r * cols + c] = B.values[c * rows + r]!;
    this.dense(node, x, W, rows, cols, new Float64Array(rows));
  }

  conv(node: OnnxNode): void {
    const x = this.actIn(node, 0);
    if (x.shape.length !== 3) this.fail(node, `needs a [channels, height, width] input, but receives [${x.shape.join(', ')}]`);
    const W = this.constOf(node, 1, 'the kernel W');
    if (W.dims.length !== 4) this.fail(node, `only 2-D convolutions are supported (kernel of shape [${W.dims.join(', ')}])`);
    const [outC, inC, kh, kw] = W.dims as [number, number, number, number];
    const group = this.attrInt(node, 'group', 1);
    if (group !== 1) this.fail(node, `group = ${group} (grouped or depthwise convolution) is not supported: use group 1`);
    if (this.attrInts(node, 'dilations', [1, 1]).some((d) => d !== 1)) this.fail(node, 'dilation other than 1 is not supported');
    const autoPad = node.attributes.get('auto_pad')?.s ?? 'NOTSET';
    if (autoPad !== 'NOTSET' && autoPad !== 'VALID') this.fail(node, `auto_pad ${autoPad} is not supported: export with explicit padding (nn.Conv2d(padding=...))`);
    const stride = this.attrInts(node, 'strides', [1, 1]);
    const pads = autoPad === 'VALID' ? [0, 0, 0, 0] : this.attrInts(node, 'pads', [0, 0, 0, 0]);
    if (stride.length !== 2 || pads.length !== 4) this.fail(node, 'strides and pads must be given for two spatial dimensions');
    if (pads[0] !== pads[2] || pads[1] !== pads[3]) this.fail(node, `asymmetric padding [${pads.join(', ')}] is not supported: pad the same on both sides`);
    if (inC !== x.shape[0]) this.fail(node, `the kernel expects ${inC} input channels but receives ${x.shape[0]}`);
    const [ph, pw] = [pads[0]!, pads[1]!];
    if (ph >= kh || pw >= kw) this.fail(node, `padding ${ph}x${pw} is not smaller than the kernel ${kh}x${kw}`);
    let v = this.materialise(node, x);
    const [c0 = 0, c1 = 1] = v.poly;
    if (c0 !== 0 && (ph > 0 || pw > 0)) {
      // Zero padding pads the value itself: an offset cannot move into this layer; try the one before.
      const n = size(v.shape);
      if (!this.foldIntoLast(new Float64Array(n).fill(1), new Float64Array(n).fill(c0))) {
        this.fail(node, 'its input carries a constant offset (from a polynomial or a constant added before it) that zero padding would change at the borders; remove the offset or the padding');
      }
      this.version++;
      v = this.act(v.shape, [0, c1]);
    }
    const [a0 = 0, a1 = 1] = v.poly;
    const Bt = this.get(node, 2);
    let bias = new Float64Array(outC);
    if (Bt) {
      if (Bt.kind !== 'const' || Bt.t.values.length !== outC) this.fail(node, `the bias must be a constant of ${outC} values`);
      bias = Float64Array.from(Bt.t.values);
    }
    const weights: number[][][][] = [];
    for (let o = 0; o < outC; o++) {
      const ch: number[][][] = [];
      let sum = 0;
      for (let c = 0; c < inC; c++) {
        const rows: number[][] = [];
        for (let y = 0; y < kh; y++) {
          const row: number[] = [];
          for (let xx = 0; xx < kw; xx++) {
            const w = W.values[((o * inC + c) * kh + y) * kw + xx]!;
            sum += w;
            row.push(w * a1);
          }
          rows.push(row);
        }
        ch.push(rows);
      }
      weights.push(ch);
      bias[o] = bias[o]! + a0 * sum;
    }
    const [, h, w] = x.shape as [number, number, number];
    const oh = Math.floor((h + 2 * ph - kh) / stride[0]!) + 1;
    const ow = Math.floor((w + 2 * pw - kw) / stride[1]!) + 1;
    if (oh < 1 || ow < 1) this.fail(node, `a ${kh}x${kw} kernel does not fit a ${h}x${w} input`);
    const layer: Conv2dLayer = { type: 'conv2d', inChannels: inC, outChannels: outC, kernel: [kh, kw], stride: [stride[0]!, stride[1]!], weights, bias: Array.from(bias) };
    if (ph > 0 || pw > 0) layer.padding = [ph, pw];
    this.push(layer, [outC, oh, ow]);
    this.values.set(node.outputs[0]!, this.act([outC, oh, ow], [0, 1]));
  }

  avgPool(node: OnnxNode, global: boolean): void {
    const x = this.actIn(node, 0);
    if (x.shape.length !== 3) this.fail(node, `needs a [channels, height, width] input, but receives [${x.shape.join(', ')}]`);
    const [c, h, w] = x.shape as [number, number, number];
    let kernel: [number, number] = [h, w];
    let stride: [number, number] = [1, 1];
    if (!global) {
      const k = this.attrInts(node, 'kernel_shape', []);
      if (k.length !== 2) this.fail(node, 'needs a 2-D kernel_shape');
      kernel = [k[0]!, k[1]!];
      const s = this.attrInts(node, 'strides', [1, 1]);
      stride = [s[0]!, s[1]!];
      if (this.attrInts(node, 'pads', [0, 0, 0, 0]).some((p) => p !== 0)) this.fail(node, 'padding in an average pool is not supported: pool without padding');
      const autoPad = node.attributes.get('auto_pad')?.s ?? 'NOTSET';
      if (autoPad !== 'NOTSET' && autoPad !== 'VALID') this.fail(node, `auto_pad ${autoPad} is not supported`);
      if (this.attrInts(node, 'dilations', [1, 1]).some((d) => d !== 1)) this.fail(node, 'dilation other than 1 is not supported');
      if (this.attrInt(node, 'ceil_mode', 0) !== 0 && ((h - kernel[0]) % stride[0] !== 0 || (w - kernel[1]) % stride[1] !== 0)) {
        this.fail(node, 'ceil_mode = 1 adds partial windows here: use ceil_mode = 0 or a size the windows tile');
      }
    }
    if (kernel[0] > h || kernel[1] > w) this.fail(node, `a ${kernel.join('x')} window does not fit a ${h}x${w} input`);
    const v = this.materialise(node, x);
    const oh = Math.floor((h - kernel[0]) / stride[0]) + 1;
    const ow = Math.floor((w - kernel[1]) / stride[1]) + 1;
    this.push({ type: 'avgpool2d', kernel, stride }, [c, oh, ow]);
    // The mean of c1 u + c0 is c1 mean(u) + c0: the factor passes through.
    this.values.set(node.outputs[0]!, this.act([c, oh, ow], v.poly));
  }

  flatten(node: OnnxNode, x: ActValue): void {
    if (x.shape.length === 1) {
      this.values.set(node.outputs[0]!, x);
      return;
    }
    const v = this.materialise(node, x);
    const n = size(v.shape);
    this.push({ type: 'flatten' }, [n]);
    this.values.set(node.outputs[0]!, this.act([n], v.poly));
  }

  reshape(node: OnnxNode): void {
    const x = this.actIn(node, 0);
    const target = Array.from(this.constOf(node, 1, 'the target shape').values);
    const n = size(x.shape);
    // The batch dimension first (0 copies it, -1 or a number keeps it); then the sample's shape.
    const rest = target.slice(1).map((d, i) => (d === 0 ? (x.shape[i] ?? 0) : d));
    const known = rest.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
    const resolved = rest.map((d) => (d === -1 ? n / known : d));
    if (resolved.length === 1 && resolved[0] === n) return this.flatten(node, x);
    if (resolved.length === x.shape.length && resolved.every((d, i) => d === x.shape[i])) {
      this.values.set(node.outputs[0]!, x);
      return;
    }
    this.fail(node, `reshapes [${x.shape.join(', ')}] to [${target.join(', ')}]; the importer maps a reshape that flattens a sample (or changes nothing) only`);
  }

  batchNorm(node: OnnxNode): void {
    const x = this.actIn(node, 0);
    if (this.attrInt(node, 'training_mode', 0) !== 0 || node.outputs.filter((o) => o !== '').length > 1) this.fail(node, 'a batch norm in training mode: export the model in eval mode (model.eval())');
    const eps = this.attrFloat(node, 'epsilon', 1e-5);
    const [gamma, beta, mean, variance] = [1, 2, 3, 4].map((i) => this.constOf(node, i, ['scale', 'B', 'mean', 'var'][i - 1]!));
    const channels = x.shape[0]!;
    for (const t of [gamma!, beta!, mean!, variance!]) if (t.values.length !== channels) this.fail(node, `needs ${channels} values per parameter`);
    const per = size(x.shape.slice(1));
    const A = new Float64Array(size(x.shape));
    const B = new Float64Array(size(x.shape));
    for (let c = 0; c < channels; c++) {
      const a = gamma!.values[c]! / Math.sqrt(variance!.values[c]! + eps);
      for (let k = 0; k < per; k++) {
        A[c * per + k] = a;
        B[c * per + k] = beta!.values[c]! - mean!.values[c]! * a;
      }
    }
    this.affine(node, x, A, B, node.outputs[0]!);
  }

  /** Add, Sub, Mul, Div, Pow with the input-derived value on one side. */
  arithmetic(node: OnnxNode): void {
    const a = this.get(node, 0)!;
    const b = this.get(node, 1);
    if (!b) this.fail(node, 'needs two inputs');
    const out = node.outputs[0]!;
    const op = node.opType;
    if (a.kind === 'act' && b.kind === 'act') {
      this.current(node, a);
      this.current(node, b);
      if (op === 'Mul') this.values.set(out, { ...a, poly: polyMul(a.poly, b.poly) });
      else if (op === 'Add') this.values.set(out, { ...a, poly: polyAdd(a.poly, b.poly) });
      else if (op === 'Sub') this.values.set(out, { ...a, poly: polyAdd(a.poly, b.poly, -1) });
      else this.fail(node, `${op} of two computed values is not a polynomial the importer maps; use Mul(x, x) for a square`);
      return;
    }
    if (op === 'Pow') {
      if (a.kind !== 'act' || b.kind !== 'const') this.fail(node, 'only x to a constant power is supported');
      const e = uniform(b.t.values);
      if (e === 1) this.values.set(out, a);
      else if (e === 2) this.values.set(out, { ...a, poly: polyMul(a.poly, a.poly) });
      else this.fail(node, `x^${e} is not supported: use x^2 (a square)`);
      return;
    }
    const x = a.kind === 'act' ? a : (b as ActValue);
    const c = a.kind === 'const' ? a.t : (b as ConstValue).t;
    const k = broadcastTo(c, x.shape);
    if (!k) this.fail(node, `a constant of shape [${c.dims.join(', ')}] does not broadcast to the value's shape [${x.shape.join(', ')}]`);
    const n = k.length;
    const constFirst = a.kind === 'const';
    let A: Float64Array;
    let B: Float64Array;
    switch (op) {
      case 'Add':
        A = new Float64Array(n).fill(1);
        B = k;
        break;
      case 'Sub':
        A = new Float64Array(n).fill(constFirst ? -1 : 1);
        B = constFirst ? k : k.map((v) => -v);
        break;
      case 'Mul':
        A = k;
        B = new Float64Array(n);
        break;
      default:
        if (constFirst) this.fail(node, 'dividing by a computed value is not a polynomial');
        if (k.some((v) => v === 0)) this.fail(node, 'divides by zero');
        return this.affine(node, x, k.map((v) => 1 / v), new Float64Array(n), out, k);
    }
    this.affine(node, x, A, B, out);
  }

  approximate(node: OnnxNode, fit: Approximation): void {
    const x = this.actIn(node, 0);
    let v = this.materialise(node, x);
    if (!isIdentity(v.poly)) {
      const [c0 = 0, c1 = 1] = v.poly;
      const n = size(v.shape);
      if (!this.foldIntoLast(new Float64Array(n).fill(c1), new Float64Array(n).fill(c0))) this.fail(node, 'a scaled input to an approximated activation must directly follow a Gemm or Conv');
      this.version++;
      v = this.act(v.shape, [0, 1]);
    }
    if (this.lastLinear() === null && this.layers[this.layers.length - 1]?.type !== 'avgpool2d') this.fail(node, 'an approximated activation must follow a Gemm, MatMul, Conv or AveragePool');
    const coefficients = fitActivation(fit.fn, fit.degree, fit.range);
    this.push({ type: 'activation', fn: 'poly', coefficients, approximates: fit.fn, range: fit.range }, v.shape);
    this.approximated.push({ node: node.name, op: node.opType, coefficients, range: fit.range });
    this.values.set(node.outputs[0]!, this.act(v.shape, [0, 1]));
  }

  /** A node whose inputs are all constants: evaluated now (constant folding). */
  fold(node: OnnxNode): boolean {
    const ins = node.inputs.map((name) => (name === '' ? undefined : this.values.get(name)));
    const op = node.opType;
    if (op === 'Shape') {
      const v = ins[0];
      if (v?.kind === 'act') {
        const dims = [1, ...v.shape];
        const start = this.attrInt(node, 'start', 0);
        const end = node.attributes.get('end')?.i ?? dims.length;
        const sel = dims.slice(start < 0 ? dims.length + start : start, end < 0 ? dims.length + end : end);
        this.values.set(node.outputs[0]!, { kind: 'const', t: { dims: [sel.length], values: Float64Array.from(sel), dataType: DataType.INT64 } });
        return true;
      }
    }
    if (op === 'Constant') {
      const a = [...node.attributes.values()][0];
      if (!a) this.fail(node, 'has no value');
      let t: Tensor;
      if (a.t) t = a.t;
      else if (a.name === 'value_float') t = { dims: [], values: Float64Array.of(a.f ?? 0), dataType: DataType.FLOAT };
      else if (a.name === 'value_floats') t = { dims: [a.floats.length], values: Float64Array.from(a.floats), dataType: DataType.FLOAT };
      else if (a.name === 'value_int') t = { dims: [], values: Float64Array.of(a.i ?? 0), dataType: DataType.INT64 };
      else if (a.name === 'value_ints') t = { dims: [a.ints.length], values: Float64Array.from(a.ints), dataType: DataType.INT64 };
      else this.fail(node, `a constant given as ${a.name} is not supported`);
      this.values.set(node.outputs[0]!, { kind: 'const', t });
      return true;
    }
    const present = ins.filter((v): v is Value => v !== undefined);
    if (present.length === 0 || present.some((v) => v.kind !== 'const')) return false;
    const ts = present.map((v) => (v as ConstValue).t);
    const t0 = ts[0]!;
    let out: Tensor;
    switch (op) {
      case 'Identity':
      case 'Cast':
      case 'Dropout':
        out = t0;
        break;
      case 'Add':
        out = broadcastPair(t0, ts[1]!, (x, y) => x + y);
        break;
      case 'Sub':
        out = broadcastPair(t0, ts[1]!, (x, y) => x - y);
        break;
      case 'Mul':
        out = broadcastPair(t0, ts[1]!, (x, y) => x * y);
        break;
      case 'Div':
        out = broadcastPair(t0, ts[1]!, (x, y) => (t0.dataType === DataType.INT64 && ts[1]!.dataType === DataType.INT64 ? Math.trunc(x / y) : x / y));
        break;
      case 'Pow':
        out = broadcastPair(t0, ts[1]!, (x, y) => x ** y);
        break;
      case 'Sqrt':
        out = { ...t0, values: t0.values.map(Math.sqrt) };
        break;
      case 'Neg':
        out = { ...t0, values: t0.values.map((x) => -x) };
        break;
      case 'Reciprocal':
        out = { ...t0, values: t0.values.map((x) => 1 / x) };
        break;
      case 'Unsqueeze': {
        const axes = ts[1] ? Array.from(ts[1].values) : this.attrInts(node, 'axes', []);
        const dims = [...t0.dims];
        const rank = dims.length + axes.length;
        for (const ax of axes.map((a) => (a < 0 ? a + rank : a)).sort((a, b) => a - b)) dims.splice(ax, 0, 1);
        out = { ...t0, dims };
        break;
      }
      case 'Squeeze': {
        const axes = ts[1] ? Array.from(ts[1].values) : this.attrInts(node, 'axes', []);
        const norm = axes.map((a) => (a < 0 ? a + t0.dims.length : a));
        out = { ...t0, dims: t0.dims.filter((d, i) => (norm.length === 0 ? d !== 1 : !norm.includes(i))) };
        break;
      }
      case 'Concat': {
        if (!ts.every((t) => t.dims.length === 1)) this.fail(node, 'constant folding of Concat handles vectors only');
        const values = Float64Array.from(ts.flatMap((t) => Array.from(t.values)));
        out = { dims: [values.length], values, dataType: t0.dataType };
        break;
      }
      case 'Gather': {
        if (t0.dims.length !== 1) this.fail(node, 'constant folding of Gather handles vectors only');
        const idx = ts[1]!;
        out = { dims: idx.dims, values: idx.values.map((i) => t0.values[i < 0 ? i + t0.values.length : i]!), dataType: t0.dataType };
        break;
      }
      case 'Reshape': {
        const target = Array.from(ts[1]!.values).map((d, i) => (d === 0 ? t0.dims[i]! : d));
        const known = target.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
        out = { ...t0, dims: target.map((d) => (d === -1 ? t0.values.length / known : d)) };
        break;
      }
      case 'Transpose': {
        const rank = t0.dims.length;
        const perm = this.attrInts(node, 'perm', Array.from({ length: rank }, (_, i) => rank - 1 - i));
        const dims = perm.map((p) => t0.dims[p]!);
        const inStrides = t0.dims.map((_, i) => size(t0.dims.slice(i + 1)));
        const outStrides = dims.map((_, i) => size(dims.slice(i + 1)));
        const values = new Float64Array(t0.values.length);
        for (let k = 0; k < values.length; k++) {
          let src = 0;
          for (let i = 0; i < rank; i++) src += (Math.floor(k / outStrides[i]!) % dims[i]!) * inStrides[perm[i]!]!;
          values[k] = t0.values[src]!;
        }
        out = { dims, values, dataType: t0.dataType };
        break;
      }
      default:
        this.fail(node, `not supported (on constants): ${unsupportedAdvice(op)}`);
    }
    this.values.set(node.outputs[0]!, { kind: 'const', t: out });
    return true;
  }

  /** Ends the network: the value `v` (degree <= 1) is the raw output. */
  finish(node: OnnxNode | null, v: ActValue): ActValue {
    const at = node ?? ({ name: 'graph output', opType: 'output' } as OnnxNode);
    const out = this.materialise(at, v);
    if (!isIdentity(out.poly)) {
      const n = size(out.shape);
      const [c0 = 0, c1 = 1] = out.poly;
      if (!this.foldIntoLast(new Float64Array(n).fill(c1), new Float64Array(n).fill(c0))) this.fail(at, 'the network must end with a Gemm, MatMul or Conv layer (a final factor or offset is folded into it)');
      this.version++;
    }
    const last = this.layers[this.layers.length - 1];
    if (!last || last.type === 'activation') this.fail(at, 'the network must end with a Gemm, MatMul or Conv layer (before a final Sigmoid or Softmax)');
    return this.act(out.shape, [0, 1]);
  }

  run(): { raw: ActValue } {
    const outputName = this.graph.outputs[0]!.name;
    let raw: ActValue | null = null;
    for (const node of this.graph.nodes) {
      if (node.domain !== '' && node.domain !== 'ai.onnx') this.fail(node, `operator domain "${node.domain}" is not supported; export with the standard ONNX operators only`);
      if (this.fold(node)) continue;
      const op = node.opType;
      const isLast = node.outputs.includes(outputName);
      switch (op) {
        case 'Identity':
        case 'Dropout':
        case 'Cast': {
          const v = this.get(node, 0);
          if (op === 'Cast' && ![DataType.FLOAT, DataType.DOUBLE].includes(this.attrInt(node, 'to', 0) as 1 | 11)) this.fail(node, `a cast to ${typeName(this.attrInt(node, 'to', 0))} is not supported`);
          this.values.set(node.outputs[0]!, v!);
          break;
        }
        case 'Gemm':
          this.gemm(node);
          break;
        case 'MatMul':
          this.matmul(node);
          break;
        case 'Conv':
          this.conv(node);
          break;
        case 'AveragePool':
          this.avgPool(node, false);
          break;
        case 'GlobalAveragePool':
          this.avgPool(node, true);
          break;
        case 'Flatten': {
          const x = this.actIn(node, 0);
          const axis = this.attrInt(node, 'axis', 1);
          if (axis !== 1 && !(axis === -1 && x.shape.length === 1)) this.fail(node, `axis = ${axis}: only Flatten(x, 1), one sample to a vector, is supported`);
          this.flatten(node, x);
          break;
        }
        case 'Reshape':
          this.reshape(node);
          break;
        case 'Pad': {
          const pads = node.inputs[1] ? Array.from(this.constOf(node, 1, 'pads').values) : this.attrInts(node, 'pads', []);
          if (pads.some((p) => p !== 0)) this.fail(node, 'a separate Pad node is not supported: put the zero padding in the Conv (nn.Conv2d(padding=...))');
          this.values.set(node.outputs[0]!, this.actIn(node, 0));
          break;
        }
        case 'BatchNormalization':
          this.batchNorm(node);
          break;
        case 'Add':
        case 'Sub':
        case 'Mul':
        case 'Div':
        case 'Pow':
          this.arithmetic(node);
          break;
        case 'Sigmoid':
        case 'Softmax': {
          const x = this.actIn(node, 0);
          if (isLast) {
            if (op === 'Softmax') {
              const axis = this.attrInt(node, 'axis', this.graph.opset >= 13 ? -1 : 1);
              if (x.shape.length !== 1 || (axis !== 1 && axis !== -1)) this.fail(node, 'a final Softmax must run over the outputs of one sample (axis 1 of a [batch, outputs] tensor)');
            } else if (size(x.shape) !== 1) {
              this.fail(node, `a final Sigmoid needs exactly one output (binary classification), not ${size(x.shape)}; use Softmax for several classes`);
            }
            raw = this.finish(node, x);
            this.final = op === 'Sigmoid' ? 'sigmoid' : 'softmax';
            this.rawOutput = node.inputs[0]!;
            this.values.set(node.outputs[0]!, raw);
            break;
          }
          const fit = this.approximations.get(op.toLowerCase());
          if (!fit) this.fail(node, `${op} in the middle of the network is ${unsupportedAdvice(op)}`);
          this.approximate(node, fit);
          break;
        }
        case 'Relu':
        case 'Tanh': {
          const fit = this.approximations.get(op.toLowerCase());
          if (!fit) this.fail(node, unsupportedAdvice(op));
          this.approximate(node, fit);
          break;
        }
        default:
          this.fail(node, `not supported: ${unsupportedAdvice(op)}`);
      }
    }
    if (!raw) {
      const v = this.values.get(outputName);
      if (!v || v.kind !== 'act') throw new ImportError(`the graph output "${outputName}" is not computed from the input`);
      raw = this.finish(null, v);
      this.rawOutput = outputName;
    }
    return { raw };
  }
}

/** The graph's one input: [batch, features] or [batch, channels, height, width]. */
export function graphInput(graph: OnnxGraph): MappedInput {
  if (graph.inputs.length !== 1) throw new ImportError(`the graph has ${graph.inputs.length} inputs (${graph.inputs.map((i) => i.name).join(', ')}); the importer maps a network of one input tensor`);
  if (graph.outputs.length !== 1) throw new ImportError(`the graph has ${graph.outputs.length} outputs (${graph.outputs.map((o) => o.name).join(', ')}); export one output tensor`);
  const input = graph.inputs[0]!;
  if (input.elemType !== DataType.FLOAT && input.elemType !== DataType.DOUBLE) throw new ImportError(`input "${input.name}" is a ${typeName(input.elemType)} tensor; the importer needs float input`);
  const dims = input.dims;
  if (!dims || (dims.length !== 2 && dims.length !== 4) || dims.slice(1).some((d) => d === null)) {
    throw new ImportError(`input "${input.name}" has shape [${(dims ?? []).map((d) => d ?? '?').join(', ')}]; the importer needs [batch, features] or [batch, channels, height, width] with fixed sizes after the batch`);
  }
  if (dims[0] !== null && dims[0] !== 1) throw new ImportError(`input "${input.name}" has a fixed batch of ${dims[0]}; export with a batch of 1 or a free batch dimension`);
  const shape = dims.slice(1) as number[];
  return { name: input.name, kind: shape.length === 1 ? 'features' : 'image', shape, batched: dims[0] === null };
}

/** Maps the graph onto model-format layers, or refuses naming the node, its op and what to do. */
export function mapGraph(graph: OnnxGraph, approximations: ReadonlyMap<string, Approximation> = new Map()): MappedNetwork {
  const input = graphInput(graph);
  const m = new Mapper(graph, input, approximations);
  const { raw } = m.run();
  if (m.layers.length === 0) throw new ImportError('the graph has no Gemm, MatMul or Conv layer');
  let preprocess: MappedNetwork['preprocess'] = null;
  if (m.preTouched) {
    const mean = Array.from(m.preMean);
    const scale = Array.from(m.preScale);
    if (input.kind === 'image') {
      const u = uniform(m.preMean);
      const s = uniform(m.preScale);
      if (u === null || s === null) throw new ImportError('the image normalisation differs between pixels; the model format has one mean and one scale for every pixel of an image');
      preprocess = { mean: [u], scale: [s] };
    } else {
      preprocess = { mean, scale };
    }
    m.notes.push('the normalisation at the start of the graph became the pre-processing (z = (x - mean) / scale, applied by the client)');
  }
  return {
    input,
    preprocess,
    layers: m.layers,
    final: m.final,
    rawOutput: m.rawOutput,
    output: graph.outputs[0]!.name,
    outputElemType: graph.outputs[0]!.elemType,
    outputs: size(raw.shape),
    approximated: m.approximated,
    notes: m.notes,
  };
}
