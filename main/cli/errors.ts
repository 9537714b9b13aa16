import { CommanderError } from 'commander';
import { HeError } from '../../he-core/index.js';
import { FlowError } from '../flow/errors.js';
import { ProviderError } from '../provider/errors.js';
import { VaultError } from '../vault/index.js';

/** Exit codes of the CLI (docs/cli.md). */
export const EXIT = { ok: 0, failure: 1, usage: 2, cancelled: 130 } as const;

/** An error of the command line itself: a bad option, an unreadable input file, a missing passphrase. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.usage,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export interface DescribedError {
  /** One line, without the "ciphercare: " prefix; never a secret or a decrypted value. */
  message: string;
  exitCode: number;
  /** False for a bug: the caller may offer the stack trace (CIPHERCARE_DEBUG=1). */
  expected: boolean;
}

const FLOW_USAGE = new Set(['model_not_found', 'input_invalid', 'input_out_of_range', 'csv_invalid']);
const HE_USAGE = new Set(['input_invalid', 'input_out_of_range', 'model_invalid', 'model_unsupported']);

function withField(message: string, field: string | undefined): string {
  const line = message.replace(/\s*\n\s*/g, ' ').trim();
  return field && !line.includes(field) ? `${line} (field: ${field})` : line;
}

/** Maps every expected error to one clear line and an exit code: 2 for usage and input, 1 otherwise. */
export function describeError(err: unknown): DescribedError {
  if (err instanceof CliError) return { message: withField(err.message, err.field), exitCode: err.exitCode, expected: true };
  if (err instanceof FlowError) {
    const exitCode = err.code === 'cancelled' ? EXIT.cancelled : FLOW_USAGE.has(err.code) ? EXIT.usage : EXIT.failure;
    // The pins can be reset only from the command line: say how, once the publisher has confirmed.
    const hint = err.code === 'card_publisher_changed' || err.code === 'card_changed' ? ' `ciphercare trust list` shows the pins; once the publisher confirms the change, `ciphercare trust forget <model-id|provider-url>` lets the next use pin it.' : '';
    return { message: withField(err.message, err.field) + hint, exitCode, expected: true };
  }
  if (err instanceof ProviderError) {
    return { message: err.message, exitCode: err.code === 'cancelled' ? EXIT.cancelled : EXIT.failure, expected: true };
  }
  if (err instanceof VaultError) {
    const hint = err.code === 'vault_not_found' ? ' Run `ciphercare init` first, or pass --data-dir.' : err.code === 'changes_lost' ? ' To go on without them, run the command again with --accept-lost-changes.' : '';
    return { message: withField(err.message, undefined) + hint, exitCode: err.code === 'invalid_argument' ? EXIT.usage : EXIT.failure, expected: true };
  }
  if (err instanceof HeError) {
    const field = typeof err.details?.field === 'string' ? err.details.field : undefined;
    return { message: withField(err.message, field), exitCode: HE_USAGE.has(err.code) ? EXIT.usage : EXIT.failure, expected: true };
  }
  if (err instanceof CommanderError) {
    // commander has already printed its own message (prefixed "error:"); only the code is left.
    return { message: '', exitCode: err.exitCode === 0 ? EXIT.ok : EXIT.usage, expected: true };
  }
  const message = err instanceof Error ? err.message : String(err);
  return { message: `unexpected error: ${message}`, exitCode: EXIT.failure, expected: false };
}
