import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIST_DIR } from '../e2e/bridge/server.js';
import { PASSPHRASE, continueWithBundled, createVaultThroughUi, ensureRendererBuilt, launchBrowser, loadModelFile, onScreen, unexpectedConsoleErrors } from '../e2e/harness.js';
import { expectMatchesReference, openModel, runAndWait, shownValues } from '../e2e/prediction-steps.js';
import { launchShell } from './standin/launch.js';
import type { ShellRun, ShellWindow } from './standin/launch.js';
import { STANDIN_ENV } from './standin/messages.js';

/**
 * The shell smoke test: the built bundles (dist: main.mjs, preload.cjs, service.mjs, the core
 * worker, the renderer) run as Electron runs them, with the `electron` module replaced by the
 * stand-in of tests/electron/standin (a real Chromium page per window, the preload in an isolated
 * world behind contextBridge's copy rules, protocol.handle serving the page, utility processes,
 * safeStorage). CIPHERCARE_SHELL_APP_DIR runs it against bundles built elsewhere (an older commit).
 */
const MODELS = ['breast-cancer', 'breast-cancer-mlp', 'diabetes-progression', 'mnist-cnn'] as const;

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The app's page started: its first screen is on show (not a blank window). */
async function firstScreen(run: ShellRun): Promise<{ win: ShellWindow; page: Page; screen: string }> {
  const win = await run.firstWindow();
  const screen = win.page.locator('[data-screen]').first();
  try {
    await screen.waitFor({ timeout: 60_000 });
  } catch {
    throw new Error(`the window stayed blank. Page errors: ${JSON.stringify(win.consoleErrors)}; dialogs: ${JSON.stringify(run.dialogs)}; main process: ${run.output()}`);
  }
  return { win, page: win.page, screen: (await screen.getAttribute('data-screen'))! };
}

/** The codes of the errors the page shows (each error notice carries its bridge code). */
async function shownErrorCodes(page: Page): Promise<(string | null)[]> {
  return page.locator('[data-testid="error"]').evaluateAll((nodes) => nodes.map((n) => n.getAttribute('data-code')));
}

/** How the main process ended, or a failure naming what it did instead. */
async function exitWithin(run: ShellRun, ms: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`the app did not exit within ${ms / 1000} s; dialogs: ${JSON.stringify(run.dialogs)}`)), ms).unref());
  return Promise.race([run.exited, timeout]);
}

/** The user closes the window; the app must stop its service and core, and leave no process behind. */
async function quitCleanly(run: ShellRun, win: ShellWindow): Promise<void> {
  run.closeWindow(win);
  expect(await exitWithin(run, 60_000)).toEqual({ code: 0, signal: null });
  expect(run.dialogs).toEqual([]);
  expect(run.utilities).toHaveLength(1);
  const [service] = run.utilities;
  // The service stopped on the app's request before the app exited, not killed with it.
  expect(service!.exit).toEqual({ code: 0, signal: null });
  expect(service!.killedAtExit).toBe(false);
  expect(isAlive(run.pid)).toBe(false);
  expect(isAlive(service!.pid)).toBe(false);
  expect(win.page.isClosed()).toBe(true);
}

describe('the desktop shell as Electron runs it (built bundles, electron stand-in, real Chromium)', () => {
  let work: string;
  let appDir: string;
  let browser: Browser;
  let home: string;
  let env: Record<string, string>;
  const runs: ShellRun[] = [];

  beforeAll(async () => {
    mkdirSync('dist', { recursive: true });
    // Inside the repository, so that node-seal and better-sqlite3 resolve from node_modules as in the app.
    work = mkdtempSync(join('dist', 'test-shell-'));
    if (process.env.CIPHERCARE_SHELL_APP_DIR) {
      appDir = resolve(process.env.CIPHERCARE_SHELL_APP_DIR);
    } else {
      ensureRendererBuilt();
      appDir = resolve(work, 'app');
      execFileSync(process.execPath, ['--import', 'tsx', 'scripts/build-app.ts', '--no-renderer', '--out', appDir], { stdio: 'pipe' });
      // The shell serves ../renderer next to its bundles, as in the package.
      cpSync(DIST_DIR, resolve(work, 'renderer'), { recursive: true });
    }
    browser = await launchBrowser();
    home = mkdtempSync(join(tmpdir(), 'ciphercare-shell-'));
    env = {
      // The user's environment, with variables the bundled service must not inherit.
      CIPHERCARE_API_KEYS: 'inherited-key',
      CIPHERCARE_BEHIND_PROXY: '1',
      UNRELATED_SECRET: 'inherited',
      XDG_CONFIG_HOME: join(home, 'config'),
      [STANDIN_ENV.keychainDir]: join(home, 'keychain'),
      [STANDIN_ENV.appPath]: resolve('.'),
    };
  }, 240_000);

  afterAll(async () => {
    for (const run of runs) await run.dispose();
    await browser?.close();
    rmSync(home, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  });

  it('first launch: vault, a prediction per bundled model equal to the plaintext, a cancelled run, a wrong passphrase, quit', async () => {
    const run = await launchShell({ appDir, browser, env });
    runs.push(run);
    const { win, page, screen } = await firstScreen(run);
    expect(screen).toBe('onboarding');
    expect(win.shown).toBe(true);
    // The page is the app's own origin: the preload's bridge and the sender check both accept it.
    expect(win.preload).toBe(join(appDir, 'preload.cjs'));
    await createVaultThroughUi(page);
    await continueWithBundled(page);
    // The service's utility process got only what it needs (names only: the stand-in never sees values).
    expect(run.utilities).toHaveLength(1);
    for (const key of run.utilities[0]!.envKeys) expect(['TMPDIR', 'CIPHERCARE_IPC_REPORT', 'CIPHERCARE_LOG_LEVEL', 'CIPHERCARE_API_KEYS'], key).toContain(key);

    // The page cannot navigate away or open a window: the guards of every web contents apply.
    await page.evaluate("location.href = 'https://example.invalid/elsewhere'");
    await expect.poll(() => win.navigations.length, { timeout: 15_000 }).toBe(1);
    expect(win.navigations[0]).toEqual({ url: 'https://example.invalid/elsewhere', prevented: true });
    await page.evaluate("window.open('https://example.invalid/popup', '_blank')");
    await expect.poll(() => win.popups.length, { timeout: 15_000 }).toBe(1);
    expect(win.popups[0]!.action).toBe('deny');
    await onScreen(page, 'catalog');

    // A cancelled run reaches the page as "cancelled", and nothing is shown as a failure.
    await openModel(page, 'mnist-cnn');
    await page.getByTestId('digit-sample').click();
    await page.getByTestId('run-prediction').click();
    await page.getByTestId('cancel-run').click();
    await page.locator('[data-testid="run-progress"][data-phase="cancelled"], [data-testid="error"]').first().waitFor({ timeout: 60_000 });
    expect(await shownErrorCodes(page)).toEqual([]);
    expect(await page.getByTestId('run-progress').getAttribute('data-phase')).toBe('cancelled');

    for (const id of MODELS) {
      const model = loadModelFile(id);
      await openModel(page, id);
      await page.getByTestId(model.input.kind === 'image' ? 'digit-sample' : 'fill-sample').click();
      await runAndWait(page);
      // The sample buttons fill in the model's published sample (checked in the browser tests).
      expectMatchesReference(model, await shownValues(page, model), model.testVectors[0]!.input);
    }

    // A wrong passphrase reaches the page with its code: the unlock screen says so.
    await page.getByTestId('lock').click();
    await onScreen(page, 'unlock');
    await page.getByLabel('Passphrase', { exact: true }).fill('not the passphrase at all');
    await page.getByTestId('unlock').click();
    await page.getByTestId('error').waitFor({ timeout: 30_000 });
    expect(await shownErrorCodes(page)).toEqual(['wrong_passphrase']);
    await page.getByLabel('Passphrase', { exact: true }).fill(PASSPHRASE);
    await page.getByTestId('unlock').click();
    await onScreen(page, 'catalog', 60_000);

    expect(unexpectedConsoleErrors(win.consoleErrors)).toEqual([]);
    await quitCleanly(run, win);
  }, 420_000);

  it('second launch: the OS keychain opens the vault without the passphrase; quit', async () => {
    const run = await launchShell({ appDir, browser, env });
    runs.push(run);
    const { win, screen } = await firstScreen(run);
    expect(screen).toBe('catalog');
    expect(unexpectedConsoleErrors(win.consoleErrors)).toEqual([]);
    await quitCleanly(run, win);
  }, 180_000);

  it('a page that cannot start is reported in a dialog, and the app exits with its service stopped', async () => {
    // The same build with the renderer's scripts missing (a damaged installation).
    const broken = resolve(work, 'broken');
    cpSync(appDir, join(broken, 'app'), { recursive: true });
    cpSync(resolve(appDir, '..', 'renderer'), join(broken, 'renderer'), { recursive: true, filter: (src) => !src.endsWith('.js') });
    const run = await launchShell({ appDir: join(broken, 'app'), browser, env });
    runs.push(run);
    expect(await exitWithin(run, 90_000)).toEqual({ code: 1, signal: null });
    expect(run.dialogs).toEqual([{ title: 'CipherCare could not open its window', content: expect.stringContaining('did not start') }]);
    expect(run.utilities[0]?.exit).toEqual({ code: 0, signal: null });
    expect(run.utilities[0]?.killedAtExit).toBe(false);
  }, 180_000);
});
