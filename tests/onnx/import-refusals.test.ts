import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Message } from 'protobufjs';
import { afterAll, describe, expect, it } from 'vitest';
import { parseModel } from '../../he-core/index.js';
import { ImportError } from '../../scripts/models/onnx/errors.js';
import { importOnnx } from '../../scripts/models/onnx/import.js';
import type { CardSource, ImportResult } from '../../scripts/models/onnx/import.js';
import { onnxModelType } from '../../scripts/models/onnx/read.js';
import { mulberry32 } from '../../he-core/testing/mulberry32.js';

// The importer's refusals: every op it does not map, named with its node and what to do; damaged
// files; networks with no 128-bit plan. Each refusal leaves nothing behind (no models directory,
// no staging directory beside it). Plus the ops the fixtures do not use (MatMul + Add,
// GlobalAveragePool, Reshape, Constant, Identity, Dropout), checked against onnxruntime.

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const FIXTURES = join(ROOT, 'scripts', 'models', 'fixtures');
const dir = mkdtempSync(join(tmpdir(), 'ciphercare-onnx-refusals-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const rand = mulberry32(7);

interface NodeSpec {
  op: string;
  name?: string;
  inputs: string[];
  outputs?: string[];
  attrs?: Record<string, number | number[] | string>;
  domain?: string;
}

let counter = 0;

function attribute(name: string, v: number | number[] | string): Record<string, unknown> {
  if (typeof v === 'string') return { name, type: 3, s: Buffer.from(v) };
  if (Array.isArray(v)) return { name, type: 7, ints: v };
  return Number.isInteger(v) ? { name, type: 2, i: v } : { name, type: 1, f: v };
}

/** An ONNX model built with protobufjs from the committed schema (float tensors, opset 13). */
function onnx(options: { input: number[]; nodes: NodeSpec[]; weights?: Record<string, { dims: number[]; values?: number[]; extra?: Record<string, unknown> }>; inputs?: string[] }): Uint8Array {
  const names = options.inputs ?? ['input'];
  let previous = names[0]!;
  const node = options.nodes.map((n, i) => {
    const outputs = n.outputs ?? [i === options.nodes.length - 1 ? 'output' : `t${i}`];
    const inputs = n.inputs.map((x) => (x === '$' ? previous : x));
    previous = outputs[0]!;
    return { name: n.name ?? `${n.op.toLowerCase()}${i}`, opType: n.op, domain: n.domain ?? '', input: inputs, output: outputs, attribute: Object.entries(n.attrs ?? {}).map(([k, v]) => attribute(k, v)) };
  });
  const initializer = Object.entries(options.weights ?? {}).map(([name, w]) => ({
    name,
    dims: w.dims,
    dataType: 1,
    floatData: w.values ?? Array.from({ length: w.dims.reduce((a, b) => a * b, 1) }, () => rand() - 0.5),
    ...w.extra,
  }));
  const doc = {
    irVersion: 7,
    producerName: 'ciphercare-test',
    opsetImport: [{ domain: '', version: 13 }],
    graph: {
      name: 'g',
      node,
      initializer,
      input: names.map((name) => ({ name, type: { tensorType: { elemType: 1, shape: { dim: [{ dimParam: 'batch' }, ...options.input.map((d) => ({ dimValue: d }))] } } } })),
      output: [{ name: 'output', type: { tensorType: { elemType: 1 } } }],
    },
  };
  const type = onnxModelType();
  return type.encode(type.fromObject(doc) as Message).finish();
}

function calibration(n: number, rows = 40, scale = 1): string {
  const file = join(dir, `calib-${n}-${rows}-${scale}.csv`);
  const header = Array.from({ length: n }, (_, i) => `x${i}`).join(',');
  writeFileSync(file, `${header}\n${Array.from({ length: rows }, () => Array.from({ length: n }, () => (scale * rand()).toFixed(4)).join(',')).join('\n')}\n`);
  return file;
}

/** Imports `bytes`; returns the result or the refusal, and checks that a refusal wrote nothing. */
async function attempt(bytes: Uint8Array | string, calib: string, extra: { approximate?: string[]; verifyRows?: number; card?: string } = {}): Promise<{ result?: ImportResult; error?: ImportError; out: string }> {
  const parent = mkdtempSync(join(dir, 'case-'));
  const file = join(parent, `m${counter++}.onnx`);
  writeFileSync(file, bytes);
  const out = join(parent, 'models');
  try {
    const result = await importOnnx({ onnx: file, calibration: calib, out, approximate: extra.approximate ?? [], verifyRows: extra.verifyRows ?? 0, ...(extra.card ? { card: extra.card } : {}) }, () => {});
    return { result, out };
  } catch (err) {
    if (!(err instanceof ImportError)) throw err;
    // Nothing written: no models directory, no staging directory left beside it.
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(parent).filter((f) => f !== file.split('/').pop())).toEqual([]);
    return { error: err, out };
  }
}

async function refusal(bytes: Uint8Array | string, calib: string, extra: { approximate?: string[] } = {}): Promise<string> {
  const { error } = await attempt(bytes, calib, extra);
  expect(error, 'expected the import to be refused').toBeDefined();
  return error!.message;
}

const gemm = (inputs: number, outputs: number, name: string): { node: NodeSpec; weights: Record<string, { dims: number[] }> } => ({
  node: { op: 'Gemm', name, inputs: ['$', `${name}.w`, `${name}.b`], attrs: { transB: 1 } },
  weights: { [`${name}.w`]: { dims: [outputs, inputs] }, [`${name}.b`]: { dims: [outputs] } },
});

/** Gemm 4 -> 3, the op under test on the hidden layer, Gemm 3 -> 1. */
function mlpWith(mid: NodeSpec[], extraWeights: Record<string, { dims: number[]; values?: number[] }> = {}): Uint8Array {
  const a = gemm(4, 3, 'a');
  const b = gemm(3, 1, 'b');
  return onnx({ input: [4], nodes: [a.node, ...mid, b.node], weights: { ...a.weights, ...b.weights, ...extraWeights } });
}

const convWeights = { 'k.w': { dims: [2, 1, 3, 3] }, 'k.b': { dims: [2] } };
/** Conv 1 -> 2 channels 3x3 on a 1x6x6 image, the op under test, then Flatten and Gemm to 2 outputs. */
function cnnWith(conv: Record<string, number | number[] | string>, mid: NodeSpec[], flat: number): Uint8Array {
  const g = gemm(flat, 2, 'g');
  return onnx({ input: [1, 6, 6], nodes: [{ op: 'Conv', name: 'conv', inputs: ['$', 'k.w', 'k.b'], attrs: conv }, ...mid, { op: 'Flatten', inputs: ['$'], attrs: { axis: 1 } }, g.node], weights: { ...convWeights, ...g.weights } });
}

describe('ONNX import refusals', () => {
  const tab = calibration(4);
  const img = calibration(36);

  const opCases: { what: string; bytes: () => Uint8Array; calib: () => string; message: RegExp }[] = [
    { what: 'ReLU inside the network', bytes: () => mlpWith([{ op: 'Relu', name: 'act', inputs: ['$'] }]), calib: () => tab, message: /^node "act" \(Relu\): not a polynomial, so it cannot be evaluated on encrypted data\. Retrain with a square activation \(x \* x\), or pass --approximate relu:poly2:\[-a,a\]/ },
    { what: 'Sigmoid inside the network', bytes: () => mlpWith([{ op: 'Sigmoid', name: 'act', inputs: ['$'] }]), calib: () => tab, message: /^node "act" \(Sigmoid\): Sigmoid in the middle of the network is not a polynomial.*--approximate sigmoid:poly2:\[-a,a\]/ },
    { what: 'Tanh', bytes: () => mlpWith([{ op: 'Tanh', name: 'act', inputs: ['$'] }]), calib: () => tab, message: /^node "act" \(Tanh\): not a polynomial.*the model format has no fitted tanh: retrain with a square activation/ },
    { what: 'LeakyRelu', bytes: () => mlpWith([{ op: 'LeakyRelu', name: 'act', inputs: ['$'] }]), calib: () => tab, message: /^node "act" \(LeakyRelu\): not supported: not a polynomial.*Retrain with a square activation/ },
    { what: 'Exp', bytes: () => mlpWith([{ op: 'Exp', name: 'e', inputs: ['$'] }]), calib: () => tab, message: /^node "e" \(Exp\): not supported: not a polynomial of its input/ },
    { what: 'an unknown op', bytes: () => mlpWith([{ op: 'Erf', name: 'erf', inputs: ['$'] }]), calib: () => tab, message: /^node "erf" \(Erf\): not supported: the importer maps Gemm, MatMul \(\+ Add\), Conv/ },
    { what: 'a custom domain', bytes: () => mlpWith([{ op: 'Gelu', name: 'g', domain: 'com.microsoft', inputs: ['$'] }]), calib: () => tab, message: /^node "g" \(Gelu\): operator domain "com\.microsoft" is not supported/ },
    { what: 'x to the third power', bytes: () => mlpWith([{ op: 'Pow', name: 'p', inputs: ['$', 'three'] }], { three: { dims: [], values: [3] } }), calib: () => tab, message: /^node "p" \(Pow\): x\^3 is not supported: use x\^2 \(a square\)/ },
    { what: 'a cubic written with Mul', bytes: () => mlpWith([{ op: 'Mul', inputs: ['$', '$'], outputs: ['sq'] }, { op: 'Mul', name: 'cube', inputs: ['sq', 't0'] }]), calib: () => tab, message: /^node "b" \(Gemm\): its input is a polynomial of degree 3 written with Mul and Add/ },
    { what: 'division by a computed value', bytes: () => mlpWith([{ op: 'Div', name: 'd', inputs: ['one', '$'] }], { one: { dims: [], values: [1] } }), calib: () => tab, message: /^node "d" \(Div\): dividing by a computed value is not a polynomial/ },
    { what: 'a residual connection', bytes: () => mlpWith([{ op: 'Gemm', name: 'c', inputs: ['$', 'c.w'], attrs: { transB: 1 }, outputs: ['t1'] }, { op: 'Add', name: 'skip', inputs: ['t0', 't1'] }], { 'c.w': { dims: [3, 3] } }), calib: () => tab, message: /^node "skip" \(Add\): uses a value from earlier in the network again \(a skip or residual connection\)/ },
    { what: 'a final Sigmoid on two outputs', bytes: () => onnx({ input: [4], nodes: [gemm(4, 2, 'a').node, { op: 'Sigmoid', name: 's', inputs: ['$'] }], weights: gemm(4, 2, 'a').weights }), calib: () => tab, message: /^node "s" \(Sigmoid\): a final Sigmoid needs exactly one output \(binary classification\), not 2; use Softmax/ },
    { what: 'a final LogSoftmax', bytes: () => onnx({ input: [4], nodes: [gemm(4, 2, 'a').node, { op: 'LogSoftmax', name: 'ls', inputs: ['$'] }], weights: gemm(4, 2, 'a').weights }), calib: () => tab, message: /^node "ls" \(LogSoftmax\): not supported: use Softmax as the last node/ },
    { what: 'a network ending in an activation', bytes: () => onnx({ input: [4], nodes: [gemm(4, 2, 'a').node, { op: 'Mul', name: 'sq', inputs: ['$', '$'] }], weights: gemm(4, 2, 'a').weights }), calib: () => tab, message: /the network must end with a Gemm, MatMul or Conv layer/ },
    { what: 'MaxPool', bytes: () => cnnWith({ kernel_shape: [3, 3] }, [{ op: 'MaxPool', name: 'mp', inputs: ['$'], attrs: { kernel_shape: [2, 2], strides: [2, 2] } }], 8), calib: () => img, message: /^node "mp" \(MaxPool\): not supported: a maximum is not a polynomial: use AveragePool/ },
    { what: 'a grouped Conv', bytes: () => cnnWith({ kernel_shape: [3, 3], group: 2 }, [], 32), calib: () => img, message: /^node "conv" \(Conv\): group = 2 \(grouped or depthwise convolution\) is not supported/ },
    { what: 'a dilated Conv', bytes: () => cnnWith({ kernel_shape: [3, 3], dilations: [2, 2] }, [], 8), calib: () => img, message: /^node "conv" \(Conv\): dilation other than 1 is not supported/ },
    { what: 'asymmetric Conv padding', bytes: () => cnnWith({ kernel_shape: [3, 3], pads: [1, 0, 0, 1] }, [], 50), calib: () => img, message: /^node "conv" \(Conv\): asymmetric padding \[1, 0, 0, 1\] is not supported/ },
    { what: 'auto_pad SAME', bytes: () => cnnWith({ kernel_shape: [3, 3], auto_pad: 'SAME_UPPER' }, [], 72), calib: () => img, message: /^node "conv" \(Conv\): auto_pad SAME_UPPER is not supported: export with explicit padding/ },
    { what: 'a separate Pad', bytes: () => cnnWith({ kernel_shape: [3, 3] }, [{ op: 'Pad', name: 'pad', inputs: ['$', 'pads'] }], 72), calib: () => img, message: /^node "pad" \(Pad\): a separate Pad node is not supported: put the zero padding in the Conv/ },
    { what: 'a padded AveragePool', bytes: () => cnnWith({ kernel_shape: [3, 3] }, [{ op: 'AveragePool', name: 'ap', inputs: ['$'], attrs: { kernel_shape: [2, 2], strides: [2, 2], pads: [1, 1, 1, 1] } }], 18), calib: () => img, message: /^node "ap" \(AveragePool\): padding in an average pool is not supported/ },
    { what: 'Gemm on an image', bytes: () => onnx({ input: [1, 6, 6], nodes: [gemm(36, 2, 'a').node], weights: gemm(36, 2, 'a').weights }), calib: () => img, message: /^node "a" \(Gemm\): needs a flat input, but receives a \[1, 6, 6\] tensor: add Flatten/ },
    { what: 'two graph inputs', bytes: () => onnx({ input: [4], inputs: ['input', 'other'], nodes: [{ op: 'Add', inputs: ['input', 'other'] }] }), calib: () => tab, message: /^the graph has 2 inputs \(input, other\); the importer maps a network of one input tensor/ },
  ];
  for (const c of opCases) {
    it(`refuses ${c.what}, naming the node, its op and what to do`, async () => {
      const bytes = c.bytes();
      // The Pad case needs its pads as an initializer of the right name.
      const fixed = c.what === 'a separate Pad' ? withInitializer(bytes, 'pads', [8], [0, 0, 1, 1, 0, 0, 1, 1]) : bytes;
      expect(await refusal(fixed, c.calib())).toMatch(c.message);
    });
  }

  it('refuses a truncated, empty, random or non-ONNX file clearly, writing nothing', async () => {
    const real = readFileSync(join(FIXTURES, 'logistic-breast-cancer.onnx'));
    const calib = join(FIXTURES, 'breast-cancer.calibration.csv');
    for (const cut of [0.1, 0.5, 0.9, 0.99]) {
      expect(await refusal(real.subarray(0, Math.floor(real.length * cut)), calib)).toMatch(/(is not a readable ONNX model \(truncated or damaged protobuf: .+\); export it again|is not an ONNX model: it has no .+ \(truncated, or another kind of file\)|holds \d+ bytes of data for \d+ float values: the file is damaged)$/);
    }
    expect(await refusal(new Uint8Array(0), calib)).toMatch(/m\d+\.onnx is empty: not an ONNX model$/);
    expect(await refusal(Uint8Array.from({ length: 4096 }, () => Math.floor(rand() * 256)), calib)).toMatch(/is not (a readable ONNX model|an ONNX model)/);
    expect(await refusal('{"format": "ciphercare-model"}', calib)).toMatch(/is not (a readable ONNX model|an ONNX model)/);
    // A weight whose raw data is shorter than its dims say.
    const short = onnx({ input: [4], nodes: [gemm(4, 1, 'a').node], weights: { 'a.w': { dims: [1, 4], extra: { floatData: [], rawData: Buffer.alloc(12) } }, 'a.b': { dims: [1] } } });
    expect(await refusal(short, calibration(4))).toMatch(/^initializer "a\.w" holds 12 bytes of data for 4 float values: the file is damaged$/);
    const external = onnx({ input: [4], nodes: [gemm(4, 1, 'a').node], weights: { 'a.w': { dims: [1, 4], extra: { dataLocation: 1 } }, 'a.b': { dims: [1] } } });
    expect(await refusal(external, calibration(4))).toMatch(/^initializer "a\.w" keeps its data in an external file; export the model with its weights inside the \.onnx file/);
  });

  it('refuses calibration data that does not fit the model, and a malformed --approximate', async () => {
    const bytes = readFileSync(join(FIXTURES, 'logistic-breast-cancer.onnx'));
    expect(await refusal(bytes, calibration(3))).toMatch(/calib-3-40-1\.csv has 3 columns; the model takes 30 input values \(one column each\)$/);
    const bad = join(dir, 'bad.csv');
    writeFileSync(bad, `${Array.from({ length: 30 }, (_, i) => `f${i}`).join(',')}\n${Array.from({ length: 30 }, (_, i) => (i === 7 ? 'abc' : '1')).join(',')}\n`);
    expect(await refusal(bytes, bad)).toMatch(/bad\.csv row 1, column f7: "abc" is not a number$/);
    expect(await refusal(bytes, join(FIXTURES, 'breast-cancer.calibration.csv'), { approximate: ['relu:poly5:[-1,1]'] })).toMatch(/^--approximate relu:poly5:\[-1,1\]: expected OP:polyD:\[low,high\]/);
  });

  it('says which limit leaves no 128-bit plan: the depth, or the slots', async () => {
    const layers: NodeSpec[] = [];
    let weights: Record<string, { dims: number[]; values?: number[] }> = {};
    for (let i = 0; i < 16; i++) {
      const g = gemm(4, 4, `l${i}`);
      layers.push(g.node, { op: 'Mul', inputs: ['$', '$'] });
      // Small weights keep the values (and their interval bounds) finite through 16 squares.
      weights = { ...weights, [`l${i}.w`]: { dims: [4, 4], values: Array.from({ length: 16 }, () => 0.05 + 0.01 * rand()) }, [`l${i}.b`]: { dims: [4], values: [0.01, 0.02, 0.03, 0.04] } };
    }
    const last = gemm(4, 1, 'out');
    const deep = onnx({ input: [4], nodes: [...layers, last.node], weights: { ...weights, ...last.weights } });
    expect(await refusal(deep, calibration(4, 40, 0.01))).toMatch(/^no 128-bit plan for the single layout: no polynomial degree up to 32768 holds a \d+-bit chain with \d+ slots at 128-bit security\. depth 33 \(17 linear steps after fusing, 16 activations\) at 26-bit precision needs a longer modulus chain than 128-bit security allows/);
    const wide = gemm(4, 20_000, 'w');
    const tail = gemm(20_000, 1, 't');
    const broad = onnx({ input: [4], nodes: [wide.node, { op: 'Mul', inputs: ['$', '$'] }, tail.node], weights: { ...wide.weights, ...tail.weights } });
    expect(await refusal(broad, calibration(4, 10, 0.01))).toMatch(/^no 128-bit plan for the single layout: layer 0 \(dense\) has 20000 values, and one sample must fit the 16384 slots of a ciphertext/);
    // An input too wide for the slots, without activations: the compiler's own refusal, explained.
    const flat = gemm(20_000, 1, 'f');
    const long = onnx({ input: [20_000], nodes: [flat.node], weights: flat.weights });
    expect(await refusal(long, calibration(20_000, 3, 0.01))).toMatch(/^no 128-bit plan for the single layout: the input has 20000 values, and one sample must fit the 16384 slots/);
  }, 60_000);
});

/** The same model with one more float initializer. */
function withInitializer(bytes: Uint8Array, name: string, dims: number[], values: number[]): Uint8Array {
  const type = onnxModelType();
  const doc = type.toObject(type.decode(bytes)) as { graph: { initializer?: unknown[] } };
  (doc.graph.initializer ??= []).push({ name, dims, dataType: 7, int64Data: values });
  return type.encode(type.fromObject(doc) as Message).finish();
}

describe('ONNX import of the ops the fixtures do not use, checked against onnxruntime', () => {
  it('MatMul + Add, Sub/Div normalisation, Identity, Dropout and Constant nodes: the plaintext import equals onnxruntime', async () => {
    const bytes = onnx({
      input: [4],
      nodes: [
        { op: 'Constant', inputs: [], outputs: ['mu'], attrs: {} },
        { op: 'Sub', inputs: ['input', 'mu'] },
        { op: 'Div', inputs: ['$', 'sd'] },
        { op: 'MatMul', inputs: ['$', 'W'] },
        { op: 'Add', inputs: ['$', 'bias'] },
        { op: 'Identity', inputs: ['$'] },
        { op: 'Mul', inputs: ['$', '$'] },
        { op: 'Dropout', inputs: ['$'] },
        { op: 'MatMul', inputs: ['$', 'W2'] },
        { op: 'Add', inputs: ['$', 'b2'] },
      ],
      weights: { sd: { dims: [4], values: [2, 0.5, 1, 4] }, W: { dims: [4, 3] }, bias: { dims: [3] }, W2: { dims: [3, 2] }, b2: { dims: [2] } },
    });
    const withConstant = setConstant(bytes, 'mu', [4], [0.1, 0.2, 0.3, 0.4]);
    const { result } = await attempt(withConstant, calibration(4, 60), { verifyRows: 60 });
    expect(result).toBeDefined();
    const { model, verification } = result!;
    expect(model.layers.map((l) => (l.type === 'activation' ? l.fn : l.type))).toEqual(['dense', 'square', 'dense']);
    expect(model.preprocess.scale).toEqual([2, 0.5, 1, 4]);
    expect(model.preprocess.mean.map((m) => Math.fround(m))).toEqual([0.1, 0.2, 0.3, 0.4].map(Math.fround));
    // Two outputs, no final node: argmax over the raw outputs.
    expect(model.postprocess).toEqual({ fn: 'argmax' });
    expect(verification!.plaintext.maxError).toBeLessThan(1e-5);
    expect(verification!.encrypted.maxError).toBeLessThanOrEqual(0.01);
  }, 60_000);

  it('one output and no final node: a regression, compared after post-processing; the draft card has no training range', async () => {
    const a = gemm(4, 1, 'r');
    const { result, out } = await attempt(onnx({ input: [4], nodes: [a.node], weights: a.weights }), calibration(4, 30, 10), { verifyRows: 30 });
    const { model, verification } = result!;
    expect(model.task).toBe('regression');
    expect(model.postprocess).toEqual({ fn: 'identity', scale: 1, offset: 0 });
    expect(verification!.classification).toBe(false);
    expect(verification!.plaintext.maxError).toBeLessThan(1e-5);
    expect(verification!.encrypted.maxError).toBeLessThanOrEqual(0.01);
    const draft = JSON.parse(readFileSync(join(out, 'drafts', `${model.id}.card.json`), 'utf8')) as CardSource;
    expect(draft.output).toEqual({ labels: ['output'], unit: '', precision: 3 });
    expect(model.output.trainingRange).toBeUndefined();
  }, 60_000);

  it('GlobalAveragePool and Reshape: the plaintext import equals onnxruntime; a draft card can be edited and imported again with --card', async () => {
    const g = gemm(2, 3, 'g');
    const bytes = onnx({
      input: [1, 6, 6],
      nodes: [
        { op: 'Conv', inputs: ['$', 'k.w', 'k.b'], attrs: { kernel_shape: [3, 3], pads: [1, 1, 1, 1] } },
        { op: 'Mul', inputs: ['$', '$'] },
        { op: 'GlobalAveragePool', inputs: ['$'] },
        { op: 'Reshape', inputs: ['$', 'shape'] },
        g.node,
      ],
      weights: { ...convWeights, ...g.weights },
    });
    const reshaped = withInitializer(bytes, 'shape', [2], [-1, 2]);
    const calib = calibration(36, 50);
    const first = await attempt(reshaped, calib, { verifyRows: 50 });
    expect(first.result!.verification!.plaintext.maxError).toBeLessThan(1e-5);
    expect(first.result!.model.layers.map((l) => l.type)).toEqual(['conv2d', 'activation', 'avgpool2d', 'flatten', 'dense']);
    const draftFile = join(first.out, 'drafts', `${first.result!.model.id}.card.json`);
    const draft = JSON.parse(readFileSync(draftFile, 'utf8')) as CardSource;
    expect(draft.output.labels).toEqual(['class 0', 'class 1', 'class 2']);
    draft.output.labels = ['red', 'green', 'blue'];
    draft.title = 'Colour from a 6x6 patch';
    const edited = join(dir, 'edited.card.json');
    writeFileSync(edited, JSON.stringify(draft));
    const second = await attempt(reshaped, calib, { card: edited });
    const model = parseModel(readFileSync(join(second.out, `${draft.id}.json`), 'utf8'));
    expect(model.output.labels).toEqual(['red', 'green', 'blue']);
    expect(model.title).toBe('Colour from a 6x6 patch');
    expect(model.weightsSha256).toBe(first.result!.model.weightsSha256);
  }, 60_000);
});

describe('--approximate: a ReLU network imported with a fitted polynomial', () => {
  it('replaces the ReLU by the least-squares quadratic on the declared range and reports its cost against onnxruntime', async () => {
    const lines: string[] = [];
    const parent = mkdtempSync(join(dir, 'relu-'));
    const { model, verification, network } = await importOnnx(
      { onnx: join(FIXTURES, 'mlp-relu-breast-cancer.onnx'), calibration: join(FIXTURES, 'breast-cancer.calibration.csv'), out: join(parent, 'models'), approximate: ['relu:poly2:[-40,40]'], verifyRows: 100 },
      (l) => lines.push(l),
    );
    const poly = model.layers[1]!;
    expect(poly).toMatchObject({ type: 'activation', fn: 'poly', approximates: 'relu', range: [-40, 40] });
    // The least-squares quadratic of max(0, x) on [-a, a] is 3a/32 + x/2 + 15x²/(32a) (Legendre basis).
    const c = poly.type === 'activation' && poly.fn === 'poly' ? poly.coefficients : [];
    [120 / 32, 0.5, 15 / (32 * 40)].forEach((want, k) => expect(Math.abs(c[k]! - want)).toBeLessThan(2e-3 * Math.max(1, want)));
    expect(network.approximated).toHaveLength(1);
    expect(lines.join('\n')).toMatch(/Relu "\/Relu" approximated by 3\.75\d x?\+? ?.* on \[-40, 40\]; \d+ of 3640 calibration values entering it lie outside that range/);
    // The approximation's cost is measured against onnxruntime's exact ReLU and printed; the encrypted
    // evaluation still matches the imported (approximated) network within the tolerance.
    expect(lines.join('\n')).toMatch(/the approximation costs [\d.e+-]+ on the raw output and changes \d+ of 100 classes/);
    expect(verification!.plaintext.maxError).toBeGreaterThan(0.01);
    expect(verification!.encryptedVsPlain).toBeLessThanOrEqual(0.01);
    expect(verification!.plaintext.agree).toBeGreaterThanOrEqual(90);
  }, 60_000);
});

/** Gives a Constant node its value tensor. */
function setConstant(bytes: Uint8Array, output: string, dims: number[], values: number[]): Uint8Array {
  const type = onnxModelType();
  const doc = type.toObject(type.decode(bytes)) as { graph: { node: { output: string[]; attribute?: unknown[] }[] } };
  const node = doc.graph.node.find((n) => n.output[0] === output)!;
  node.attribute = [{ name: 'value', type: 4, t: { dims, dataType: 1, floatData: values } }];
  return type.encode(type.fromObject(doc) as Message).finish();
}
