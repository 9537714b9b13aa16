import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, rmdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import type { Browser, Page } from 'playwright-core';
import { parseModel, postprocess, referenceForward, roundTo } from '../../he-core/index.js';
import type { ModelFile } from '../../he-core/index.js';
import { AppCore } from '../../main/app/app-core.js';
import { toBridgeError } from '../../main/app/bridge-errors.js';
import type { AppCoreOptions } from '../../main/app/app-core.js';
import { SCRYPT_FLOOR } from '../../main/vault/index.js';
import { DIST_DIR, startBridgeServer } from './bridge/server.js';
import type { BridgeServer } from './bridge/server.js';

/** Helpers of the browser end-to-end tests: build once, start core + bridge + Chromium, screenshots, references. */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const SCREENSHOTS = join(ROOT, 'test-results', 'e2e');
export const CHROMIUM = process.env.CIPHERCARE_CHROMIUM ?? '/usr/bin/chromium';
export const PASSPHRASE = 'quiet harbour lantern 42 violet';

function newestMtime(path: string): number {
  const s = statSync(path);
  if (!s.isDirectory()) return s.mtimeMs;
  return readdirSync(path).reduce((max, name) => Math.max(max, newestMtime(join(path, name))), s.mtimeMs);
}

function rendererIsFresh(): boolean {
  const index = join(DIST_DIR, 'index.html');
  if (!existsSync(index)) return false;
  const sources = Math.max(newestMtime(join(ROOT, 'renderer')), statSync(join(ROOT, 'vite.config.ts')).mtimeMs, statSync(join(ROOT, 'preload', 'contract.ts')).mtimeMs);
  return statSync(index).mtimeMs >= sources;
}

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Builds the renderer when dist/renderer is missing or older than its sources. Test files run in
 * parallel workers, so a lock directory makes one of them build while the others wait.
 */
export function ensureRendererBuilt(): void {
  if (rendererIsFresh()) return;
  mkdirSync(join(ROOT, 'dist'), { recursive: true });
  const lock = join(ROOT, 'dist', '.renderer-build.lock');
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      // Another worker builds; a lock older than two minutes is a crashed build.
      try {
        if (Date.now() - statSync(lock).mtimeMs > 120_000) rmdirSync(lock);
      } catch {
        // It went away meanwhile.
      }
      if (Date.now() > deadline) throw new Error('timed out waiting for the renderer build lock');
      sleep(250);
    }
  }
  try {
    if (!rendererIsFresh()) {
      // vitest sets NODE_ENV=test, which would give a development React build.
      execFileSync(process.execPath, [join(ROOT, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--logLevel', 'warn'], { cwd: ROOT, stdio: 'inherit', env: { ...process.env, NODE_ENV: 'production' } });
    }
  } finally {
    rmdirSync(lock);
  }
}

export interface E2eApp {
  core: AppCore;
  server: BridgeServer;
  browser: Browser;
  page: Page;
  dataDir: string;
  /** Browser console errors and CSP violations seen so far (see `unexpectedConsoleErrors`). */
  consoleErrors: string[];
  close(): Promise<void>;
}

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-dev-shm-usage'] });
}

/** The real client core (fast test KDF, real bundled service), the bridge server, and a Chromium page on it. */
export async function startApp(options: Partial<AppCoreOptions> & { keepDataDir?: boolean } = {}): Promise<E2eApp> {
  ensureRendererBuilt();
  const { keepDataDir, ...coreOptions } = options;
  const dataDir = coreOptions.dataDir ?? mkdtempSync(join(tmpdir(), 'ciphercare-e2e-'));
  const core = new AppCore({ kdf: SCRYPT_FLOOR, bundled: { workers: 2 }, ...coreOptions, dataDir });
  const server = await startBridgeServer({ api: core.api, toBridgeError });
  const browser = await launchBrowser();
  const context = await browser.newContext({ viewport: { width: 1200, height: 900 }, acceptDownloads: true });
  const page = await context.newPage();
  const consoleErrors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => consoleErrors.push(e.message));
  await page.goto(server.url);
  return {
    core,
    server,
    browser,
    page,
    dataDir,
    consoleErrors,
    close: async () => {
      await browser.close().catch(() => undefined);
      await server.close();
      await core.close();
      if (!keepDataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const path = join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true, animations: 'disabled' });
  return path;
}

/** Onboarding through the UI: the passphrase, its confirmation, create; lands on the provider step. */
export async function createVaultThroughUi(page: Page, passphrase = PASSPHRASE): Promise<void> {
  await page.getByLabel('Passphrase', { exact: true }).fill(passphrase);
  await page.getByLabel('Repeat the passphrase').fill(passphrase);
  await page.getByTestId('create-vault').click();
  await page.locator('[data-screen="provider"]').waitFor();
}

/** From the provider step (bundled is the default), on to the model catalog. */
export async function continueWithBundled(page: Page): Promise<void> {
  await page.getByLabel(/Bundled, offline/).check();
  await page.getByTestId('provider-save').click();
  await page.locator('[data-screen="catalog"]').waitFor({ timeout: 90_000 });
}

export function loadModelFile(id: string): ModelFile {
  return parseModel(readFileSync(join(ROOT, 'assets', 'models', `${id}.json`), 'utf8'));
}

/** The plaintext reference of what the UI shows: forward pass, post-processing, rounding to the model's precision. */
export function reference(model: ModelFile, input: readonly number[]): { values: number[]; unrounded: number[]; classIndex?: number } {
  const p = postprocess(model.postprocess, referenceForward(model, input));
  const out: { values: number[]; unrounded: number[]; classIndex?: number } = { values: p.values.map((v) => roundTo(v, model.output.precision)), unrounded: [...p.values] };
  if (p.classIndex !== undefined) out.classIndex = p.classIndex;
  return out;
}

/** Model input in schema order from a stored history input (named features, or `{ pixels }`). */
export function inputFromHistory(model: ModelFile, stored: unknown): number[] {
  const named = stored as Record<string, unknown>;
  if (Array.isArray(named.pixels)) return named.pixels as number[];
  if (model.input.kind !== 'features') throw new Error('image history entry without pixels');
  return model.input.features.map((f) => {
    const v = named[f.name];
    if (typeof v !== 'number') throw new Error(`history input has no ${f.name}`);
    return v;
  });
}

/**
 * Console errors that point at a real problem. Chromium logs that `frame-ancestors` is ignored in
 * a <meta> CSP (it only works as a header, which the Electron shell sets); failed RPCs that the UI
 * reports on purpose are not console errors at all.
 */
export function unexpectedConsoleErrors(errors: string[]): string[] {
  return errors.filter((e) => !e.includes("'frame-ancestors' is ignored"));
}

/** Waits for the screen with this `data-screen` name. */
export async function onScreen(page: Page, name: string, timeout = 60_000): Promise<void> {
  await page.locator(`[data-screen="${name}"]`).waitFor({ timeout });
}

/** Opens a main screen from the navigation bar. */
export async function navigate(page: Page, name: 'models' | 'history' | 'batch' | 'provider' | 'security'): Promise<void> {
  await page.locator(`nav [data-nav="${name}"]`).click();
  await onScreen(page, name === 'models' ? 'catalog' : name);
}
