import fs from 'node:fs';
import type { Command } from 'commander';
import type { CatalogModel } from '../../../he-core/index.js';
import { DEFAULT_CHECK_REQUESTS, MAX_CHECK_REQUESTS, SETTING_CHECK_REQUESTS } from '../../flow/prediction-flow.js';
import type { CheckReport, RawInput, Stage } from '../../flow/prediction-flow.js';
import { CliError } from '../errors.js';
import { parseNumber } from '../../flow/csv.js';
import { describeResult, ms, resultFields, roundMs, roundTimings, trainingRangeWarning } from '../output.js';
import { StageProgress } from '../progress.js';
import type { WithContext } from '../program.js';
import { checkTrustBeforeSending, trustJson, trustText } from '../trust.js';
import { parseDeadlineSeconds } from '../context.js';

/** `--checks N`: separate check requests, 1 to MAX_CHECK_REQUESTS. */
function parseChecks(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > MAX_CHECK_REQUESTS) throw new CliError(`--checks takes a whole number from 1 to ${MAX_CHECK_REQUESTS} (got "${value}")`);
  return n;
}

/** What the checks of a passed prediction were. */
function checkLine(checks: CheckReport | undefined): string {
  if (!checks) return 'the provider answered every known-answer check correctly';
  const source = checks.source === 'fresh' ? 'fresh checks whose answers this app computed' : "the card's known answers";
  if (checks.placement === 'replicas') return `${checks.count} ${source}, inside the same ciphertext as your input`;
  return `${checks.count} ${source}, as separate requests in random order`;
}

/** `--set name=value`, repeatable. */
function collectSet(value: string, previous: Record<string, number> = {}): Record<string, number> {
  const eq = value.indexOf('=');
  if (eq <= 0) throw new CliError(`--set takes name=value (got "${value}")`);
  const name = value.slice(0, eq).trim();
  const number = parseNumber(value.slice(eq + 1));
  if (Number.isNaN(number)) throw new CliError(`--set ${name}: "${value.slice(eq + 1)}" is not a number`, undefined, name);
  if (name in previous) throw new CliError(`--set ${name} is given twice`, undefined, name);
  return { ...previous, [name]: number };
}

function flatten(value: unknown, out: number[], path: string): void {
  if (Array.isArray(value)) {
    value.forEach((v, i) => flatten(v, out, `${path}[${i}]`));
    return;
  }
  if (typeof value !== 'number') throw new CliError(`the input file: ${path} is not a number`);
  out.push(value);
}

/** `--input file.json`: `{ "name": value, … }`, or an array of values in schema order (an image: its pixels, nested rows allowed). */
export function readInputFile(file: string): RawInput {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new CliError(`cannot read the input file ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new CliError(`the input file ${file} is not valid JSON (${(err as Error).message})`);
  }
  if (Array.isArray(parsed)) {
    const values: number[] = [];
    flatten(parsed, values, 'input');
    return values;
  }
  if (parsed === null || typeof parsed !== 'object') throw new CliError(`the input file ${file} must hold an object of named values or an array of values`);
  const named: Record<string, number> = {};
  for (const [name, value] of Object.entries(parsed as Record<string, unknown>)) {
    if (typeof value !== 'number') throw new CliError(`the input file: ${name} is not a number`, undefined, name);
    named[name] = value;
  }
  return named;
}

export function assembleInput(flags: { input?: string; set?: Record<string, number> }): RawInput {
  const fromFile = flags.input !== undefined ? readInputFile(flags.input) : undefined;
  if (fromFile === undefined && flags.set === undefined) throw new CliError('give the input with --input file.json or --set name=value (one per field); `ciphercare models <id>` lists the fields');
  if (fromFile === undefined) return flags.set!;
  if (flags.set === undefined) return fromFile;
  if (Array.isArray(fromFile)) throw new CliError('--set cannot be combined with an array input file (use an object of named values)');
  return { ...(fromFile as Record<string, number>), ...flags.set };
}

const SHOWN_STAGES: Stage[] = ['keys', 'upload', 'encrypt', 'evaluate', 'decrypt'];

export function stageLine(timings: Partial<Record<Stage, number>>, total: number): string {
  return [...SHOWN_STAGES.map((s) => `${s} ${timings[s] === undefined ? (s === 'upload' ? '- (reused)' : '-') : ms(timings[s])}`), `end to end ${ms(total)}`].join(' · ');
}

export function registerPredict(program: Command, withContext: WithContext): void {
  program
    .command('predict')
    .description('one encrypted prediction: encrypt here, evaluate at the provider on ciphertexts, decrypt here')
    .requiredOption('--model <id>', 'model id (see `ciphercare models`)')
    .option('--input <file.json>', 'input values: {"name": value, …} or an array in schema order (an image: its pixel values)')
    .option('--set <name=value>', 'one input value (repeat for every field)', collectSet)
    .option('--canary', 'send known-answer checks with the request (default: on unless the provider is the service this command launched)')
    .option('--no-canary', 'send no checks')
    .option('--allow-unverified', "send even when the model has no signed card (CipherCare then cannot check the provider's answers)")
    .option('--checks <n>', `separate check requests where the model's layout has no room for checks inside the ciphertext (mnist-cnn): 1 to ${MAX_CHECK_REQUESTS} (default: the vault setting ${SETTING_CHECK_REQUESTS}, else ${DEFAULT_CHECK_REQUESTS})`, parseChecks)
    .option('--save-checks', `with --checks N: keep N as the default (the vault setting ${SETTING_CHECK_REQUESTS})`)
    .option('--deadline <seconds>', 'overall time limit of each provider call (default: scaled from the model\'s expected cost, at least 30 s; or the vault setting provider.deadline_seconds)', parseDeadlineSeconds)
    .action(
      withContext(async (ctx, flags: { model: string; input?: string; set?: Record<string, number>; canary?: boolean; checks?: number; saveChecks?: boolean; deadline?: number; allowUnverified?: boolean }) => {
        const input = assembleInput(flags);
        ctx.deadlineMs = flags.deadline;
        if (flags.saveChecks && flags.checks === undefined) throw new CliError('--save-checks needs --checks N');
        const { flow, vault } = await ctx.flow();
        if (flags.saveChecks) vault.setSetting(SETTING_CHECK_REQUESTS, String(flags.checks));
        const model: CatalogModel = await flow.model(flags.model);
        // Validate before key generation, so that a typo costs nothing.
        flow.toVector(model, input);
        // Before anything is sent: an unverified model is refused unless --allow-unverified.
        const trust = checkTrustBeforeSending(ctx, model, flags.allowUnverified);
        const progress = new StageProgress(ctx.progress, model.id);
        const started = performance.now();
        let result;
        try {
          result = await flow.predict(model.id, input, { signal: ctx.abort.signal, onStage: progress.onStage, ...(flags.canary !== undefined ? { canary: flags.canary } : {}), ...(flags.checks !== undefined ? { checks: flags.checks } : {}) });
        } finally {
          progress.stop();
        }
        const total = performance.now() - started;
        if (ctx.json) {
          ctx.out.document({
            model: result.modelId,
            version: result.modelVersion,
            provider: result.provider,
            trust: trustJson(trust),
            ...resultFields(model, result),
            values: result.values,
            ...(result.outsideTraining ? { outsideTraining: result.outsideTraining } : {}),
            ...(result.classIndex !== undefined ? { classIndex: result.classIndex } : {}),
            timings: roundTimings(result.timings),
            ms: roundMs(total),
            bytes: result.bytes,
            canary: result.canary,
            ...(result.checks ? { checks: result.checks } : {}),
            historyId: result.historyId,
            privacy: 'the provider never saw your data: it computed on ciphertexts only',
          });
          return;
        }
        ctx.out.line(`${model.title} (${model.id} ${model.version}), provider: ${result.provider}`);
        ctx.out.line(`  result   ${model.task === 'regression' ? `${model.output.labels[0]}: ` : ''}${describeResult(model, result)}`);
        const warning = trainingRangeWarning(model, result);
        if (warning) ctx.out.line(`  warning  ${warning.replace(/^Warning: /, '')}`);
        ctx.out.line(`  trust    ${trustText(trust)}`);
        ctx.out.line(`  stages   ${stageLine(result.timings, total)}`);
        ctx.out.line(`  canary   ${result.canary === 'passed' ? `passed (${checkLine(result.checks)})` : result.canary}`);
        ctx.out.line(`  saved    history entry ${result.historyId} (encrypted)`);
        ctx.out.line('The provider never saw your data: it computed on ciphertexts, and only this machine holds the key.');
      }),
    );
}
