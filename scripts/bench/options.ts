// `npm run bench` options. A run measures and prints; it writes the committed docs
// (docs/benchmarks.md) only with --write-docs, so that running the tool leaves the tree clean.
import { parseArgs } from 'node:util';

export interface BenchOptions {
  quick: boolean;
  json: string | undefined;
  workers: number;
  runs: number;
  scalingModel: string;
  scalingPredictions: number | undefined;
  /** `--only checks`: only the cost of the known-answer checks (its section of docs/benchmarks.md). */
  only: 'checks' | undefined;
  /** Whether this run rewrites docs/benchmarks.md (or, with --only checks, its checks section). */
  writeDocs: boolean;
  /** Calibration samples (one rotation, one multiply_plain at mnist-cnn's top level) at each end of the run. */
  calibrationRuns: number;
}

/** Parses the command line after `npm run bench --`; throws on anything unknown or malformed. */
export function parseBenchOptions(argv: readonly string[]): BenchOptions {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      quick: { type: 'boolean', default: false },
      json: { type: 'string' },
      workers: { type: 'string', default: '2' },
      runs: { type: 'string' },
      'scaling-model': { type: 'string', default: 'mnist-cnn' },
      'scaling-predictions': { type: 'string' },
      only: { type: 'string' },
      'write-docs': { type: 'boolean', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  const quick = values.quick;
  const workers = Number(values.workers);
  const runs = values.runs !== undefined ? Number(values.runs) : quick ? 5 : 10;
  if (!(Number.isInteger(workers) && workers >= 1) || !(Number.isInteger(runs) && runs >= 1)) throw new Error('--workers and --runs take positive integers');
  if (values.only !== undefined && values.only !== 'checks') throw new Error('--only takes "checks"');
  const scalingPredictions = values['scaling-predictions'] !== undefined ? Number(values['scaling-predictions']) : undefined;
  if (scalingPredictions !== undefined && !Number.isInteger(scalingPredictions)) throw new Error('--scaling-predictions takes an integer');
  return {
    quick,
    json: values.json,
    workers,
    runs,
    scalingModel: values['scaling-model'],
    scalingPredictions,
    only: values.only,
    writeDocs: values['write-docs'],
    calibrationRuns: quick ? 15 : 40,
  };
}
