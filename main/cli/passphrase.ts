import { createInterface } from 'node:readline';
import type { Interface } from 'node:readline';
import { Writable } from 'node:stream';
import { CliError, EXIT } from './errors.js';

/** Environment variables that carry secrets: read once at start, then removed from this process's environment. */
export const SECRET_ENV = ['CIPHERCARE_PASSPHRASE', 'CIPHERCARE_NEW_PASSPHRASE', 'CIPHERCARE_BACKUP_PASSPHRASE', 'CIPHERCARE_API_KEY'] as const;
export type SecretEnvName = (typeof SECRET_ENV)[number];
export type SecretEnv = Partial<Record<SecretEnvName, string>>;

/**
 * Takes the secret variables out of `env`, so that no child process (the bundled service is one)
 * inherits a passphrase or an API key.
 */
export function takeSecretEnv(env: NodeJS.ProcessEnv): SecretEnv {
  const out: SecretEnv = {};
  for (const name of SECRET_ENV) {
    const value = env[name];
    if (value !== undefined && value !== '') out[name] = value;
    delete env[name];
  }
  return out;
}

/** Lines of standard input, one per secret asked, for `--passphrase-stdin`. */
class StdinLines {
  private rl: Interface | undefined;
  private readonly queue: string[] = [];
  private waiter: ((line: string | undefined) => void) | undefined;
  private ended = false;

  next(): Promise<string | undefined> {
    if (!this.rl) {
      this.rl = createInterface({ input: process.stdin, terminal: false, crlfDelay: Infinity });
      this.rl.on('line', (line) => {
        if (this.waiter) {
          const w = this.waiter;
          this.waiter = undefined;
          w(line);
        } else this.queue.push(line);
      });
      this.rl.on('close', () => {
        this.ended = true;
        this.waiter?.(undefined);
        this.waiter = undefined;
      });
    }
    const queued = this.queue.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.ended) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      this.waiter = resolve;
    });
  }

  close(): void {
    if (!this.rl) return;
    this.rl.close();
    this.rl = undefined;
    this.queue.length = 0;
    process.stdin.destroy();
  }
}

/** Asks on the terminal without echo (the prompt goes to stderr, so stdout stays clean for --json). */
export function promptHidden(question: string): Promise<string> {
  const output = process.stderr;
  let muted = false;
  const sink = new Writable({
    write(chunk: Buffer | string, _encoding, callback) {
      if (!muted) output.write(chunk);
      callback();
    },
  });
  const rl = createInterface({ input: process.stdin, output: sink, terminal: true });
  return new Promise((resolve, reject) => {
    let outcome: { answer: string } | { error: CliError } = { error: new CliError('no passphrase was entered') };
    rl.on('SIGINT', () => {
      outcome = { error: new CliError('cancelled', EXIT.cancelled) };
      rl.close();
    });
    rl.on('close', () => {
      output.write('\n');
      if ('answer' in outcome) resolve(outcome.answer);
      else reject(outcome.error);
    });
    rl.question(question, (answer) => {
      outcome = { answer };
      rl.close();
    });
    muted = true;
  });
}

export interface SecretRequest {
  /** The environment variable that may carry it. */
  env: SecretEnvName;
  /** What to call it in prompts and errors, e.g. "passphrase", "new passphrase". */
  what: string;
  /** Ask twice on a terminal (a new secret that a typo would lock away). */
  confirm?: boolean;
  /** Refuse a new secret shorter than this. */
  minLength?: number;
}

export const MIN_NEW_PASSPHRASE = 8;

/**
 * Where secrets come from, in this order: the environment variable, the next line of stdin (with
 * `--passphrase-stdin`), an interactive prompt without echo. Nothing here is ever logged.
 */
export class SecretSource {
  private stdin: StdinLines | undefined;

  constructor(
    private readonly env: SecretEnv,
    private readonly useStdin: boolean,
  ) {}

  get interactive(): boolean {
    return !this.useStdin && process.stdin.isTTY === true && process.stderr.isTTY === true;
  }

  /** True when the secret comes from the environment (no second chance is possible). */
  fromEnv(name: SecretEnvName): boolean {
    return this.env[name] !== undefined;
  }

  async get(request: SecretRequest): Promise<string> {
    const value = await this.read(request);
    if (value.length === 0) throw new CliError(`the ${request.what} is empty`);
    if (request.minLength !== undefined && value.length < request.minLength) {
      throw new CliError(`the ${request.what} must have at least ${request.minLength} characters`);
    }
    return value;
  }

  private async read(request: SecretRequest): Promise<string> {
    const fromEnv = this.env[request.env];
    if (fromEnv !== undefined) return fromEnv;
    if (this.useStdin) {
      this.stdin ??= new StdinLines();
      const line = await this.stdin.next();
      if (line === undefined) throw new CliError(`--passphrase-stdin: standard input ended before the ${request.what} (one line per secret)`);
      return line.replace(/\r$/, '');
    }
    if (!this.interactive) {
      throw new CliError(`no ${request.what}: set ${request.env}, pass --passphrase-stdin, or run in a terminal`);
    }
    const first = await promptHidden(`${request.what[0]!.toUpperCase()}${request.what.slice(1)}: `);
    if (request.confirm) {
      const again = await promptHidden(`Repeat the ${request.what}: `);
      if (again !== first) throw new CliError(`the two ${request.what} entries differ`);
    }
    return first;
  }

  close(): void {
    this.stdin?.close();
    this.stdin = undefined;
  }
}
