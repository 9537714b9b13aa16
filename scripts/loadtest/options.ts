// `npm run loadtest` options. A run measures and prints; it writes its section of the committed
// docs/reliability.md only with --write-docs, so that running the tool leaves the tree clean.
import { parseArgs } from 'node:util';

const MAX_CLIENTS = 256;
const MAX_SECONDS = 3_600;

export interface LoadtestOptions {
  clients: number;
  seconds: number;
  model: string;
  workers: number | undefined;
  maxQueue: number | undefined;
  /** Seconds after the start when running requests are cut. */
  hardStopS: number;
  json: string | undefined;
  /** Whether this run writes its section into docs/reliability.md. */
  writeDocs: boolean;
  /** The command line without the output options: it names the run's section in the docs. */
  command: string;
  /** `--redis URL|local`: 2 fronts and 2 worker processes on that Redis instead of the bundled service (docs/deploy.md). */
  redis: string | undefined;
  /** With --redis: seconds into the load when one worker is SIGKILLed and a new one started (default: a third of --seconds). */
  killWorkerAt: number | undefined;
}

function positiveInt(name: string, text: string | undefined, max: number): number | undefined {
  if (text === undefined) return undefined;
  const v = Number(text);
  if (!Number.isInteger(v) || v < 1 || v > max) throw new Error(`--${name} takes an integer from 1 to ${max}`);
  return v;
}

/** The command line without the output options (--json, --write-docs, --no-docs). */
function runCommand(argv: readonly string[]): string {
  const kept: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--no-docs' || a === '--write-docs') continue;
    if (a === '--json') {
      i++;
      continue;
    }
    if (a.startsWith('--json=')) continue;
    kept.push(a);
  }
  return `npm run loadtest -- ${kept.join(' ')}`.trim();
}

/** Parses the command line after `npm run loadtest --`; throws on anything unknown or malformed. */
export function parseLoadtestOptions(argv: readonly string[]): LoadtestOptions {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      clients: { type: 'string', default: '16' },
      seconds: { type: 'string', default: '300' },
      model: { type: 'string', default: 'breast-cancer-mlp' },
      workers: { type: 'string' },
      'max-queue': { type: 'string' },
      'hard-stop': { type: 'string', default: '60' },
      json: { type: 'string' },
      'write-docs': { type: 'boolean', default: false },
      // Accepted for older command lines: not writing the docs is now the default.
      'no-docs': { type: 'boolean', default: false },
      redis: { type: 'string' },
      'kill-worker-at': { type: 'string' },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values['write-docs'] && values['no-docs']) throw new Error('--write-docs and --no-docs contradict each other');
  const seconds = positiveInt('seconds', values.seconds, MAX_SECONDS)!;
  if (values.redis !== undefined && values['write-docs']) throw new Error("--write-docs writes the embedded service's section of docs/reliability.md; a --redis run is reported in docs/deploy.md");
  if (values['kill-worker-at'] !== undefined && values.redis === undefined) throw new Error('--kill-worker-at needs --redis');
  return {
    clients: positiveInt('clients', values.clients, MAX_CLIENTS)!,
    seconds,
    model: values.model,
    workers: positiveInt('workers', values.workers, 64),
    maxQueue: positiveInt('max-queue', values['max-queue'], 10_000),
    hardStopS: seconds + positiveInt('hard-stop', values['hard-stop'], 600)!,
    json: values.json,
    writeDocs: values['write-docs'],
    command: runCommand(argv),
    redis: values.redis,
    killWorkerAt: positiveInt('kill-worker-at', values['kill-worker-at'], MAX_SECONDS),
  };
}
