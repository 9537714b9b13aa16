import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkScreen, continueWithBundled, createVaultThroughUi, expectDisclaimerWithResult, loadModelFile, navigate, onScreen, reference, startApp, unexpectedConsoleErrors } from './harness.js';
import type { E2eApp } from './harness.js';

// Batch CSV scoring through the UI: a file with two bad rows is scored, the bad rows are reported
// by field, the good ones equal the plaintext reference (rounded), and the result CSV downloads.
describe('batch CSV scoring in the browser', () => {
  let app: E2eApp;
  const model = loadModelFile('diabetes-progression');
  const features = model.input.kind === 'features' ? model.input.features : [];
  const good = model.testVectors.map((v) => v.input);

  beforeAll(async () => {
    app = await startApp();
    await onScreen(app.page, 'onboarding');
    await createVaultThroughUi(app.page);
    await continueWithBundled(app.page);
  });
  afterAll(async () => {
    await app?.close();
  });

  it('scores the good rows, reports the two bad ones, and offers the results as CSV', async () => {
    const { page } = app;
    const header = features.map((f) => f.name);
    const outOfRange = [...good[0]!];
    outOfRange[0] = 200; // age
    const notANumber: (number | string)[] = [...good[1]!];
    notANumber[2] = 'heavy'; // bmi
    const rows: (number | string)[][] = [good[0]!, outOfRange, good[1]!, notANumber, ...good.slice(2)];
    const csv = `${header.join(',')}\n${rows.map((r) => r.join(',')).join('\n')}\n`;

    await navigate(page, 'batch');
    await page.getByLabel('Model').selectOption(model.id);
    await checkScreen(page, 'batch-start');
    await page.getByTestId('batch-file').setInputFiles({ name: 'patients.csv', mimeType: 'text/csv', buffer: Buffer.from(csv) });
    expect(await page.getByTestId('batch-file-name').textContent()).toContain(`${rows.length} data rows`);
    await page.getByTestId('batch-run').click();
    await page.getByTestId('batch-result').waitFor({ timeout: 90_000 });
    expect(await page.getByTestId('batch-scored').textContent()).toBe(String(rows.length - 2));
    expect(await page.getByTestId('batch-failed').textContent()).toBe('2');

    const table = page.locator('[data-testid="batch-table"] tbody tr');
    expect(await table.count()).toBe(rows.length);
    const cells = async (i: number) => table.nth(i).locator('td').allTextContents();
    // Row numbers are 1-based data rows, as in a spreadsheet without its header.
    const [rowNo, status, , problem] = await cells(1);
    expect([rowNo, status]).toEqual(['2', 'Error']);
    expect(problem).toMatch(/Age|age/);
    expect(problem).toContain('85');
    const badBmi = await cells(3);
    expect(badBmi[1]).toBe('Error');
    expect(badBmi[3]).toMatch(/bmi|Body mass index/);

    const goodRows = [0, 2, 4, 5];
    for (const [k, i] of goodRows.entries()) {
      const [, st, result] = await cells(i);
      expect(st).toBe('Scored');
      const shown = Number(/^-?[\d.]+/.exec(result ?? '')?.[0]);
      const ref = reference(model, good[k]!);
      const step = 10 ** -model.output.precision;
      // Equal after rounding; one unit in the last place only if the reference sits on a rounding boundary within CKKS noise.
      expect(Math.abs(shown - ref.values[0]!)).toBeLessThanOrEqual(shown === ref.values[0] ? 0 : step * 1.000001);
    }
    await expectDisclaimerWithResult(page, '[data-testid="batch-result"]', 'h2', '[data-testid="batch-table"]');
    await checkScreen(page, 'batch');

    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('batch-download').click()]);
    expect(download.suggestedFilename()).toBe(`${model.id}-results.csv`);
    const text = await readFile((await download.path())!, 'utf8');
    const lines = text.trim().split(/\r?\n/);
    expect(lines[0]).toMatch(/^row,status,/);
    expect(lines).toHaveLength(rows.length + 1);
    expect(lines.filter((l) => /,error,/.test(l))).toHaveLength(2);
  });

  it('reports a file without a required column as a whole-file error', async () => {
    const { page } = app;
    const header = features.slice(1).map((f) => f.name);
    const csv = `${header.join(',')}\n${good[0]!.slice(1).join(',')}\n`;
    await page.getByTestId('batch-file').setInputFiles({ name: 'missing-age.csv', mimeType: 'text/csv', buffer: Buffer.from(csv) });
    await page.getByTestId('batch-run').click();
    const error = page.getByTestId('error');
    await error.waitFor();
    expect(await error.getAttribute('data-code')).toBe('csv_invalid');
    expect(await error.textContent()).toContain('age');
    // Written for the app: sentence case, no command to run; the actions are in the app.
    const message = (await page.getByTestId('error-message').textContent()) ?? '';
    expect(message).toMatch(/^The CSV file has no column "age" \(Age, years\)/);
    expect(message).not.toMatch(/ciphercare|`/);
    await checkScreen(page, 'batch-missing-column');

    // "Download a template": the header the model needs and one row of typical values.
    const [template] = await Promise.all([page.waitForEvent('download'), page.getByTestId('error-template').click()]);
    expect(template.suggestedFilename()).toBe(`${model.id}-template.csv`);
    const templateLines = (await readFile((await template.path())!, 'utf8')).trim().split(/\r?\n/);
    expect(templateLines[0]).toBe(features.map((f) => f.name).join(','));
    expect(templateLines).toHaveLength(2);

    // "See the columns …": opens the model's list of columns and moves focus there.
    expect(await page.getByTestId('batch-inputs').getAttribute('open')).toBeNull();
    await page.getByTestId('error-show-inputs').click();
    await page.locator('[data-testid="batch-inputs"][open]').waitFor();
    expect(await page.evaluate('document.activeElement && document.activeElement.tagName')).toBe('SUMMARY');
    expect(await page.locator('[data-testid="batch-inputs"] tr[data-column]').count()).toBe(features.length);
    expect(await page.locator('[data-testid="batch-inputs"] tr[data-column="age"]').isVisible()).toBe(true);
    await checkScreen(page, 'batch-missing-column-inputs');
    expect(unexpectedConsoleErrors(app.consoleErrors)).toEqual([]);
  });
});
