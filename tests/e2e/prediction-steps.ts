import type { Page } from 'playwright-core';
import { expect } from 'vitest';
import type { ModelFile } from '../../he-core/index.js';
import { navigate, reference } from './harness.js';

/** From anywhere in the app to the prediction form of one model. */
export async function openModel(page: Page, id: string): Promise<void> {
  await navigate(page, 'models');
  await page.getByTestId(`predict-${id}`).click();
  await page.locator(`[data-screen="predict"][data-model="${id}"]`).waitFor();
}

/** Runs the filled-in form and waits for its result; an error shown instead fails the test. */
export async function runAndWait(page: Page): Promise<void> {
  await page.getByTestId('run-prediction').click();
  await page.locator('[data-testid="result"], [data-testid="error"]').first().waitFor({ timeout: 90_000 });
  const error = page.getByTestId('error');
  if (await error.count()) throw new Error(`the UI shows an error: ${await error.textContent()}`);
}

/** The values a result screen shows: each class's probability, or the one value. */
export async function shownValues(page: Page, model: ModelFile): Promise<number[]> {
  if (model.task === 'multiclass-classification') {
    return Promise.all(model.output.labels.map(async (_, i) => Number(await page.getByTestId(`class-value-${i}`).textContent())));
  }
  return [Number(await page.getByTestId('result-value').textContent())];
}

/**
 * Tolerance: the shown value must equal the plaintext reference rounded to the model's precision;
 * only where the unrounded reference lies within CKKS noise (1e-4 of the model's output unit,
 * scaled for regression) of a rounding boundary may it differ by one unit in the last shown place.
 */
export function expectMatchesReference(model: ModelFile, shown: number[], input: number[]): void {
  const ref = reference(model, input);
  const step = 10 ** -model.output.precision;
  const noise = 1e-4 * (model.postprocess.fn === 'identity' ? (model.postprocess.scale ?? 1) : 1);
  expect(shown).toHaveLength(ref.values.length);
  shown.forEach((value, i) => {
    if (value === ref.values[i]) return;
    const fromBoundary = Math.abs((Math.abs(ref.unrounded[i]! / step) % 1) - 0.5) * step;
    expect(fromBoundary).toBeLessThan(noise);
    expect(Math.abs(value - ref.values[i]!)).toBeLessThanOrEqual(step * 1.000001);
  });
}
