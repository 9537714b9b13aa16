import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService } from '../../mock-service/service.js';
import type { RunningService } from '../../mock-service/service.js';
import { PASSPHRASE, bundledModel, features, runCli, shownReference, tempDir } from './run-cli.js';

// The prediction commands as a process, against an evaluation service already running on the
// loopback address (`--provider http://127.0.0.1:PORT --api-key TOKEN`), so that each command does
// not launch its own; `demo` launches the bundled service itself, as `npm run demo` does.
describe('ciphercare predict, batch, history and demo (as a process)', () => {
  let service: RunningService;
  const dir = tempDir('predict');
  const env = { CIPHERCARE_PASSPHRASE: PASSPHRASE };
  let global: string[];
  const bc = bundledModel('breast-cancer');
  const unit = 10 ** -bc.output.precision + 1e-12;
  const typical = Object.fromEntries(features(bc).map((f) => [f.name, f.typical]));
  const setArgs = (values: Record<string, number>): string[] => Object.entries(values).flatMap(([k, v]) => ['--set', `${k}=${v}`]);

  beforeAll(async () => {
    service = await startService({ mode: 'bundled', workers: 2, logger: pino({ level: 'silent' }) });
    global = ['--data-dir', dir, '--provider', service.url, '--api-key', service.token!];
    const init = await runCli(['--data-dir', dir, 'init'], { env });
    expect(init.code).toBe(0);
  }, 60_000);
  afterAll(async () => {
    await service?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('predict --set (all 30 features) --json: the shown value equals the rounded plaintext reference', async () => {
    const res = await runCli([...global, '--json', 'predict', '--model', 'breast-cancer', ...setArgs(typical)], { env });
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    const out = JSON.parse(res.stdout) as { model: string; probability: number; label: string; values: number[]; timings: Record<string, number>; canary: string; historyId: number };
    const expected = shownReference(bc, features(bc).map((f) => f.typical));
    expect(out.model).toBe('breast-cancer');
    expect(Math.abs(out.probability - expected[0]!)).toBeLessThanOrEqual(unit);
    expect(out.values).toEqual([out.probability]);
    expect(out.label).toBe(expected[0]! >= 0.5 ? 'malignant' : 'benign');
    expect(Object.keys(out.timings)).toEqual(expect.arrayContaining(['keys', 'upload', 'encrypt', 'evaluate', 'decrypt']));
  });

  it('predict in text: the result, the stage timings, and that the provider never saw the data', async () => {
    const diabetes = bundledModel('diabetes-progression');
    const input = join(dir, 'input.json');
    writeFileSync(input, JSON.stringify(Object.fromEntries(features(diabetes).map((f) => [f.name, f.typical]))));
    const res = await runCli([...global, 'predict', '--model', diabetes.id, '--input', input], { env });
    expect(res.code).toBe(0);
    const expected = shownReference(diabetes, features(diabetes).map((f) => f.typical))[0]!;
    const shown = Number(/disease progression: ([\d.]+) index/.exec(res.stdout)?.[1]);
    expect(Math.abs(shown - expected)).toBeLessThanOrEqual(10 ** -diabetes.output.precision + 1e-12);
    expect(res.stdout).toMatch(/keys .* · upload .* · encrypt .* · evaluate .* · decrypt .* · end to end/);
    expect(res.stdout).toContain('The provider never saw your data');
  });

  it('an out-of-range value: exit 2, one line naming the field and its range, nothing sent', async () => {
    const radius = features(bc)[0]!;
    const res = await runCli([...global, 'predict', '--model', 'breast-cancer', ...setArgs({ ...typical, [radius.name]: radius.max + 50 })], { env });
    expect(res.code).toBe(2);
    expect(res.stdout).toBe('');
    expect(res.stderr.trim().split('\n')).toHaveLength(1);
    expect(res.stderr).toMatch(/^ciphercare: /);
    expect(res.stderr).toContain(radius.name);
    expect(res.stderr).toContain(`${radius.min} to ${radius.max} ${radius.unit}`);
    const unknown = await runCli([...global, 'predict', '--model', 'no-such-model', '--set', 'a=1'], { env });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('no-such-model');
  });

  it('batch: a CSV with 2 bad rows gives them row-level errors and scores the rest', async () => {
    const names = features(bc).map((f) => f.name);
    // Columns in another order, plus an extra column that is ignored and reported.
    const header = ['patient', ...[...names].reverse()];
    const samples = bc.testVectors.map((tv) => tv.input);
    const rows = Array.from({ length: 10 }, (_, i) => samples[i % samples.length]!.map((v) => v));
    const cells = rows.map((r, i) => [`"p${i}, ward 3"`, ...[...r].reverse().map(String)]);
    cells[3]![1 + names.length - 1 - 2] = 'abc'; // row 4: features[2] is not a number
    cells[8]![1 + names.length - 1 - 0] = '-5'; // row 9: features[0] out of range
    const csv = join(dir, 'in.csv');
    const out = join(dir, 'out.csv');
    writeFileSync(csv, [header.join(','), ...cells.map((c) => c.join(','))].join('\r\n') + '\r\n');
    const res = await runCli([...global, '--json', 'batch', '--model', 'breast-cancer', '--csv', csv, '--out', out], { env });
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout)).toMatchObject({ model: 'breast-cancer', rows: 10, ok: 8, errors: 2, ignoredColumns: ['patient'] });
    const lines = readFileSync(out, 'utf8').trim().split(/\r\n/);
    expect(lines[0]).toBe('row,status,probability,label,error');
    expect(lines).toHaveLength(11);
    lines.slice(1).forEach((line, i) => {
      const [row, status, probability, label, ...error] = line.split(',');
      expect(Number(row)).toBe(i + 1);
      if (i === 3 || i === 8) {
        expect(status).toBe('error');
        expect(probability).toBe('');
        expect(error.join(',')).toContain(i === 3 ? names[2]! : names[0]!);
      } else {
        expect(status).toBe('ok');
        const expected = shownReference(bc, rows[i]!)[0]!;
        expect(Math.abs(Number(probability) - expected)).toBeLessThanOrEqual(unit);
        expect(label).toBe(expected >= 0.5 ? 'malignant' : 'benign');
      }
    });
    const missing = join(dir, 'missing.csv');
    writeFileSync(missing, [header.filter((h) => h !== names[5]).join(','), '1'].join('\n'));
    const whole = await runCli([...global, 'batch', '--model', 'breast-cancer', '--csv', missing, '--out', join(dir, 'never.csv')], { env });
    expect(whole.code).toBe(2);
    expect(whole.stderr).toContain(names[5]!);
    // The CLI names its own command for the column list (the app offers a template and the input list instead).
    expect(whole.stderr).toContain('`ciphercare models breast-cancer` lists them');
  });

  it('history --json lists the predictions, decrypted', async () => {
    const res = await runCli([...global, '--json', 'history'], { env });
    expect(res.code).toBe(0);
    const page = JSON.parse(res.stdout) as { total: number; entries: { modelId: string; result: { values?: number[]; rows?: unknown[] } }[]; unreadable: unknown[] };
    expect(page.unreadable).toEqual([]);
    expect(page.total).toBe(3);
    expect(page.entries.map((e) => e.modelId)).toEqual(['breast-cancer', 'diabetes-progression', 'breast-cancer']);
    expect(page.entries[0]!.result.rows).toHaveLength(10);
    expect(page.entries[2]!.result.values).toHaveLength(1);
  });

  it('a wrong API key is a clear error, exit 1', async () => {
    const res = await runCli(['--data-dir', dir, '--provider', service.url, '--api-key', 'wrong', 'models']);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/^ciphercare: .*refused/);
  });

  it('demo --json: the bundled service, every bundled model, every result agrees with the plaintext reference', async () => {
    const res = await runCli(['--json', 'demo']);
    expect(res.code).toBe(0);
    const rows = JSON.parse(res.stdout) as { model: string; encrypted: number[]; plaintext: number[]; agree: boolean; ms: number }[];
    expect(rows.map((r) => r.model).sort()).toEqual(['breast-cancer', 'breast-cancer-mlp', 'diabetes-progression', 'mnist-cnn']);
    for (const r of rows) {
      expect(r.agree).toBe(true);
      expect(r.encrypted.length).toBe(r.plaintext.length);
      expect(r.ms).toBeGreaterThan(0);
    }
  });

  it('predict in text: a result outside the range seen in training carries a warning line', async () => {
    const diabetes = bundledModel('diabetes-progression');
    const input = join(dir, 'lowest.json');
    writeFileSync(input, JSON.stringify(Object.fromEntries(features(diabetes).map((f) => [f.name, f.min]))));
    const res = await runCli([...global, 'predict', '--model', diabetes.id, '--input', input], { env });
    expect(res.code).toBe(0);
    const expected = shownReference(diabetes, features(diabetes).map((f) => f.min))[0]!;
    const shown = Number(/disease progression: (-?[\d.]+) index/.exec(res.stdout)?.[1]);
    expect(Math.abs(shown - expected)).toBeLessThanOrEqual(10 ** -diabetes.output.precision + 1e-12);
    expect(res.stdout).toContain('  warning  this result lies outside the results this model saw in training (25.0 to 346.0 index (one year)): the model was never fitted there, so read it with extra caution.');
  });
});
