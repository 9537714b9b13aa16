import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postprocess, referenceForward, roundTo } from '../../he-core/index.js';
import type { ModelFile } from '../../he-core/index.js';
import { launchBundledService } from '../../main/provider/bundled-service.js';
import type { BundledService } from '../../main/provider/bundled-service.js';
import { FlowError } from '../../main/flow/errors.js';
import type { StageEvent } from '../../main/flow/prediction-flow.js';
import { loadBreastCancer } from '../../scripts/datasets/breast-cancer.js';
import { loadBundledModel } from '../encrypted/harness.js';
import { clientRig } from './fixtures.js';
import type { ClientRig } from './fixtures.js';

// The whole client flow against the bundled service running as its own process. Shown results
// must equal the plaintext reference after rounding to the model's declared precision.
function shownReference(model: ModelFile, x: readonly number[]): number[] {
  return postprocess(model.postprocess, referenceForward(model, x)).values.map((v) => roundTo(v, model.output.precision));
}

describe('prediction flow against a real service process', () => {
  let service: BundledService;
  let rig: ClientRig;
  beforeAll(async () => {
    service = await launchBundledService({ workers: 2 });
    rig = await clientRig({ kind: 'bundled', url: service.url, credential: service.token });
  }, 120_000);
  afterAll(async () => {
    rig?.close();
    await service?.stop();
  });

  for (const id of ['breast-cancer', 'breast-cancer-mlp', 'diabetes-progression', 'mnist-cnn']) {
    it(`${id}: the shown result equals the rounded plaintext reference, stored encrypted`, async () => {
      const model = loadBundledModel(id);
      const x = model.testVectors[1]!.input;
      const stages: StageEvent[] = [];
      const result = await rig.flow.predict(id, x, { onStage: (e) => stages.push(e) });
      const expected = shownReference(model, x);
      // Rounded values can differ in the last digit only when the exact value sits on a rounding edge.
      result.values.forEach((v, i) => expect(Math.abs(v - expected[i]!)).toBeLessThanOrEqual(10 ** -model.output.precision + 1e-12));
      expect(stages.filter((s) => s.state === 'done').map((s) => s.stage)).toEqual(expect.arrayContaining(['validate', 'keys', 'encrypt', 'evaluate', 'decrypt', 'store']));
      const stored = rig.vault.historyEntry(result.historyId)!;
      expect(stored.modelId).toBe(id);
      expect((stored.result as { values: number[] }).values).toEqual(result.values);
    }, 120_000);
  }

  it('reuses the session, and re-uploads the keys when the provider forgot them', async () => {
    const x = loadBundledModel('breast-cancer').testVectors[0]!.input;
    const first = await rig.flow.predict('breast-cancer', x);
    const again = await rig.flow.predict('breast-cancer', x);
    expect(again.timings.upload).toBeUndefined();
    // Forget the keys behind the flow's back (as a restart or an eviction would).
    expect(await rig.flow.forgetKeys()).toBeGreaterThan(0);
    const after = await rig.flow.predict('breast-cancer', x);
    expect(after.values).toEqual(first.values);
  }, 120_000);

  it('refuses out-of-range and missing inputs with a message naming the field, unit and range', async () => {
    const model = loadBundledModel('diabetes-progression');
    const typical = Object.fromEntries((model.input.kind === 'features' ? model.input.features : []).map((f) => [f.name, f.typical]));
    const bmi = model.input.kind === 'features' ? model.input.features[2]! : undefined;
    const err = await rig.flow.predict(model.id, { ...typical, [bmi!.name]: bmi!.max + 50 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FlowError);
    expect((err as FlowError).code).toBe('input_out_of_range');
    expect((err as FlowError).field).toBe(bmi!.name);
    expect((err as FlowError).message).toContain(bmi!.unit);
    expect((err as FlowError).message).toContain(String(bmi!.max));
    const { [bmi!.name]: _dropped, ...missing } = typical;
    const err2 = await rig.flow.predict(model.id, missing).catch((e: unknown) => e);
    expect((err2 as FlowError).code).toBe('input_invalid');
    expect((err2 as FlowError).field).toBe(bmi!.name);
  });

  it('refuses a coded field between its codes and a fraction in a whole-number field, naming the field', async () => {
    const model = loadBundledModel('diabetes-progression');
    const typical = Object.fromEntries((model.input.kind === 'features' ? model.input.features : []).map((f) => [f.name, f.typical]));
    const before = rig.vault.listHistory().total;
    const sex = await rig.flow.predict(model.id, { ...typical, sex: 1.5 }).catch((e: unknown) => e);
    expect(sex).toBeInstanceOf(FlowError);
    expect([(sex as FlowError).code, (sex as FlowError).field]).toEqual(['input_invalid', 'sex']);
    expect((sex as FlowError).message).toBe('Sex (coded 1 or 2 as in the source data) (sex) is 1.5; it must be one of the codes 1 (code 1), 2 (code 2)');
    const age = await rig.flow.predict(model.id, { ...typical, age: 45.5 }).catch((e: unknown) => e);
    expect([(age as FlowError).code, (age as FlowError).field]).toEqual(['input_invalid', 'age']);
    expect((age as FlowError).message).toBe('Age (age) is 45.5; it must be a whole number of years');
    expect(rig.vault.listHistory().total).toBe(before);
  });

  it('shows a result outside the range seen in training with its warning, and one inside without', async () => {
    const model = loadBundledModel('diabetes-progression');
    const features = model.input.kind === 'features' ? model.input.features : [];
    const lowest = features.map((f) => f.min);
    const out = await rig.flow.predict(model.id, lowest);
    const expected = shownReference(model, lowest);
    // Tolerance: one shown step (0.1), as for every shown result.
    expect(Math.abs(out.values[0]! - expected[0]!)).toBeLessThanOrEqual(10 ** -model.output.precision + 1e-12);
    expect(out.values[0]!).toBeLessThan(25);
    expect(out.outsideTraining).toEqual({ low: 25, high: 346, unit: 'index (one year)' });
    const inside = await rig.flow.predict(model.id, features.map((f) => f.typical));
    expect(inside.outsideTraining).toBeUndefined();
  });

  it('scores a batch with bad rows: row-level errors, the good rows still scored', async () => {
    const model = loadBundledModel('breast-cancer');
    const rows: number[][] = loadBreastCancer().test.x.slice(0, 30).map((r) => [...r]);
    rows[3] = rows[3]!.slice(0, 10);
    rows[7]![0] = -5;
    rows[11]![4] = Number.NaN;
    const result = await rig.flow.predictBatch(model.id, rows, { canary: true });
    expect(result.canary).toBe('passed');
    for (const bad of [3, 7, 11]) {
      expect(result.rows[bad]!.ok).toBe(false);
      expect(result.rows[bad]!.error).toBeTruthy();
    }
    expect(result.rows[7]!.field).toBe((model.input.kind === 'features' ? model.input.features[0]! : { name: '' }).name);
    const goodRows = result.rows.filter((r) => r.ok);
    expect(goodRows).toHaveLength(27);
    for (const r of goodRows) {
      const expected = shownReference(model, rows[r.row]!);
      expect(Math.abs(r.values![0]! - expected[0]!)).toBeLessThanOrEqual(10 ** -model.output.precision + 1e-12);
    }
  }, 120_000);

  it('cancels before sending when the signal is aborted', async () => {
    const controller = new AbortController();
    controller.abort();
    const x = loadBundledModel('breast-cancer').testVectors[0]!.input;
    const err = await rig.flow.predict('breast-cancer', x, { signal: controller.signal }).catch((e: unknown) => e);
    expect((err as { code?: string }).code).toBe('cancelled');
  });
});
