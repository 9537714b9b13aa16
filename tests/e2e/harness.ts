/// <reference lib="dom" />
import { execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, rmdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import type { Browser, Page } from 'playwright-core';
import type { AxeResults, RunOptions } from 'axe-core';
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

// ---- accessibility and wording checks of every screen the tests visit ------------------------

const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
/** WCAG 2.1 level A and AA, as the issue asks: nothing stricter, nothing looser. */
export const AXE_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];
/** One line per axe run (screen state, theme, violations), for the figures in the report. */
export const AXE_LOG = join(SCREENSHOTS, 'axe.jsonl');

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  targets: string[];
}

/**
 * Runs axe-core on the page as it is. axe is injected with `page.evaluate`, which runs outside the
 * page's Content-Security-Policy: the policy itself is left as strict as the app ships it.
 */
export async function axeViolations(page: Page): Promise<AxeViolation[]> {
  if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate(AXE_SOURCE);
  return page.evaluate(async (tags) => {
    const axe = (window as unknown as { axe: { run(context: Document, options: RunOptions): Promise<AxeResults> } }).axe;
    const results = await axe.run(document, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] });
    return results.violations.map((v) => ({ id: v.id, impact: v.impact ?? null, help: v.help, targets: v.nodes.map((n) => n.target.join(' ')) }));
  }, AXE_TAGS);
}

/** What no message of the app may contain: a command of the CLI or of npm, or an option flag. */
export const CLI_WORDING = /\bciphercare\s+[a-z]|\bnpm\s+(?:run|start|test|install)\b|(?:^|\s)--[a-z]|`/;

/** The visible text of the page (what a sighted user reads; closed disclosures excluded). */
export async function visibleText(page: Page): Promise<string> {
  return page.evaluate(() => document.body.innerText);
}

/**
 * Messages on the page (alerts, errors, statuses, field errors, batch row problems) that do not
 * start with a capital letter: the app writes its messages in sentence case.
 */
async function lowerCaseMessages(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const selector = '[role="alert"], [role="status"], .notice, .field-error, [data-testid="error-message"], [data-testid="batch-table"] td:nth-child(4)';
    return [...document.querySelectorAll<HTMLElement>(selector)]
      // Leading marks (⚠, ✓) do not count; a message may start with a quoted value ("“heavy” is not a number").
      .map((e) => e.innerText.replace(/^[^\p{L}\p{N}“"‘']+/u, '').trim())
      .filter((text) => text !== '' && /^\p{Ll}/u.test(text));
  });
}

async function settleStyles(page: Page): Promise<void> {
  // Theme changes fade buttons' colours for 0.15 s; axe must see the final colours.
  await page.evaluate(() => Promise.all(document.getAnimations().map((a) => a.finished.catch(() => undefined))));
}

/**
 * Checks the current screen state, then saves its screenshot: axe-core (WCAG 2.1 A/AA) in the light
 * and the dark theme (set as the header's theme toggle sets it, then restored), no CLI command in
 * the visible text, every message in sentence case. Fails with a readable list of what is wrong.
 */
export async function checkScreen(page: Page, name: string): Promise<void> {
  const original = await page.evaluate(() => document.documentElement.getAttribute('data-theme'));
  const problems: string[] = [];
  mkdirSync(SCREENSHOTS, { recursive: true });
  try {
    for (const theme of ['light', 'dark'] as const) {
      await page.evaluate((t) => document.documentElement.setAttribute('data-theme', t), theme);
      await settleStyles(page);
      const violations = await axeViolations(page);
      appendFileSync(AXE_LOG, `${JSON.stringify({ state: name, theme, violations: violations.length, ids: violations.map((v) => v.id) })}\n`);
      for (const v of violations) problems.push(`axe ${theme}: ${v.id} (${v.impact ?? 'n/a'}) ${v.help}: ${v.targets.slice(0, 5).join(' | ')}`);
    }
  } finally {
    await page.evaluate((t) => (t === null ? document.documentElement.removeAttribute('data-theme') : document.documentElement.setAttribute('data-theme', t)), original);
    await settleStyles(page);
  }
  const text = await visibleText(page);
  const cli = text.split('\n').filter((line) => CLI_WORDING.test(line));
  for (const line of cli) problems.push(`names a command: "${line.trim()}"`);
  for (const message of await lowerCaseMessages(page)) problems.push(`not in sentence case: "${message}"`);
  await screenshot(page, name);
  if (problems.length > 0) throw new Error(`screen "${name}" has ${problems.length} problem(s):\n  ${problems.join('\n  ')}`);
}

/**
 * The disclaimer of a shown result: present, visible, in normal text (not small, not muted), inside
 * the result's region, after the verdict and before any figure or table of results.
 */
export async function expectDisclaimerWithResult(page: Page, region: string, verdict: string, firstResult: string): Promise<void> {
  const report = await page.evaluate(
    ({ region, verdict, firstResult }) => {
      const root = document.querySelector<HTMLElement>(region);
      const disclaimer = root?.querySelector<HTMLElement>('[data-testid="disclaimer"]');
      const verdictEl = root?.querySelector<HTMLElement>(verdict);
      const resultEl = root?.querySelector<HTMLElement>(firstResult);
      if (!root || !disclaimer || !verdictEl || !resultEl) return { found: false } as const;
      const box = disclaimer.getBoundingClientRect();
      const style = getComputedStyle(disclaimer);
      const body = getComputedStyle(document.body);
      const follows = (a: Node, b: Node) => (a.compareDocumentPosition(b) & Node.DOCUMENT_POSITION_FOLLOWING) !== 0;
      return {
        found: true,
        visible: box.width > 0 && box.height > 0 && style.visibility === 'visible' && style.display !== 'none',
        text: disclaimer.innerText,
        fontSize: parseFloat(style.fontSize),
        bodyFontSize: parseFloat(body.fontSize),
        colour: style.color,
        textColour: body.color,
        afterVerdict: follows(verdictEl, disclaimer),
        beforeResults: follows(disclaimer, resultEl),
        gapToVerdict: box.top - verdictEl.getBoundingClientRect().bottom,
      } as const;
    },
    { region, verdict, firstResult },
  );
  if (!report.found) throw new Error(`no disclaimer, verdict (${verdict}) or result (${firstResult}) in ${region}`);
  if (!report.visible || !/not a diagnosis/i.test(report.text)) throw new Error(`the disclaimer in ${region} is not visible: ${JSON.stringify(report)}`);
  if (report.fontSize < report.bodyFontSize || report.colour !== report.textColour) throw new Error(`the disclaimer in ${region} is not in normal text: ${JSON.stringify(report)}`);
  if (!report.afterVerdict || !report.beforeResults || report.gapToVerdict > 48) throw new Error(`the disclaimer in ${region} is not next to the verdict: ${JSON.stringify(report)}`);
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
