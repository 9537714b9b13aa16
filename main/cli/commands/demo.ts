import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { parseModel, postprocess, referenceForward, roundTo } from '../../../he-core/index.js';
import type { ModelFile } from '../../../he-core/index.js';
import { ClientKeyring } from '../../flow/client-keys.js';
import { PredictionFlow } from '../../flow/prediction-flow.js';
import type { ShownResult, Stage } from '../../flow/prediction-flow.js';
import { SCRYPT_FLOOR, Vault } from '../../vault/index.js';
import { EXIT } from '../errors.js';
import { describeResult, ms, roundMs, table } from '../output.js';
import { StageProgress } from '../progress.js';
import type { WithContext } from '../program.js';

/** The public bundled model files: the demo computes its plaintext reference from their weights. */
const MODELS_DIR = fileURLToPath(new URL('../../../assets/models/', import.meta.url));

export function bundledModelFiles(dir = MODELS_DIR): ModelFile[] {
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => parseModel(fs.readFileSync(path.join(dir, f), 'utf8')));
}

/** The plaintext reference, shown as the client shows results: post-processed and rounded. */
export function referenceShown(model: ModelFile, input: readonly number[]): ShownResult {
  const p = postprocess(model.postprocess, referenceForward(model, input));
  return { values: p.values.map((v) => roundTo(v, model.output.precision)), ...(p.classIndex !== undefined ? { classIndex: p.classIndex } : {}) };
}

/**
 * Agreement of the decrypted result with the reference: the same class (if any), and every value
 * within one unit of the last shown decimal (CKKS noise can tip a value sitting on a rounding edge).
 */
export function agrees(model: ModelFile, encrypted: ShownResult, plaintext: ShownResult): boolean {
  const unit = 10 ** -model.output.precision;
  if (encrypted.classIndex !== plaintext.classIndex) return false;
  return encrypted.values.length === plaintext.values.length && encrypted.values.every((v, i) => Math.abs(v - plaintext.values[i]!) <= unit * (1 + 1e-9));
}

const DEMO_STAGES = ['keys', 'upload', 'encrypt', 'evaluate', 'decrypt'] as const satisfies readonly Stage[];

interface DemoRow {
  model: string;
  encrypted: number[];
  plaintext: number[];
  agree: boolean;
  ms: number;
  encryptedText: string;
  plaintextText: string;
  stages: Record<(typeof DEMO_STAGES)[number], number>;
  bytes: { keys: number; up: number; down: number };
}

export function registerDemo(program: Command, withContext: WithContext): void {
  program
    .command('demo')
    .description('one sample per bundled model through the whole encrypted flow, in a temporary vault, compared with the plaintext reference')
    .action(
      withContext(async (ctx) => {
        const models = bundledModelFiles();
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ciphercare-demo-'));
        let vault: Vault | undefined;
        let keyring: ClientKeyring | undefined;
        const rows: DemoRow[] = [];
        try {
          const providerPromise = ctx.provider();
          providerPromise.catch(() => undefined);
          // A throwaway vault: random passphrase (never shown), scrypt at its floor since it lives for seconds.
          vault = await Vault.create(dir, randomBytes(24).toString('base64url'), { kdf: SCRYPT_FLOOR });
          keyring = new ClientKeyring(vault);
          const flow = new PredictionFlow(vault, keyring, await providerPromise, ctx.providerLabel, { selfLaunched: ctx.providerTarget().kind === 'launch' });
          for (const model of models) {
            const input = model.testVectors[0]!.input;
            const progress = new StageProgress(ctx.progress, model.id);
            const started = performance.now();
            let result;
            try {
              result = await flow.predict(model.id, input, { signal: ctx.abort.signal, onStage: progress.onStage });
            } finally {
              progress.stop();
            }
            const total = performance.now() - started;
            const plaintext = referenceShown(model, input);
            rows.push({
              model: model.id,
              encrypted: result.values,
              plaintext: plaintext.values,
              agree: agrees(model, result, plaintext),
              ms: roundMs(total),
              encryptedText: describeResult(model, result),
              plaintextText: describeResult(model, { ...plaintext, ...labelOf(model, plaintext) }),
              stages: Object.fromEntries(DEMO_STAGES.map((s) => [s, roundMs(result.timings[s] ?? 0)])) as DemoRow['stages'],
              bytes: result.bytes,
            });
          }
        } finally {
          keyring?.dispose();
          vault?.wipe();
          fs.rmSync(dir, { recursive: true, force: true });
        }
        const allAgree = rows.every((r) => r.agree);
        if (ctx.json) ctx.out.document(rows);
        else {
          ctx.out.line(
            table(
              ['model', 'encrypted result', 'plaintext reference', 'agree', ...DEMO_STAGES, 'end to end'],
              rows.map((r) => [r.model, r.encryptedText, r.plaintextText, r.agree ? 'yes' : 'NO', ...DEMO_STAGES.map((s) => ms(r.stages[s])), ms(r.ms)]),
              [4, 5, 6, 7, 8, 9],
            ),
          );
          ctx.out.line('');
          ctx.out.line('Each input was encrypted here; the evaluation service computed on ciphertexts with evaluation keys only, and the');
          ctx.out.line('secret key never left this process. The plaintext reference is the same public model run in the clear on this machine.');
          if (!allAgree) ctx.out.line('Some results DISAGREE with the plaintext reference.');
        }
        return allAgree ? EXIT.ok : EXIT.failure;
      }),
    );
}

function labelOf(model: ModelFile, shown: ShownResult): { label?: string } {
  if (shown.classIndex === undefined) return {};
  if (model.task === 'binary-classification') return { label: shown.classIndex === 1 ? model.output.labels[0]! : (model.output.negativeLabel ?? `not ${model.output.labels[0]}`) };
  return { label: model.output.labels[shown.classIndex]! };
}
