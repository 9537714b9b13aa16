import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCsv } from '../../main/flow/csv.js';
import { startService } from '../../mock-service/service.js';
import type { RunningService } from '../../mock-service/service.js';
import { PASSPHRASE, bundledModel, runCli, shownReference, tempDir } from './run-cli.js';

// `batch` with a row unlike the training data and a row with too few cells (docs/cli.md, "batch"):
// a valid mnist-cnn image (vertical stripes, largest logit about twice anything seen in training)
// is scored like the digits, the short row gets its own error row, the output CSV has every row,
// and the exit code is 0.
describe('ciphercare batch with a row far from the training data (as a process)', () => {
  let service: RunningService;
  const dir = tempDir('batch-range');
  const env = { CIPHERCARE_PASSPHRASE: PASSPHRASE };
  const mnist = bundledModel('mnist-cnn');
  // One step of the shown precision (a value on a rounding edge may round the other way).
  const unit = 10 ** -mnist.output.precision + 1e-12;

  beforeAll(async () => {
    service = await startService({ mode: 'bundled', workers: 1, logger: pino({ level: 'silent' }) });
    const init = await runCli(['--data-dir', dir, 'init'], { env });
    expect(init.code).toBe(0);
  }, 60_000);
  afterAll(async () => {
    await service?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes every row: the digits and the stripes image scored, the short row with its own error; exit 0', async () => {
    const stripes = Array.from({ length: 28 * 28 }, (_, i) => ((i % 28) % 2 === 0 ? 1 : 0));
    const digits = mnist.testVectors.slice(0, 2).map((tv) => tv.input);
    const header = Array.from({ length: 28 * 28 }, (_, i) => `p${i}`);
    // CSV rows: 1 a digit, 2 too few cells, 3 the stripes image, 4 a digit.
    const body = [digits[0]!.join(','), '0,1', stripes.join(','), digits[1]!.join(',')];
    const csv = join(dir, 'in.csv');
    const out = join(dir, 'out.csv');
    writeFileSync(csv, [header.join(','), ...body].join('\n') + '\n');
    const res = await runCli(['--data-dir', dir, '--provider', service.url, '--api-key', service.token!, '--json', 'batch', '--model', 'mnist-cnn', '--csv', csv, '--out', out], { env, timeoutMs: 240_000 });
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    const summary = JSON.parse(res.stdout) as { rows: number; ok: number; errors: number; errorRows: { row: number; code?: string; error: string }[]; canary: string };
    expect(summary).toMatchObject({ rows: 4, ok: 3, errors: 1, canary: 'passed' });
    expect(summary.errorRows.map((r) => r.row)).toEqual([2]);

    const table = parseCsv(readFileSync(out, 'utf8'));
    expect(table.header).toEqual(['row', 'status', 'label', 'probability', 'error']);
    const lines = table.records.map((r) => r.cells);
    expect(lines.map((l) => l[0])).toEqual(['1', '2', '3', '4']);
    for (const [i, x] of [
      [0, digits[0]!],
      [2, stripes],
      [3, digits[1]!],
    ] as const) {
      const [, status, label, probability, error] = lines[i]!;
      const expected = shownReference(mnist, x);
      const best = expected.indexOf(Math.max(...expected));
      expect(status).toBe('ok');
      expect(label).toBe(mnist.output.labels[best]);
      expect(Math.abs(Number(probability) - expected[best]!)).toBeLessThanOrEqual(unit);
      expect(error).toBe('');
    }
    expect(lines[1]!.slice(1)).toEqual(['error', '', '', expect.stringContaining('cells') as string]);
  }, 300_000);
});
