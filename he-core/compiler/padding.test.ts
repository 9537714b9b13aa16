import { describe, expect, it } from 'vitest';
import { HeError } from '../errors.js';
import { packSample } from '../layout/pack.js';
import type { Conv2dLayer, Layer, ModelFile } from '../model/format.js';
import { preprocess } from '../model/input.js';
import { applyLayer, referenceForward } from '../model/reference.js';
import { validateModel, weightsHash } from '../model/validate.js';
import { loadSeal } from '../seal/runtime.js';
import { mulberry32 } from '../testing/mulberry32.js';
import { compile } from './compile.js';
import { lowerModel } from './lower.js';
import { simulateSlots } from './simulate.js';

// conv2d with zero padding: the reference, the lowered matrix and the compiled plan (clear slots)
// must all equal a "valid" convolution of the input padded with zeros by hand. Tolerance 1e-9: the
// same float64 sums in another order.
const rand = mulberry32(2024);
const uniform = (lo: number, hi: number): number => lo + (hi - lo) * rand();

function conv(inChannels: number, outChannels: number, k: [number, number], s: [number, number], padding?: [number, number]): Conv2dLayer {
  const layer: Conv2dLayer = {
    type: 'conv2d',
    inChannels,
    outChannels,
    kernel: k,
    stride: s,
    weights: Array.from({ length: outChannels }, () => Array.from({ length: inChannels }, () => Array.from({ length: k[0] }, () => Array.from({ length: k[1] }, () => uniform(-0.5, 0.5))))),
    bias: Array.from({ length: outChannels }, () => uniform(-0.3, 0.3)),
  };
  if (padding) layer.padding = padding;
  return layer;
}

function imageModel(channels: number, side: number, layers: Layer[], outputs: number, singleLayout: 'vector' | 'im2col' = 'vector'): unknown {
  return {
    format: 'ciphercare-model',
    formatVersion: 1,
    id: 'padding-test',
    version: '0.0.1',
    title: 'padding test',
    description: 'random padded CNN',
    task: 'multiclass-classification',
    input: { kind: 'image', channels, height: side, width: side, min: 0, max: 1, description: 'random' },
    preprocess: { mean: [0.5], scale: [0.5] },
    layers,
    postprocess: { fn: 'argmax' },
    output: { labels: Array.from({ length: outputs }, (_, i) => `y${i}`), precision: 3 },
    metrics: { trainRows: 1, testRows: 1, split: 'none', seed: 1 },
    he: { precisionBits: 26, valueBounds: Array(layers.length + 1).fill(8), singleLayout },
    testVectors: [{ input: Array(channels * side * side).fill(0.5), expected: Array(outputs).fill(0), tolerance: 0.01 }],
    weightsSha256: weightsHash(layers),
    source: { dataset: 'none', attribution: 'none', licence: 'none' },
  };
}

function withExpected(doc: unknown): ModelFile {
  const m = doc as ModelFile;
  const draft = validateModel({ ...m, testVectors: [] });
  return validateModel({ ...m, testVectors: m.testVectors.map((tv) => ({ ...tv, expected: Array.from(referenceForward(draft, tv.input)) })) });
}

/** The input padded with zeros by hand: [C, H + 2ph, W + 2pw]. */
function padImage(x: Float64Array, c: number, h: number, w: number, ph: number, pw: number): Float64Array {
  const H = h + 2 * ph;
  const W = w + 2 * pw;
  const out = new Float64Array(c * H * W);
  for (let ch = 0; ch < c; ch++) for (let y = 0; y < h; y++) for (let xx = 0; xx < w; xx++) out[ch * H * W + (y + ph) * W + (xx + pw)] = x[ch * h * w + y * w + xx]!;
  return out;
}

function failure(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(HeError);
    return (err as Error).message;
  }
  throw new Error('expected a model_invalid error');
}

describe('conv2d padding', () => {
  const cases: { k: [number, number]; s: [number, number]; p: [number, number]; side: number }[] = [
    { k: [3, 3], s: [1, 1], p: [1, 1], side: 6 },
    { k: [3, 2], s: [2, 1], p: [2, 1], side: 7 },
    { k: [5, 5], s: [3, 3], p: [2, 2], side: 9 },
  ];
  for (const { k, s, p, side } of cases) {
    it(`kernel ${k.join('x')} stride ${s.join('x')} padding ${p.join('x')}: reference = a valid conv of the zero-padded input`, () => {
      const padded = conv(2, 3, k, s, p);
      const { padding: _p, ...valid } = padded;
      const x = Float64Array.from({ length: 2 * side * side }, () => uniform(-1, 1));
      const got = applyLayer(padded, x, [2, side, side], 0);
      const want = applyLayer(valid, padImage(x, 2, side, side, p[0], p[1]), [2, side + 2 * p[0], side + 2 * p[1]], 0);
      expect(got.length).toBe(want.length);
      expect(got.length).toBe(3 * (Math.floor((side + 2 * p[0] - k[0]) / s[0]) + 1) * (Math.floor((side + 2 * p[1] - k[1]) / s[1]) + 1));
      for (let i = 0; i < want.length; i++) expect(Math.abs(got[i]! - want[i]!)).toBeLessThanOrEqual(1e-9);
    });
  }

  it('a padded CNN: the lowered network and the compiled single and batch plans equal the reference', async () => {
    const layers: Layer[] = [conv(1, 2, [3, 3], [1, 1], [1, 1]), { type: 'activation', fn: 'square' }, { type: 'avgpool2d', kernel: [2, 2], stride: [2, 2] }, { type: 'flatten' }, { type: 'dense', inputs: 18, outputs: 3, weights: Array.from({ length: 3 }, () => Array.from({ length: 18 }, () => uniform(-0.5, 0.5))), bias: [0.1, -0.2, 0.3] }];
    const model = withExpected(imageModel(1, 6, layers, 3));
    const { seal } = await loadSeal();
    const plan = compile(seal, model, { mode: 'single' });
    expect(plan.public.layout).toBe('vector');
    for (let t = 0; t < 3; t++) {
      const raw = Array.from({ length: 36 }, () => rand());
      const ref = referenceForward(model, raw);
      const out = simulateSlots(plan, packSample(plan.public, preprocess(model, raw)));
      for (let j = 0; j < 3; j++) expect(Math.abs(out[j]! - ref[j]!)).toBeLessThanOrEqual(1e-9);
    }
    const first = lowerModel(model, false)[0]!;
    // 2 channels x 6 x 6 outputs, each reading at most 9 of the 36 inputs: the corners 4, the edges 6.
    expect(first.kind === 'linear' && first.rows).toBe(72);
    const batch = compile(seal, model, { mode: 'batch' });
    expect(batch.public.input.kind).toBe('batch');
  }, 60_000);

  it('is refused when not a whole number below the kernel, and with the im2col layout', () => {
    const bad = (p: unknown): string => failure(() => withExpected(imageModel(1, 6, [{ ...conv(1, 2, [3, 3], [1, 1]), padding: p as [number, number] }, { type: 'flatten' }, { type: 'dense', inputs: 2 * 36, outputs: 1, weights: [Array(72).fill(0.1)], bias: [0] }], 1)));
    expect(bad([3, 1])).toMatch(/layer 0 \(conv2d\): padding must be \[rows, columns\], whole numbers from 0 to less than the kernel \(3x3\)/);
    expect(bad([-1, 0])).toMatch(/padding must be/);
    expect(bad([0.5, 0])).toMatch(/padding must be/);
    expect(bad([1])).toMatch(/padding must be/);
    const im2col = failure(() => withExpected(imageModel(1, 6, [conv(1, 2, [3, 3], [1, 1], [1, 1]), { type: 'flatten' }, { type: 'dense', inputs: 72, outputs: 1, weights: [Array(72).fill(0.1)], bias: [0] }], 1, 'im2col')));
    expect(im2col).toMatch(/the im2col layout needs a first conv2d without padding/);
  });
});
