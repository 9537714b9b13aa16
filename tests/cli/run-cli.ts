import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseModel, postprocess, referenceForward, roundTo } from '../../he-core/index.js';
import type { FeatureSpec, ModelFile } from '../../he-core/index.js';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const PASSPHRASE = 'correct horse battery staple';

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI as a process, as a person or a script would: `node --import tsx main/cli/index.ts …`. */
export function runCli(args: readonly string[], options: { env?: Record<string, string>; input?: string; timeoutMs?: number } = {}): Promise<CliRun> {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('CIPHERCARE_')));
  const child = spawn(process.execPath, ['--import', 'tsx', 'main/cli/index.ts', ...args], {
    cwd: REPO_ROOT,
    env: { ...inherited, ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  child.stdin.end(options.input ?? '');
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 90_000);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `ciphercare-cli-${prefix}-`));
}

export function bundledModel(id: string): ModelFile {
  return parseModel(readFileSync(join(REPO_ROOT, 'assets', 'models', `${id}.json`), 'utf8'));
}

export function features(model: ModelFile): FeatureSpec[] {
  return model.input.kind === 'features' ? model.input.features : [];
}

/** What the client must show: the plaintext reference, post-processed and rounded to the model's precision. */
export function shownReference(model: ModelFile, x: readonly number[]): number[] {
  return postprocess(model.postprocess, referenceForward(model, x)).values.map((v) => roundTo(v, model.output.precision));
}
