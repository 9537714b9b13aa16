import { generateKeyPairSync } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import {
  HeError,
  cardFromModel,
  compile,
  formatFingerprint,
  loadSeal,
  modelDepartures,
  parseFingerprint,
  parseModel,
  privateKeyFromPem,
  publisherFingerprint,
  rawPublicKey,
  signCard,
  verifySignedCard,
} from '../../he-core/index.js';
import type { ModelFile, PlanMode, PublicPlan } from '../../he-core/index.js';
import { ImportError } from './onnx/errors.js';
import { importOnnx } from './onnx/import.js';

/** An expected failure of the tool: one line on stderr, exit 1 (2 for usage). */
export class ToolError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'ToolError';
  }
}

function readText(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new ToolError(`cannot read ${what} ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`, 2);
  }
}

function readJson(file: string, what: string): unknown {
  try {
    return JSON.parse(readText(file, what)) as unknown;
  } catch (err) {
    if (err instanceof ToolError) throw err;
    throw new ToolError(`${what} ${file} is not valid JSON (${(err as Error).message})`, 2);
  }
}

/** The public plans of a model file, compiled exactly as the service compiles them. */
export async function publicPlans(model: ModelFile): Promise<Record<PlanMode, PublicPlan>> {
  const { seal } = await loadSeal();
  return { single: compile(seal, model, { mode: 'single' }).public, batch: compile(seal, model, { mode: 'batch' }).public };
}

function keygen(out: string, force: boolean, log: (line: string) => void): void {
  if (existsSync(out) && !force) throw new ToolError(`${out} exists; pass --force to replace it (the old key's cards stop verifying against a new key)`, 2);
  const { privateKey } = generateKeyPairSync('ed25519');
  const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  // 0600 from the first byte: the private key is never readable by others, never printed.
  writeFileSync(out, pem, { mode: 0o600 });
  const publicKey = Buffer.from(rawPublicKey(privateKey)).toString('base64');
  writeFileSync(`${out}.pub`, `${publicKey}\n`, { mode: 0o644 });
  log(`private key: ${out} (mode 0600; keep it offline, never commit it)`);
  log(`public key:  ${out}.pub  ${publicKey}`);
  log(`fingerprint: ${formatFingerprint(publisherFingerprint(publicKey))}`);
}

async function sign(modelFile: string, keyFile: string, out: string, log: (line: string) => void): Promise<void> {
  const model = parseModel(readText(modelFile, 'the model file'));
  const key = privateKeyFromPem(readText(keyFile, 'the key file'));
  const signed = signCard(cardFromModel(model, await publicPlans(model)), key);
  writeFileSync(out, `${JSON.stringify(signed, null, 2)}\n`);
  log(`signed ${model.id} ${model.version} -> ${out}`);
  log(`publisher fingerprint: ${formatFingerprint(publisherFingerprint(signed.publicKey))}`);
}

async function verify(cardFile: string, options: { model?: string; publisher?: string }, log: (line: string) => void): Promise<void> {
  const wanted = options.publisher === undefined ? undefined : parseFingerprint(options.publisher);
  if (options.publisher !== undefined && wanted === undefined) throw new ToolError('--publisher takes a fingerprint of 64 hex digits (spaces allowed)', 2);
  const verified = verifySignedCard(readJson(cardFile, 'the card'));
  if (wanted !== undefined && verified.fingerprint !== wanted) {
    throw new ToolError(`${cardFile} is signed by publisher ${formatFingerprint(verified.fingerprint)}, not by ${formatFingerprint(wanted)}: refused`);
  }
  if (options.model !== undefined) {
    const model = parseModel(readText(options.model, 'the model file'));
    const departures = modelDepartures(verified.card, model, await publicPlans(model));
    if (departures.length > 0) {
      throw new ToolError(`${cardFile} is not the card of ${options.model}: ${departures.join(', ')} differ. Re-sign it: npm run models -- sign ${options.model} --key KEYFILE --out ${cardFile}`);
    }
  }
  log(`${cardFile}: signature valid; ${verified.card.id} ${verified.card.version}`);
  log(`publisher fingerprint: ${formatFingerprint(verified.fingerprint)}${wanted ? ' (as expected)' : ''}`);
  if (options.model !== undefined) log(`matches ${options.model} (weights commitment, test vectors, schema, plan parameters)`);
}

export function buildModelsProgram(log: (line: string) => void): Command {
  const program = new Command('models')
    .description('signed model cards: keys, signing and verification for model publishers; importing ONNX models')
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(`models: ${text.replace(/^error: /, '')}`) });
  program
    .command('keygen')
    .description('a new Ed25519 publisher key pair: the private key (PKCS#8 PEM, mode 0600) and KEYFILE.pub')
    .requiredOption('--out <keyfile>', 'where to write the private key')
    .option('--force', 'replace an existing key file')
    .action((flags: { out: string; force?: boolean }) => keygen(flags.out, flags.force === true, log));
  program
    .command('sign')
    .description("sign a model's card with a publisher key")
    .argument('<model.json>', 'the model file')
    .requiredOption('--key <keyfile>', 'the private key (from keygen)')
    .requiredOption('--out <card.json>', 'where to write the signed card')
    .action((modelFile: string, flags: { key: string; out: string }) => sign(modelFile, flags.key, flags.out, log));
  program
    .command('verify')
    .description("verify a signed card's signature; optionally that it is the card of a model file and of a given publisher")
    .argument('<card.json>', 'the signed card')
    .option('--model <model.json>', 'check the card against this model file')
    .option('--publisher <fingerprint>', "require this publisher's fingerprint")
    .action((cardFile: string, flags: { model?: string; publisher?: string }) => verify(cardFile, flags, log));
  program
    .command('import')
    .description('import a model exported to ONNX: map it onto the model format, compile it, verify it encrypted against onnxruntime, write DIR/ID.json and its card (docs/providers.md)')
    .argument('<model.onnx>', 'the ONNX export')
    .requiredOption('--calibration <calib.csv>', 'a header row of input names, one input per row: sets the ranges, the value bounds and the verification rows')
    .requiredOption('--out <dir>', 'the models directory to write into (as served by npm run service -- --models DIR)')
    .option('--card <card.json>', 'the card source (labels, units, ranges, metrics); without it a draft is written to DIR/drafts/ID.card.json')
    .option('--id <id>', 'the model id of a draft card (default: from the file name)')
    .option('--key <keyfile>', 'also sign the card with this publisher key into DIR/cards/ID.card.json')
    .option('--approximate <op:polyD:[a,b]...>', 'replace ReLU or Sigmoid inside the network by a fitted polynomial, e.g. relu:poly2:[-4,4]', (v: string, prev: string[] = []) => [...prev, v])
    .option('--verify <rows>', 'calibration rows verified encrypted against onnxruntime (0: skip)', (v) => Number.parseInt(v, 10), 200)
    .action(async (onnx: string, flags: { calibration: string; out: string; card?: string; id?: string; key?: string; approximate?: string[]; verify: number }) => {
      if (!Number.isInteger(flags.verify) || flags.verify < 0) throw new ToolError('--verify takes a number of rows (0 to skip)', 2);
      await importOnnx(
        {
          onnx,
          calibration: flags.calibration,
          out: flags.out,
          approximate: flags.approximate ?? [],
          verifyRows: flags.verify,
          ...(flags.card ? { card: flags.card } : {}),
          ...(flags.id ? { id: flags.id } : {}),
          ...(flags.key ? { key: flags.key } : {}),
        },
        log,
      );
    });
  return program;
}

/** Runs the tool; returns the exit code. Errors are one line on stderr, never a key. */
export async function runModelsTool(args: readonly string[], log: (line: string) => void = (l) => console.log(l)): Promise<number> {
  try {
    await buildModelsProgram(log).parseAsync([...args], { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.exitCode === 0 ? 0 : 2;
    if (err instanceof ToolError || err instanceof ImportError) {
      process.stderr.write(`models: ${err.message}\n`);
      return err.exitCode;
    }
    if (err instanceof HeError) {
      process.stderr.write(`models: ${err.message}\n`);
      return err.code === 'model_invalid' ? 2 : 1;
    }
    process.stderr.write(`models: unexpected error: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}
