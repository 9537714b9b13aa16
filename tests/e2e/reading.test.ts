import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PASSPHRASE, checkScreen, continueWithBundled, navigate, onScreen, startApp, unexpectedConsoleErrors } from './harness.js';
import type { E2eApp } from './harness.js';

/**
 * What a screen-reader user hears and what a 320 px wide window shows: the passphrase strength
 * is announced when typing pauses (not on every keystroke); a run's one live region starts empty
 * and announces each stage once; and the main screens reflow at 320 px without scrolling sideways.
 */

/** Records every text a live region takes from now on (MutationObserver in the page). */
async function recordAnnouncements(page: Page, selector: string, key: string): Promise<void> {
  await page.evaluate(
    ({ selector, key }) => {
      const region = document.querySelector(selector);
      if (!region) throw new Error(`no live region ${selector}`);
      const log: string[] = [];
      (window as unknown as Record<string, string[]>)[key] = log;
      let last = region.textContent ?? '';
      new MutationObserver(() => {
        const text = region.textContent ?? '';
        if (text !== last) log.push(text);
        last = text;
      }).observe(region, { subtree: true, childList: true, characterData: true });
    },
    { selector, key },
  );
}

async function announcements(page: Page, key: string): Promise<string[]> {
  const log = await page.evaluate((k) => (window as unknown as Record<string, string[]>)[k] ?? [], key);
  return log.filter((t) => t.trim() !== '');
}

const scrollWidth = (page: Page) => page.evaluate(() => document.documentElement.scrollWidth);

describe('announcements and reflow in the browser', () => {
  let app: E2eApp;
  const widths: Record<string, number> = {};

  beforeAll(async () => {
    app = await startApp();
    await onScreen(app.page, 'onboarding');
  });
  afterAll(async () => {
    await app?.close();
  });

  it('announces the passphrase strength when typing pauses, not on every keystroke', async () => {
    const { page } = app;
    expect(await page.getByTestId('strength-announcer').textContent()).toBe('');
    await recordAnnouncements(page, '[data-testid="strength-announcer"]', '__strength');
    // 31 keystrokes, 40 ms apart: faster than the pause that triggers an announcement.
    await page.getByLabel('Passphrase', { exact: true }).pressSequentially(PASSPHRASE, { delay: 40 });
    expect(await announcements(page, '__strength')).toEqual([]);
    await page.waitForTimeout(1500);
    const heard = await announcements(page, '__strength');
    expect(heard).toHaveLength(1);
    expect(heard[0]).toMatch(/^Passphrase strength: (Strong|Very strong)\./);
    // The visible label followed every keystroke all along.
    expect(await page.getByTestId('strength-label').textContent()).toMatch(/Strong|Very strong/);

    await page.getByLabel('Repeat the passphrase').fill(PASSPHRASE);
    await page.getByTestId('create-vault').click();
    await onScreen(page, 'provider');
    await continueWithBundled(page);
  });

  it('reflows at 320 px: the catalog, its technical details, a form and a result scroll only vertically', async () => {
    const { page } = app;
    await page.setViewportSize({ width: 320, height: 720 });
    await navigate(page, 'models');
    widths.catalog = await scrollWidth(page);
    await checkScreen(page, 'catalog-320px');
    await page.locator('[data-model="breast-cancer"] [data-testid="technical-details"] summary').click();
    widths['catalog technical details'] = await scrollWidth(page);
    await page.getByTestId('predict-breast-cancer').click();
    await onScreen(page, 'predict');
    widths.form = await scrollWidth(page);
    await checkScreen(page, 'form-320px');
  });

  it('one polite live region, empty at first, announces each stage of a run once', async () => {
    const { page } = app;
    const regions = await page.evaluate(() => [...document.querySelectorAll('[data-screen="predict"] [aria-live], [data-screen="predict"] [role="status"]')].map((e) => e.getAttribute('data-testid')));
    expect(regions).toEqual(['run-announcer']);
    expect(await page.getByTestId('run-announcer').getAttribute('aria-live')).toBe('polite');
    expect(await page.getByTestId('run-announcer').textContent()).toBe('');
    await recordAnnouncements(page, '[data-testid="run-announcer"]', '__run');
    await page.getByTestId('fill-sample').click();
    await page.getByTestId('run-prediction').click();
    await page.getByTestId('result').waitFor({ timeout: 90_000 });
    await page.waitForTimeout(300);
    const heard = await announcements(page, '__run');
    // Still one live region while the run is shown; the result is not a second one.
    expect(await page.locator('[data-screen="predict"] [aria-live], [data-screen="predict"] [role="status"]').count()).toBe(1);
    expect(new Set(heard).size).toBe(heard.length);
    expect(heard[heard.length - 1]).toMatch(/^Finished\./);
    // Each stage once: on its own while slow, or in the summary at the end.
    const spoken = heard.join(' ');
    const stages = { keys: /your keys/gi, upload: /public keys/gi, encrypt: /your values/gi, evaluate: /comput(?:ing|ed) on the encrypted values/gi, decrypt: /decrypt/gi };
    for (const [stage, pattern] of Object.entries(stages)) expect(spoken.match(pattern)?.length ?? 0, `${stage} in ${JSON.stringify(heard)}`).toBe(1);
    expect(heard.length).toBeLessThanOrEqual(6);
    console.info(`run announcements (${heard.length}): ${JSON.stringify(heard)}`);

    widths.result = await scrollWidth(page);
    await checkScreen(page, 'result-320px');
  });

  it('reflows at 320 px: the drawing pad, the batch screen and the history', async () => {
    const { page } = app;
    await navigate(page, 'models');
    await page.getByTestId('predict-mnist-cnn').click();
    await page.getByTestId('digit-canvas').waitFor();
    widths['digit pad'] = await scrollWidth(page);
    const pad = (await page.getByTestId('digit-canvas').boundingBox())!;
    expect(pad.width).toBeGreaterThan(200);
    expect(Math.abs(pad.width - pad.height)).toBeLessThan(1);
    await checkScreen(page, 'digit-320px');
    await navigate(page, 'batch');
    widths.batch = await scrollWidth(page);
    await navigate(page, 'history');
    await page.locator('[data-testid="history-table"] tbody tr').first().waitFor();
    widths.history = await scrollWidth(page);
    await checkScreen(page, 'history-320px');
    // The history's live region is empty while it loads, so a refresh announces the count once, with no "Loading…" first.
    await recordAnnouncements(page, '[data-testid="history-live"]', '__history');
    await page.getByRole('button', { name: 'Refresh' }).click();
    await expect.poll(() => announcements(page, '__history'), { timeout: 15_000 }).toEqual([expect.stringMatching(/^\d+ of \d+ predictions shown\.$/)]);
    console.info(`scrollWidth at 320 px: ${JSON.stringify(widths)}`);
    for (const [screen, width] of Object.entries(widths)) expect(width, screen).toBeLessThanOrEqual(320);
  });

  it('the screen check itself fails on an axe violation, a CLI command or a lower-case message', async () => {
    const { page } = app;
    const inject = (html: string) =>
      page.evaluate((h) => {
        const probe = document.createElement('div');
        probe.id = 'probe';
        probe.innerHTML = h;
        document.querySelector('main')!.append(probe);
      }, html);
    const remove = () => page.evaluate(() => document.getElementById('probe')?.remove());
    await inject('<button type="button"></button>');
    await expect(checkScreen(page, 'probe-axe')).rejects.toThrow(/axe light: button-name .*\n.*axe dark: button-name/);
    await remove();
    await inject('<p>Run ciphercare models diabetes-progression to see the columns.</p>');
    await expect(checkScreen(page, 'probe-cli')).rejects.toThrow(/names a command: "Run ciphercare models/);
    await remove();
    await inject('<div role="alert">the CSV file has a header but no rows</div>');
    await expect(checkScreen(page, 'probe-case')).rejects.toThrow(/not in sentence case: "the CSV file/);
    await remove();
    await checkScreen(page, 'history-320px');
    expect(unexpectedConsoleErrors(app.consoleErrors)).toEqual([]);
  });
});
