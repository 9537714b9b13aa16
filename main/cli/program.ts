import { Command, CommanderError, Option } from 'commander';
import { registerBatch } from './commands/batch.js';
import { registerDemo } from './commands/demo.js';
import { registerHistory } from './commands/history.js';
import { registerInit } from './commands/init.js';
import { registerKeys } from './commands/keys.js';
import { registerModels } from './commands/models.js';
import { registerPassphrase } from './commands/passphrase.js';
import { registerPredict } from './commands/predict.js';
import { registerService, runService } from './commands/service.js';
import { registerTrust } from './commands/trust.js';
import { CliContext } from './context.js';
import type { GlobalOptions } from './context.js';
import { EXIT, describeError } from './errors.js';
import { takeSecretEnv } from './passphrase.js';
import type { SecretEnv } from './passphrase.js';

/** Runs one command with a context made from the global options, and always closes it. */
export type WithContext = <A extends unknown[]>(action: (ctx: CliContext, ...args: A) => Promise<number | void>) => (...args: A) => Promise<void>;

const VERSION = '0.1.0';

/** Global options that take a value: skipped when looking for the command name. */
const GLOBAL_WITH_VALUE = new Set(['--provider', '--api-key', '--data-dir']);

/** The first command word of `args`, past the global options, and where it is. */
function commandWord(args: readonly string[]): { word: string | undefined; index: number } {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') return { word: args[i + 1], index: i + 1 };
    if (!a.startsWith('-')) return { word: a, index: i };
    if (GLOBAL_WITH_VALUE.has(a)) i++;
  }
  return { word: undefined, index: -1 };
}

export function buildProgram(secretEnv: SecretEnv, state: { exitCode: number; context?: CliContext }): Command {
  const program = new Command('ciphercare')
    .description('CipherCare: private medical-style predictions with CKKS homomorphic encryption.\nYour inputs are encrypted on this machine; the evaluation service computes on ciphertexts only.')
    .version(VERSION, '-V, --version')
    .option('--provider <bundled|url>', 'evaluation service: "bundled" (launched for this command) or a URL (https for a remote provider; http://127.0.0.1:PORT for a running local service)', 'bundled')
    .option('--api-key <key>', 'API key of the provider, or the bearer token of a local service (also CIPHERCARE_API_KEY)')
    .option('--data-dir <dir>', 'folder of the encrypted vault (default: the platform app-data folder for CipherCare)')
    .option('--json', 'print one JSON document on stdout instead of text')
    .option('--passphrase-stdin', 'read secrets from standard input, one line each, in the order they are asked')
    .option('--accept-lost-changes', 'open a vault that lost its latest committed changes (reported as such) instead of refusing it; the rest is kept')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({
      outputError: (text, write) => write(`ciphercare: ${text.replace(/^error: /, '')}`),
    });

  const withContext: WithContext =
    (action) =>
    async (...args) => {
      const ctx = new CliContext(program.opts<GlobalOptions>(), secretEnv);
      state.context = ctx;
      try {
        const code = await action(ctx, ...args);
        if (typeof code === 'number') state.exitCode = code;
      } finally {
        await ctx.close();
        state.context = undefined;
      }
    };

  registerInit(program, withContext);
  registerModels(program, withContext);
  registerPredict(program, withContext);
  registerBatch(program, withContext);
  registerHistory(program, withContext);
  registerKeys(program, withContext);
  registerPassphrase(program, withContext);
  registerTrust(program, withContext);
  registerService(program);
  registerDemo(program, withContext);
  program.addOption(new Option('--no-progress', 'never draw progress bars').hideHelp());
  return program;
}

/** The CLI: parses `args` (without node and the script), runs the command, returns the exit code. */
export async function run(args: readonly string[]): Promise<number> {
  const secretEnv = takeSecretEnv(process.env);
  // `service` forwards its arguments untouched to the evaluation service (which has its own --api-key).
  const { word, index } = commandWord(args);
  if (word === 'service') return runService(args.slice(index + 1));

  const state: { exitCode: number; context?: CliContext } = { exitCode: EXIT.ok };
  const program = buildProgram(secretEnv, state);
  if (args.includes('--no-progress')) process.env.CIPHERCARE_NO_PROGRESS = '1';
  let interrupted = 0;
  const onSigint = (): void => {
    interrupted++;
    if (interrupted > 1) process.exit(EXIT.cancelled);
    process.stderr.write('\nciphercare: cancelling (Ctrl+C again to quit at once)\n');
    state.context?.abort.abort();
  };
  process.on('SIGINT', onSigint);
  try {
    await program.parseAsync([...args], { from: 'user' });
    return interrupted > 0 ? EXIT.cancelled : state.exitCode;
  } catch (err) {
    if (err instanceof CommanderError && (err.code === 'commander.helpDisplayed' || err.code === 'commander.version')) return EXIT.ok;
    const described = describeError(err);
    if (described.message) process.stderr.write(`ciphercare: ${described.message}\n`);
    if (!described.expected && process.env.CIPHERCARE_DEBUG === '1' && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
    else if (!described.expected) process.stderr.write('ciphercare: this is a bug; run with CIPHERCARE_DEBUG=1 for details\n');
    return interrupted > 0 && described.exitCode !== EXIT.usage ? EXIT.cancelled : described.exitCode;
  } finally {
    process.off('SIGINT', onSigint);
  }
}
