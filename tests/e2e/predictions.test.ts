import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HistoryItem } from '../../preload/contract.js';
import {
  PASSPHRASE,
  checkScreen,
  continueWithBundled,
  createVaultThroughUi,
  expectDisclaimerWithResult,
  inputFromHistory,
  loadModelFile,
  navigate,
  onScreen,
  reference,
  startApp,
  unexpectedConsoleErrors,
} from './harness.js';
import type { E2eApp } from './harness.js';
import { expectMatchesReference, openModel, runAndWait, shownValues } from './prediction-steps.js';

/**
 * Every bundled model through the UI, each shown result compared with the plaintext reference of
 * the input the UI sent (read back from the encrypted history). Tolerance: the shown value must
 * equal the reference rounded to the model's precision; only where the unrounded reference lies
 * within CKKS noise (1e-4 of the model's output unit, scaled for regression) of a rounding
 * boundary may it differ by one unit in the last shown place.
 */
const TABULAR = ['breast-cancer', 'breast-cancer-mlp', 'diabetes-progression'] as const;

async function latestHistory(app: E2eApp): Promise<HistoryItem> {
  const page = await app.core.api.history.list({ limit: 1 });
  expect(page.items).toHaveLength(1);
  return page.items[0]!;
}

describe('predictions in the browser', () => {
  let app: E2eApp;
  let dataDir: string;
  const shownHistory: string[] = [];

  beforeAll(async () => {
    app = await startApp({ keepDataDir: true });
    dataDir = app.dataDir;
    await onScreen(app.page, 'onboarding');
    await createVaultThroughUi(app.page);
    await continueWithBundled(app.page);
  });
  afterAll(async () => {
    await app?.close();
    const { rmSync } = await import('node:fs');
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  for (const id of TABULAR) {
    it(`${id}: the sample patient's encrypted result equals the plaintext reference`, async () => {
      const { page } = app;
      const model = loadModelFile(id);
      await openModel(page, id);
      await page.getByTestId('fill-sample').click();
      await checkScreen(page, `form-${id}`);
      await runAndWait(page);
      const shown = await shownValues(page, model);
      const item = await latestHistory(app);
      const input = inputFromHistory(model, item.input);
      // The sample button fills in the model's published sample exactly.
      expect(input).toEqual(model.testVectors[0]!.input);
      expectMatchesReference(model, shown, input);
      expect(await page.getByTestId('privacy-note').textContent()).toContain('never saw your data');
      expect(await page.getByTestId('canary').getAttribute('data-canary')).toBe('off');
      // Every stage finished, with a time.
      for (const stage of ['keys', 'upload', 'encrypt', 'evaluate', 'decrypt']) {
        expect(await page.locator(`[data-stage="${stage}"]`).getAttribute('data-state')).toBe('done');
      }
      // The disclaimer sits with the verdict, before the gauge or the value's details.
      await expectDisclaimerWithResult(page, '[data-testid="result"]', '[data-testid="verdict"]', '[data-testid="result-figure"]');
      await checkScreen(page, `result-${id}`);
    });
  }

  it('refuses an out-of-range value before sending, naming the allowed range', async () => {
    const { page, core } = app;
    await openModel(page, 'diabetes-progression');
    const before = (await core.api.history.list({ limit: 1 })).total;
    await page.getByTestId('fill-sample').click();
    const age = page.getByLabel(/^Age/);
    await age.fill('200');
    await age.blur();
    expect(await page.getByTestId('error-age').textContent()).toContain('from 13 to 85 years');
    await page.getByLabel(/^Body mass index/).fill('heavy');
    await page.getByTestId('run-prediction').click();
    const summary = page.getByTestId('form-errors');
    await summary.waitFor();
    expect(await summary.textContent()).toContain('2 values need attention; nothing was sent.');
    expect(await age.getAttribute('aria-invalid')).toBe('true');
    expect(await page.getByTestId('run-progress').count()).toBe(0);
    expect((await core.api.history.list({ limit: 1 })).total).toBe(before);
    await checkScreen(page, 'form-validation');
  });

  it('diabetes: sex is chosen from its codes, age takes whole years, and a result outside the training range carries a warning', async () => {
    const { page } = app;
    const model = loadModelFile('diabetes-progression');
    const features = model.input.kind === 'features' ? model.input.features : [];
    await openModel(page, 'diabetes-progression');
    const age = page.getByLabel(/^Age/);
    await age.fill('45.5');
    await age.blur();
    expect(await page.getByTestId('error-age').textContent()).toBe('45.5 is not a whole number: enter a whole number from 13 to 85 years.');
    // Every field at its minimum: a valid patient whose estimate (about -10) lies below the lowest target seen in training (25).
    for (const f of features) {
      if (f.type === 'categorical') await page.locator(`select[data-field="${f.name}"]`).selectOption(String(f.min));
      else await page.locator(`[data-field="${f.name}"]`).fill(String(f.min));
    }
    expect(await page.locator('select[data-field="sex"] option').allTextContents()).toEqual(['Choose…', '1: code 1', '2: code 2']);
    await runAndWait(page);
    const input = inputFromHistory(model, (await latestHistory(app)).input);
    expect(input).toEqual(features.map((f) => f.min));
    expectMatchesReference(model, await shownValues(page, model), input);
    expect(await page.getByTestId('outside-training').textContent()).toContain('It lies outside the results this model saw in training (25.0 to 346.0 index (one year))');
    await checkScreen(page, 'result-outside-training');
  });

  it('mnist-cnn: a run can be cancelled, and nothing is stored', async () => {
    const { page, core } = app;
    await openModel(page, 'mnist-cnn');
    const before = (await core.api.history.list({ limit: 1 })).total;
    await page.getByTestId('digit-sample').click();
    await page.getByTestId('run-prediction').click();
    await page.getByTestId('cancel-run').click();
    await page.locator('[data-testid="run-progress"][data-phase="cancelled"]').waitFor({ timeout: 60_000 });
    await checkScreen(page, 'run-cancelled');
    expect((await core.api.history.list({ limit: 1 })).total).toBe(before);
  });

  it('mnist-cnn: the sample digit gives the reference class probabilities', async () => {
    const { page } = app;
    const model = loadModelFile('mnist-cnn');
    await openModel(page, 'mnist-cnn');
    await page.getByTestId('digit-sample').click();
    await runAndWait(page);
    const input = inputFromHistory(model, (await latestHistory(app)).input);
    expect(input).toEqual(model.testVectors[0]!.input);
    expectMatchesReference(model, await shownValues(page, model), input);
    await expectDisclaimerWithResult(page, '[data-testid="result"]', '[data-testid="verdict"]', '[data-testid="class-bars"]');
    await checkScreen(page, 'result-mnist-cnn-sample');
  });

  it('mnist-cnn: a digit drawn with the mouse is downsampled to 28x28, centred, and predicted as the reference does', async () => {
    const { page } = app;
    const model = loadModelFile('mnist-cnn');
    await openModel(page, 'mnist-cnn');
    const canvas = page.getByTestId('digit-canvas');
    const box = (await canvas.boundingBox())!;
    // A "7", drawn off-centre: a top bar and a long diagonal.
    const at = (x: number, y: number): [number, number] => [box.x + (x * box.width) / 280, box.y + (y * box.height) / 280];
    await page.mouse.move(...at(40, 40));
    await page.mouse.down();
    for (const [x, y] of [[80, 40], [120, 40], [160, 42], [190, 45], [175, 90], [160, 135], [145, 180], [132, 225], [125, 255]] as const) {
      await page.mouse.move(...at(x, y), { steps: 6 });
    }
    await page.mouse.up();
    await checkScreen(page, 'digit-drawn');
    await runAndWait(page);
    const input = inputFromHistory(model, (await latestHistory(app)).input);
    expect(input).toHaveLength(784);
    expect(input.every((v) => v >= 0 && v <= 1)).toBe(true);
    // Centred by its centre of mass, as MNIST: within a pixel of the middle of the field.
    let mass = 0;
    let cx = 0;
    let cy = 0;
    input.forEach((v, i) => {
      mass += v;
      cx += v * (i % 28);
      cy += v * Math.floor(i / 28);
    });
    expect(Math.abs(cx / mass - 13.5)).toBeLessThanOrEqual(1);
    expect(Math.abs(cy / mass - 13.5)).toBeLessThanOrEqual(1);
    const shown = await shownValues(page, model);
    expectMatchesReference(model, shown, input);
    const label = await page.getByTestId('result-label').textContent();
    expect(label).toBe(model.output.labels[reference(model, input).classIndex!]);
    expect(label).toBe('7');
    await checkScreen(page, 'result-mnist-cnn-drawn');
    // The drawing pad clears.
    await page.getByTestId('digit-clear').click();
    expect(await page.getByTestId('run-prediction').isDisabled()).toBe(true);
  });

  it('mnist-cnn: the drawing pad also works from the keyboard', async () => {
    const { page } = app;
    await openModel(page, 'mnist-cnn');
    const canvas = page.getByTestId('digit-canvas');
    await canvas.focus();
    await page.keyboard.press('ArrowUp');
    await page.keyboard.press('Space');
    for (let i = 0; i < 8; i++) await page.keyboard.press('ArrowDown');
    await page.keyboard.press('Space');
    expect(await canvas.getAttribute('aria-label')).toContain('with a drawing');
    expect(await page.getByTestId('run-prediction').isDisabled()).toBe(false);
    await checkScreen(page, 'digit-keyboard');
    await page.getByTestId('digit-clear').click();
  });

  it('history lists every prediction with a chart, and survives a reload', async () => {
    const { page, core } = app;
    await navigate(page, 'history');
    const rows = page.locator('[data-testid="history-table"] tbody tr');
    const total = (await core.api.history.list({ limit: 1 })).total;
    // One per tabular model, the diabetes patient outside the training range, two digits.
    expect(total).toBe(TABULAR.length + 3);
    await rows.nth(total - 1).waitFor();
    expect(await rows.count()).toBe(total);
    await page.getByTestId('history-chart').waitFor();
    expect(await page.getByTestId('encrypted-note').textContent()).toContain('encrypted at rest');
    // The disclaimer comes right after the heading, before the chart and the table of results.
    await expectDisclaimerWithResult(page, '[data-screen="history"]', 'h1', '[data-testid="history-chart"]');
    await expectDisclaimerWithResult(page, '[data-screen="history"]', 'h1', '[data-testid="history-table"]');
    shownHistory.push(...(await page.getByTestId('history-result').allTextContents()));
    await checkScreen(page, 'history');

    await page.reload();
    await navigate(page, 'history');
    await rows.nth(total - 1).waitFor();
    expect(await page.getByTestId('history-result').allTextContents()).toEqual(shownHistory);
  });

  it('history survives closing the app and unlocking the vault again', async () => {
    await app.close();
    app = await startApp({ dataDir, keepDataDir: true });
    const { page } = app;
    await onScreen(page, 'unlock');
    await page.getByLabel('Passphrase', { exact: true }).fill(PASSPHRASE);
    await page.getByTestId('unlock').click();
    await onScreen(page, 'catalog', 90_000);
    await navigate(page, 'history');
    await page.locator('[data-testid="history-table"] tbody tr').nth(shownHistory.length - 1).waitFor();
    expect(await page.getByTestId('history-result').allTextContents()).toEqual(shownHistory);
    expect(await page.getByTestId('unreadable').count()).toBe(0);
    expect(unexpectedConsoleErrors(app.consoleErrors)).toEqual([]);
  });
});
