import { describe, it, expect } from 'vitest';
import { HeError } from '../errors.js';
import type { Layer, ModelFile, ModelInput } from '../model/format.js';
import { forwardPreprocessed } from '../model/reference.js';
import { validateModel, weightsHash } from '../model/validate.js';
import { lowerModel, opDepth } from './lower.js';
import type { IrOp } from './lower.js';
import { mulberry32 } from '../testing/mulberry32.js';


const rand = mulberry32(12345);
const uniform = (lo: number, hi: number): number => lo + (hi - lo) * rand();

function dense(inputs: number, outputs: number): Layer {
  return {
    type: 'dense',
    inputs,
    outputs,
    weights: Array.from({ length: outputs }, () => Array.from({ length: inputs }, () => uniform(-0.8, 0.8))),
    bias: Array.from({ length: outputs }, () => uniform(-0.5, 0.5)),
  };
}

function conv(inChannels: number, outChannels: number, k: number, s: number): Layer {
  return {
    type: 'conv2d',
    inChannels,
    outChannels,
    kernel: [k, k],
    stride: [s, s],
    weights: Array.from({ length: outChannels }, () => Array.from({ length: inChannels }, () => Array.from({ length: k }, () => Array.from({ length: k }, () => uniform(-0.5, 0.5))))),
    bias: Array.from({ length: outChannels }, () => uniform(-0.3, 0.3)),
  };
}

function poly(coefficients: number[]): Layer {
  return { type: 'activation', fn: 'poly', coefficients, approximates: 'sigmoid', range: [-4, 4] };
}

const features = (n: number): ModelInput => ({
  kind: 'features',
  features: Array.from({ length: n }, (_, i) => ({ name: `f${i}`, label: `F${i}`, unit: '', min: -10, max: 10, typical: 0 })),
});

/** A complete, valid model document around the given layers (validated, so the tests use realistic models). */
function makeModel(input: ModelInput, layers: Layer[], outputs: number): ModelFile {
  const perValue = input.kind === 'features' ? input.features.length : 1;
  return validateModel({
    format: 'ciphercare-model',
    formatVersion: 1,
    id: 'lower-test',
    version: '0.0.1',
    title: 'lower test',
    description: 'random model for lowering tests',
    task: 'regression',
    input,
    preprocess: { mean: Array(perValue).fill(0), scale: Array(perValue).fill(1) },
    layers,
    postprocess: { fn: 'argmax' },
    output: { labels: Array.from({ length: outputs }, (_, i) => `y${i}`), precision: 3 },
    metrics: { trainRows: 1, testRows: 1, split: 'none', seed: 1 },
    he: { precisionBits: 26, valueBounds: Array(layers.length + 1).fill(4), singleLayout: input.kind === 'image' ? 'im2col' : 'vector' },
    testVectors: [],
    weightsSha256: weightsHash(layers),
    source: { dataset: 'none', attribution: 'none', licence: 'none' },
  });
}

/** Float64 interpreter of the IR: linear y = W x + b, square x^2, cube x^3 + e x. */
function interpret(ir: IrOp[], x0: Float64Array): Float64Array {
  let x = x0;
  for (const op of ir) {
    if (op.kind === 'linear') {
      expect(x.length).toBe(op.cols);
      expect(op.matrix.length).toBe(op.rows * op.cols);
      const y = new Float64Array(op.rows);
      for (let r = 0; r < op.rows; r++) {
        let acc = op.bias[r]!;
        for (let c = 0; c < op.cols; c++) acc += op.matrix[r * op.cols + c]! * x[c]!;
        y[r] = acc;
      }
      x = y;
    } else if (op.kind === 'square') {
      x = x.map((v) => v * v);
    } else {
      const e = op.e;
      x = x.map((v) => v * v * v + e * v);
    }
  }
  return x;
}

function randomVector(n: number): Float64Array {
  return Float64Array.from({ length: n }, () => uniform(-2, 2));
}

function expectClose(actual: Float64Array, expected: Float64Array, tol = 1e-9): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    if (!(Math.abs(actual[i]! - expected[i]!) <= tol)) expect([i, actual[i]]).toEqual([i, expected[i]]);
  }
}

function kinds(ir: IrOp[]): string[] {
  return ir.map((op) => op.kind);
}

function failure(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof HeError)) throw new Error(`expected an HeError, got ${String(err)}`);
    return err.code;
  }
  return 'no error';
}

describe('lowerModel', () => {
  it('degree-2 and degree-3 poly activations lower to an IR that equals the float64 reference', () => {
    const layers = [dense(6, 5), poly([0.5, 0.25, 0.125]), dense(5, 4), poly([0.1, 0.6, -0.2, 0.05]), dense(4, 3)];
    const m = makeModel(features(6), layers, 3);
    const ir = lowerModel(m, false);
    expect(kinds(ir)).toEqual(['linear', 'square', 'linear', 'cube', 'linear']);
    expect(ir.reduce((a, op) => a + opDepth(op), 0)).toBe(1 + 1 + 1 + 2 + 1);
    for (let t = 0; t < 25; t++) {
      const z = randomVector(6);
      expectClose(interpret(ir, z), forwardPreprocessed(m, z).output);
    }
  });

  it('handles square, degree-1, trailing-zero and shift-free activations', () => {
    const layers = [
      dense(4, 4),
      { type: 'activation', fn: 'square' } as Layer,
      dense(4, 3),
      poly([0.3, -1.5]), // degree 1: folded into the neighbouring linear maps
      dense(3, 3),
      poly([0.2, 0.7, -0.3, 0]), // a zero cubic term: a square
      dense(3, 2),
      poly([0, 0, 0, 0.5]), // pure cube: e = 0
      dense(2, 2),
    ];
    const m = makeModel(features(4), layers, 2);
    const ir = lowerModel(m, false);
    expect(kinds(ir)).toEqual(['linear', 'square', 'linear', 'square', 'linear', 'cube', 'linear']);
    const cube = ir[5] as { kind: 'cube'; e: number };
    expect(cube.e).toBe(0);
    for (let t = 0; t < 25; t++) {
      const z = randomVector(4);
      expectClose(interpret(ir, z), forwardPreprocessed(m, z).output);
    }
  });

  it('a hidden unit with all-zero weights is still computed exactly', () => {
    const first = dense(5, 4) as Extract<Layer, { type: 'dense' }>;
    first.weights[2] = [0, 0, 0, 0, 0];
    const layers = [first, poly([0.1, 0.4, 0.3]), dense(4, 2)];
    const m = makeModel(features(5), layers, 2);
    const ir = lowerModel(m, false);
    for (let t = 0; t < 10; t++) {
      const z = randomVector(5);
      expectClose(interpret(ir, z), forwardPreprocessed(m, z).output);
    }
  });

  it('lowers conv2d, avgpool2d and flatten, in the flattened and the im2col layout', () => {
    const layers: Layer[] = [conv(1, 2, 3, 1), { type: 'activation', fn: 'square' }, { type: 'avgpool2d', kernel: [2, 2], stride: [2, 2] }, { type: 'flatten' }, dense(8, 3)];
    const input: ModelInput = { kind: 'image', channels: 1, height: 6, width: 6, min: 0, max: 1, description: '6x6' };
    const m = makeModel(input, layers, 3);
    const flat = lowerModel(m, false);
    expect(kinds(flat)).toEqual(['linear', 'square', 'linear']);
    expect([flat[0]!.kind === 'linear' && flat[0]!.cols, flat[2]!.kind === 'linear' && flat[2]!.rows]).toEqual([36, 3]);
    const im2col = lowerModel(m, true);
    const first = im2col[0];
    expect(first?.kind === 'linear' && first.im2col).toEqual({ channels: 1, height: 6, width: 6, kernel: [3, 3], stride: [1, 1], outHeight: 4, outWidth: 4 });
    for (let t = 0; t < 10; t++) {
      const z = Float64Array.from({ length: 36 }, () => uniform(0, 1));
      const expected = forwardPreprocessed(m, z).output;
      expectClose(interpret(flat, z), expected);
      // The client's im2col layout: kernel position k's window w at column k * windows + w.
      const cols = new Float64Array(9 * 16);
      for (let ky = 0; ky < 3; ky++) {
        for (let kx = 0; kx < 3; kx++) {
          for (let oy = 0; oy < 4; oy++) for (let ox = 0; ox < 4; ox++) cols[(ky * 3 + kx) * 16 + oy * 4 + ox] = z[(oy + ky) * 6 + (ox + kx)]!;
        }
      }
      expectClose(interpret(im2col, cols), expected);
    }
  });

  it('fuses consecutive linear layers into one op each', () => {
    const layers = [dense(6, 5), dense(5, 5), dense(5, 4), { type: 'activation', fn: 'square' } as Layer, dense(4, 4), dense(4, 2)];
    const m = makeModel(features(6), layers, 2);
    const ir = lowerModel(m, false);
    expect(ir.length).toBe(3);
    expect(kinds(ir)).toEqual(['linear', 'square', 'linear']);
    const [a, , b] = ir as [Extract<IrOp, { kind: 'linear' }>, IrOp, Extract<IrOp, { kind: 'linear' }>];
    expect([a.rows, a.cols, b.rows, b.cols]).toEqual([4, 6, 2, 4]);
    for (let t = 0; t < 10; t++) {
      const z = randomVector(6);
      expectClose(interpret(ir, z), forwardPreprocessed(m, z).output);
    }
    // Only linear layers: a single op of depth 1.
    const linearOnly = lowerModel(makeModel(features(6), [dense(6, 4), dense(4, 3), poly([0.5, 2]), dense(3, 1)], 1), false);
    expect(kinds(linearOnly)).toEqual(['linear']);
  });

  // Regression: the placement check once ran on the fused IR, where every square/cube sits between the
  // activation's own shift and scale maps, so an activation first or last was silently accepted.
  it('refuses an activation as the first layer with model_unsupported', () => {
    const m = makeModel(features(3), [{ type: 'activation', fn: 'square' }, dense(3, 2)], 2);
    expect(failure(() => lowerModel(m, false))).toBe('model_unsupported');
    const cubic = makeModel(features(3), [poly([0, 1, 0.5, 0.1]), dense(3, 2)], 2);
    expect(failure(() => lowerModel(cubic, false))).toBe('model_unsupported');
  });

  it('refuses an activation as the last layer with model_unsupported', () => {
    const m = makeModel(features(3), [dense(3, 2), poly([0, 1, 0.5, 0.1])], 2);
    expect(failure(() => lowerModel(m, false))).toBe('model_unsupported');
    const square = makeModel(features(3), [dense(3, 2), { type: 'activation', fn: 'square' }], 2);
    expect(failure(() => lowerModel(square, false))).toBe('model_unsupported');
  });
});
