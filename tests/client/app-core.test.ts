import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postprocess, referenceForward, roundTo } from '../../he-core/index.js';
import { AppCore } from '../../main/app/app-core.js';
import { toBridgeError } from '../../main/app/bridge-errors.js';
import type { ProgressEvent } from '../../preload/contract.js';
import { SCRYPT_FLOOR } from '../../main/vault/index.js';
import { loadBundledModel } from '../encrypted/harness.js';

const PASSPHRASE = 'a long enough passphrase';

async function failure(p: Promise<unknown>): Promise<{ code: string; message: string; field?: string }> {
  try {
    await p;
  } catch (err) {
    return toBridgeError(err);
  }
  throw new Error('expected a failure');
}

describe('AppCore: the privileged side behind the bridge', () => {
  let dir: string;
  let core: AppCore;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'ciphercare-app-'));
    core = new AppCore({ dataDir: dir, kdf: SCRYPT_FLOOR, bundled: { workers: 1 } });
  });
  afterAll(async () => {
    await core?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('onboards, predicts with progress, keeps history encrypted, locks and unlocks', async () => {
    const api = core.api;
    expect((await api.vault.status()).exists).toBe(false);
    expect((await failure(api.vault.create('short'))).code).toBe('weak_passphrase');
    expect((await api.vault.create(PASSPHRASE)).unlocked).toBe(true);
    expect(await api.provider.get()).toEqual({ kind: 'bundled' });
    const models = await api.models.list();
    expect(models.map((m) => m.id).sort()).toEqual(['breast-cancer', 'breast-cancer-mlp', 'diabetes-progression', 'mnist-cnn']);
    const events: ProgressEvent[] = [];
    const off = api.predictions.onProgress((e) => events.push(e));
    const model = loadBundledModel('breast-cancer');
    const summary = models.find((m) => m.id === model.id)!;
    const view = await api.predictions.run({ runId: 'r1', modelId: model.id, input: summary.sample });
    off();
    const expected = postprocess(model.postprocess, referenceForward(model, summary.sample)).values.map((v) => roundTo(v, model.output.precision));
    expect(Math.abs(view.values[0]! - expected[0]!)).toBeLessThanOrEqual(10 ** -model.output.precision);
    expect(events.filter((e) => e.runId === 'r1' && e.state === 'done').map((e) => e.stage)).toEqual(expect.arrayContaining(['keys', 'upload', 'encrypt', 'evaluate', 'decrypt', 'store']));
    const history = await api.history.list({});
    expect(history.items.map((i) => i.id)).toContain(view.historyId);

    const bad = await failure(api.predictions.run({ runId: 'r2', modelId: model.id, input: summary.sample.map((v, i) => (i === 0 ? 1e9 : v)) }));
    expect(bad.code).toBe('input_out_of_range');
    expect(bad.field).toBe(summary.input.kind === 'features' ? summary.input.features[0]!.name : '');

    const keys = await api.keys.list();
    const set = keys.parameterSets.find((p) => p.models.includes(model.id))!;
    expect(set.current).toBe(1);
    const rotated = await api.keys.rotate();
    expect(rotated.parameterSets.find((p) => p.fingerprint === set.fingerprint)!.current).toBe(2);
    const again = await api.predictions.run({ runId: 'r3', modelId: model.id, input: summary.sample });
    expect(again.values).toEqual(view.values);

    await api.vault.lock();
    expect((await failure(api.history.list({}))).code).toBe('vault_locked');
    expect((await failure(api.vault.unlock('not the passphrase'))).code).toBe('wrong_passphrase');
    await api.vault.unlock(PASSPHRASE);
    expect((await api.history.list({})).items.length).toBe(2);
    const backup = await api.keys.exportBackup('backup passphrase 123');
    expect(backup.bytes).toBeGreaterThan(0);
  }, 180_000);

  it('scores a CSV batch with row errors, and names a missing column', async () => {
    const model = loadBundledModel('breast-cancer');
    const features = model.input.kind === 'features' ? model.input.features : [];
    const header = [...features.map((f) => f.name), 'patient_ref'].join(',');
    const rows = model.testVectors.map((tv, i) => [...tv.input, `p${i}`].join(','));
    rows.push([...model.testVectors[0]!.input.map((v, i) => (i === 2 ? 'abc' : v)), 'bad'].join(','));
    const view = await core.api.batch.run({ runId: 'b1', modelId: model.id, csv: [header, ...rows].join('\n') });
    expect(view.scored).toBe(model.testVectors.length);
    expect(view.failed).toBe(1);
    expect(view.rows[view.rows.length - 1]!.field).toBe(features[2]!.name);
    expect(view.csv.split(/\r?\n/)[0]).toBe('row,status,probability,label,error');
    const missing = await failure(core.api.batch.run({ runId: 'b2', modelId: model.id, csv: features.slice(1).map((f) => f.name).join(',') + '\n1' }));
    expect(missing.code).toBe('csv_invalid');
    expect(missing.message).toContain(features[0]!.name);
    expect(missing.field).toBe(features[0]!.name);
    // Written for the app as well as the CLI: sentence case, and no command to run.
    expect(missing.message).toMatch(/^The CSV file has no column "/);
    expect(missing.message).not.toMatch(/ciphercare |`/);
  }, 120_000);
});
