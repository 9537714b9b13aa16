import { HeError } from '../errors.js';
import type { Conv2dLayer, ModelFile } from '../model/format.js';
import { convPadding, inputShape, layerOutputShape, shapeSize } from '../model/shapes.js';
import type { Shape } from '../model/shapes.js';

/** Geometry of a first convolution whose windows the client lays out (im2col). */
export interface Im2colGeometry {
  channels: number;
  height: number;
  width: number;
  kernel: [number, number];
  stride: [number, number];
  outHeight: number;
  outWidth: number;
}

/** A linear map y = W x + b on flattened tensors (W row-major, rows x cols). */
export interface IrLinear {
  kind: 'linear';
  name: string;
  rows: number;
  cols: number;
  matrix: Float64Array;
  bias: Float64Array;
  /** Set when the input is the client's im2col layout rather than the flattened tensor. */
  im2col?: Im2colGeometry;
}

export type IrOp = IrLinear | { kind: 'square'; name: string } | { kind: 'cube'; name: string; e: number };

function identityShift(size: number, shift: number, name: string): IrLinear {
  const matrix = new Float64Array(size * size);
  for (let i = 0; i < size; i++) matrix[i * size + i] = 1;
  return { kind: 'linear', name, rows: size, cols: size, matrix, bias: new Float64Array(size).fill(shift) };
}

function diagonalScale(size: number, scale: number, offset: number, name: string): IrLinear {
  const matrix = new Float64Array(size * size);
  for (let i = 0; i < size; i++) matrix[i * size + i] = scale;
  return { kind: 'linear', name, rows: size, cols: size, matrix, bias: new Float64Array(size).fill(offset) };
}

function convMatrix(layer: Conv2dLayer, shape: Shape, outShape: Shape, im2col: boolean): { matrix: Float64Array; cols: number } {
  const [c, h, w] = shape as [number, number, number];
  const [oc, oh, ow] = outShape as [number, number, number];
  const [kh, kw] = layer.kernel;
  const [sh, sw] = layer.stride;
  const [ph, pw] = convPadding(layer);
  if (im2col && (ph > 0 || pw > 0)) throw new HeError('model_unsupported', 'the im2col layout needs a first conv2d without padding');
  const windows = oh * ow;
  const positions = c * kh * kw;
  const cols = im2col ? positions * windows : c * h * w;
  const rows = oc * windows;
  const matrix = new Float64Array(rows * cols);
  for (let o = 0; o < oc; o++) {
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        const win = oy * ow + ox;
        const row = o * windows + win;
        for (let ci = 0; ci < c; ci++) {
          for (let ky = 0; ky < kh; ky++) {
            const iy = oy * sh + ky - ph;
            for (let kx = 0; kx < kw; kx++) {
              const ix = ox * sw + kx - pw;
              // Zero padding: a kernel position outside the input multiplies a zero, so has no column.
              if (!im2col && (iy < 0 || iy >= h || ix < 0 || ix >= w)) continue;
              const weight = layer.weights[o]![ci]![ky]![kx]!;
              const col = im2col ? ((ci * kh + ky) * kw + kx) * windows + win : ci * h * w + iy * w + ix;
              matrix[row * cols + col] = matrix[row * cols + col]! + weight;
            }
          }
        }
      }
    }
  }
  return { matrix, cols };
}

function avgPoolMatrix(kernel: [number, number], stride: [number, number], shape: Shape, outShape: Shape): Float64Array {
  const [c, h, w] = shape as [number, number, number];
  const [, oh, ow] = outShape as [number, number, number];
  const cols = c * h * w;
  const matrix = new Float64Array(c * oh * ow * cols);
  const weight = 1 / (kernel[0] * kernel[1]);
  for (let ch = 0; ch < c; ch++) {
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        const row = ch * oh * ow + oy * ow + ox;
        for (let ky = 0; ky < kernel[0]; ky++) {
          for (let kx = 0; kx < kernel[1]; kx++) {
            const at = row * cols + ch * h * w + (oy * stride[0] + ky) * w + (ox * stride[1] + kx);
            matrix[at] = matrix[at]! + weight;
          }
        }
      }
    }
  }
  return matrix;
}

/** (W2, b2) after (W1, b1): (W2 W1, W2 b1 + b2). */
export function composeLinear(first: IrLinear, second: IrLinear): IrLinear {
  if (second.cols !== first.rows) throw new HeError('model_invalid', `cannot chain ${first.name} (${first.rows} outputs) into ${second.name} (${second.cols} inputs)`);
  const { rows } = second;
  const { cols } = first;
  const matrix = new Float64Array(rows * cols);
  const bias = Float64Array.from(second.bias);
  for (let r = 0; r < rows; r++) {
    for (let k = 0; k < first.rows; k++) {
      const a = second.matrix[r * second.cols + k]!;
      if (a === 0) continue;
      bias[r]! += a * first.bias[k]!;
      const base = k * cols;
      const out = r * cols;
      for (let c = 0; c < cols; c++) matrix[out + c]! += a * first.matrix[base + c]!;
    }
  }
  const composed: IrLinear = { kind: 'linear', name: `${first.name}+${second.name}`, rows, cols, matrix, bias };
  if (first.im2col) composed.im2col = first.im2col;
  return composed;
}

/**
 * Lowers a model to linear maps and normalised activations: polynomial activations become a shift
 * folded into the previous linear map, x^2 or x^3 + e x, and a scale folded into the next one.
 * Consecutive linear maps are fused, so each costs one level.
 */
export function lowerModel(model: ModelFile, im2colFirst: boolean): IrOp[] {
  checkActivationPlacement(model);
  const raw: IrOp[] = [];
  let shape: Shape = inputShape(model.input);
  model.layers.forEach((layer, i) => {
    const outShape = layerOutputShape(layer, shape, i);
    const name = `${i}:${layer.type}`;
    switch (layer.type) {
      case 'dense': {
        const matrix = new Float64Array(layer.outputs * layer.inputs);
        layer.weights.forEach((row, r) => matrix.set(row, r * layer.inputs));
        raw.push({ kind: 'linear', name, rows: layer.outputs, cols: layer.inputs, matrix, bias: Float64Array.from(layer.bias) });
        break;
      }
      case 'conv2d': {
        const im2col = im2colFirst && i === 0;
        const { matrix, cols } = convMatrix(layer, shape, outShape, im2col);
        const rows = shapeSize(outShape);
        const bias = new Float64Array(rows);
        const windows = rows / layer.outChannels;
        for (let r = 0; r < rows; r++) bias[r] = layer.bias[Math.floor(r / windows)]!;
        const op: IrLinear = { kind: 'linear', name, rows, cols, matrix, bias };
        if (im2col) {
          const [c, h, w] = shape as [number, number, number];
          const [, oh, ow] = outShape as [number, number, number];
          op.im2col = { channels: c, height: h, width: w, kernel: layer.kernel, stride: layer.stride, outHeight: oh, outWidth: ow };
        }
        raw.push(op);
        break;
      }
      case 'avgpool2d':
        raw.push({ kind: 'linear', name, rows: shapeSize(outShape), cols: shapeSize(shape), matrix: avgPoolMatrix(layer.kernel, layer.stride, shape, outShape), bias: new Float64Array(shapeSize(outShape)) });
        break;
      case 'flatten':
        break;
      case 'activation': {
        const size = shapeSize(shape);
        const coeffs = layer.fn === 'square' ? [0, 0, 1] : [...layer.coefficients];
        while (coeffs.length > 1 && coeffs[coeffs.length - 1] === 0) coeffs.pop();
        const [c0 = 0, c1 = 0, c2 = 0, c3 = 0] = coeffs;
        if (coeffs.length <= 2) {
          raw.push(diagonalScale(size, c1, c0, name));
        } else if (coeffs.length === 3) {
          // c2 (x + a)^2 + d
          const a = c1 / (2 * c2);
          raw.push(identityShift(size, a, `${name}:shift`), { kind: 'square', name }, diagonalScale(size, c2, c0 - (c1 * c1) / (4 * c2), `${name}:scale`));
        } else {
          // x = t - s removes the t^2 term: p = c3 (t^3 + e t) + f.
          const s = c2 / (3 * c3);
          const b1 = c1 - 2 * c2 * s + 3 * c3 * s * s;
          const b0 = c0 - c1 * s + c2 * s * s - c3 * s * s * s;
          raw.push(identityShift(size, s, `${name}:shift`), { kind: 'cube', name, e: b1 / c3 }, diagonalScale(size, c3, b0, `${name}:scale`));
        }
        break;
      }
    }
    shape = outShape;
  });

  const fused: IrOp[] = [];
  for (const op of raw) {
    const last = fused[fused.length - 1];
    if (op.kind === 'linear' && last?.kind === 'linear') fused[fused.length - 1] = composeLinear(last, op);
    else fused.push(op);
  }
  pruneDeadUnits(fused, 2 ** -(model.he.precisionBits + 1));
  return fused;
}

/**
 * An activation must sit between two linear layers (flatten aside): its shift is folded into the
 * layer before and its scale into the layer after, so neither may be missing.
 */
function checkActivationPlacement(model: ModelFile): void {
  const layers = model.layers.map((layer, index) => ({ layer, index })).filter(({ layer }) => layer.type !== 'flatten');
  layers.forEach(({ layer, index }, i) => {
    if (layer.type !== 'activation') return;
    const before = layers[i - 1]?.layer.type;
    const after = layers[i + 1]?.layer.type;
    if (!before || before === 'activation') {
      throw new HeError('model_unsupported', `activation at layer ${index} must follow a dense, conv2d or avgpool2d layer`);
    }
    if (!after || after === 'activation') {
      throw new HeError('model_unsupported', `activation at layer ${index} must be followed by a dense, conv2d or avgpool2d layer`);
    }
  });
}

function activate(op: IrOp, x: number): number {
  if (op.kind === 'square') return x * x;
  if (op.kind === 'cube') return x * x * x + op.e * x;
  return x;
}

/**
 * Removes hidden units whose weights all lie below the scale's resolution (they would encode to
 * zero): such a unit outputs its bias, a constant, so its activation is folded into the next
 * layer's bias. Only units followed by an activation and another linear map are pruned.
 */
function pruneDeadUnits(ops: IrOp[], resolution: number): void {
  for (let i = 0; i + 2 < ops.length; i++) {
    const first = ops[i]!;
    const act = ops[i + 1]!;
    const next = ops[i + 2]!;
    if (first.kind !== 'linear' || act.kind === 'linear' || next.kind !== 'linear') continue;
    const keep: number[] = [];
    for (let r = 0; r < first.rows; r++) {
      let max = 0;
      for (let c = 0; c < first.cols; c++) max = Math.max(max, Math.abs(first.matrix[r * first.cols + c]!));
      if (max >= resolution) keep.push(r);
    }
    if (keep.length === first.rows || keep.length === 0) continue;
    const nextBias = Float64Array.from(next.bias);
    for (let r = 0; r < first.rows; r++) {
      if (keep.includes(r)) continue;
      const constant = activate(act, first.bias[r]!);
      for (let o = 0; o < next.rows; o++) nextBias[o]! += next.matrix[o * next.cols + r]! * constant;
    }
    const matrix = new Float64Array(keep.length * first.cols);
    keep.forEach((r, k) => matrix.set(first.matrix.subarray(r * first.cols, (r + 1) * first.cols), k * first.cols));
    const nextMatrix = new Float64Array(next.rows * keep.length);
    for (let o = 0; o < next.rows; o++) keep.forEach((r, k) => (nextMatrix[o * keep.length + k] = next.matrix[o * next.cols + r]!));
    ops[i] = { ...first, rows: keep.length, matrix, bias: Float64Array.from(keep, (r) => first.bias[r]!) };
    ops[i + 2] = { ...next, cols: keep.length, matrix: nextMatrix, bias: nextBias };
  }
}

export function opDepth(op: IrOp): number {
  return op.kind === 'cube' ? 2 : 1;
}
