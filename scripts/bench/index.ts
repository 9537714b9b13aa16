// `npm run bench [-- --quick] [-- --json FILE] [-- --write-docs]`: every bundled model, encrypted end to end through
// the real client and service on 127.0.0.1, beside its plaintext run; service scaling and memory.
// Prints tables; writes docs/benchmarks.md only with --write-docs; with --json the JSON shape of issue 6.
// Every figure is also given as a multiple of one rotation and one multiply_plain at mnist-cnn's top
// level, timed in the same run (calibration.ts), at its start and at its end.
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { startService } from '../../mock-service/service.js';
import { loadBundledModels } from '../bundled-models.js';
import { benchBatch } from './batch.js';
import { benchChecks, checksTable, markdownTable, writeChecksSection } from './checks.js';
import { benchDistributed, distributedTable } from './distributed.js';
import type { ChecksRow } from './checks.js';
import { EvaluationClock } from './client.js';
import { heldOutRows } from './data.js';
import { benchImported } from './imported.js';
import { benchKeyMemory, benchMemory } from './memory.js';
import { machine, printReport, writeDocs, writeJson } from './report.js';
import { parseBenchOptions } from './options.js';
import { CalibrationRig, combineCalibration } from './calibration.js';
import { benchClientArithmeticLever, benchEncryptLever, benchKernelLever, benchPackLever, benchPreparedLever, benchSpecialPrimeLever, benchTransferLever } from './levers.js';
import type { LeverResult } from './levers.js';
import { benchScaling } from './scaling.js';
import { measureCeiling } from './ceiling.js';
import { benchSingle } from './single.js';
import type { BatchDetail, BenchRun, SingleDetail, SingleResult, BatchResult } from './types.js';

const DOCS = fileURLToPath(new URL('../../docs/benchmarks.md', import.meta.url));

const options = parseBenchOptions(process.argv.slice(2));
const { quick, workers, runs } = options;
const settings = {
  runs,
  warmups: 1,
  keygenRuns: quick ? 2 : runs - 1,
  slowBatchMs: 10_000,
  slowBatchRuns: quick ? 1 : 5,
  scalingClients: 4,
  scalingPredictions: options.scalingPredictions ?? (quick ? 12 : 40),
  memoryModel: 'breast-cancer',
};
if (!(Number.isInteger(settings.scalingPredictions) && settings.scalingPredictions >= settings.scalingClients)) throw new Error(`--scaling-predictions takes an integer of at least ${settings.scalingClients}`);

const startedAt = performance.now();
const loadStart = loadavg();
const log = (line: string): void => {
  process.stderr.write(`[${((performance.now() - startedAt) / 1000).toFixed(1).padStart(6)} s] ${line}\n`);
};

const models = loadBundledModels();
const command = ['npm run bench', ...(process.argv.length > 2 ? ['--', ...process.argv.slice(2)] : [])].join(' ');
let checks: ChecksRow[] = [];
if (options.only === 'checks') {
  log(`starting the service in this process (${workers} workers)`);
  const service = await startService({ mode: 'bundled', workers, jobTimeoutMs: 600_000, logger: pino({ level: 'silent' }) });
  try {
    checks = await benchChecks({ url: service.url, token: service.token! }, models, service.catalog, runs, log);
  } finally {
    await service.close();
  }
  console.log(`\nKnown-answer checks\n\n${markdownTable(checksTable(checks))}`);
  if (options.writeDocs) {
    writeChecksSection(DOCS, markdownTable(checksTable(checks)), command);
    log(`wrote the checks section of ${DOCS}`);
  } else log(`did not touch ${DOCS} (add --write-docs to write the checks section)`);
  process.exit(0);
}
const calibrationModel = models.find((m) => m.id === 'mnist-cnn') ?? models[0]!;
const calibrationRig = await CalibrationRig.create(calibrationModel);
log(`calibration at the start: ${options.calibrationRuns} rotations and multiply_plains at ${calibrationModel.id}'s top level`);
const calibrationStart = calibrationRig.measure(options.calibrationRuns);
const levers: LeverResult[] = [];
for (const [id, mode, lever] of [
  ['mnist-cnn', 'single', 'mac'],
  ['mnist-cnn', 'single', 'keyswitch'],
  ['mnist-cnn', 'single', 'threads'],
  ['mnist-cnn', 'single', 'fma'],
  ['mnist-cnn', 'batch', 'keyswitch'],
  ['mnist-cnn', 'batch', 'frames'],
  ['mnist-cnn', 'batch', 'zstd'],
  ['breast-cancer-mlp', 'single', 'mac'],
  ['breast-cancer-mlp', 'single', 'keyswitch'],
  ['breast-cancer-mlp', 'single', 'threads'],
  ['breast-cancer-mlp', 'single', 'fma'],
  ['breast-cancer-mlp', 'batch', 'mac'],
] as const) {
  const model = models.find((m) => m.id === id);
  if (!model) continue;
  // mnist-cnn batches take seconds each: fewer runs.
  const leverRuns = quick ? (mode === 'batch' && id === 'mnist-cnn' ? 1 : 3) : mode === 'batch' && id === 'mnist-cnn' ? 3 : 10;
  log(`lever: ${id} ${mode}, server evaluation with and without the ${lever} lever, ${leverRuns} runs each, alternating`);
  levers.push(await benchKernelLever(model, mode, heldOutRows(model), leverRuns, lever));
}
{
  const model = models.find((m) => m.id === 'mnist-cnn');
  if (model) {
    const encryptRuns = quick ? 1 : 3;
    log(`lever: mnist-cnn batch, the request's encryption on one and on two threads, ${encryptRuns} runs each, alternating`);
    levers.push(await benchEncryptLever(model, 'batch', heldOutRows(model), encryptRuns));
    for (const which of ['encode', 'encrypt'] as const) {
      log(`lever: mnist-cnn batch, the request ${which}d on one thread by SEAL and by our own code, ${encryptRuns} runs each, alternating`);
      levers.push(await benchClientArithmeticLever(model, 'batch', heldOutRows(model), encryptRuns, which));
      const m = models.find((x) => x.id === 'breast-cancer-mlp');
      const singleRuns = quick ? 5 : 20;
      if (m) {
        log(`lever: breast-cancer-mlp single, the request ${which}d by SEAL and by our own code, ${singleRuns} runs each, alternating`);
        levers.push(await benchClientArithmeticLever(m, 'single', heldOutRows(m), singleRuns, which));
      }
    }
    const preparedRuns = quick ? 5 : 20;
    for (const id of ['breast-cancer-mlp', 'mnist-cnn']) {
      const m = models.find((x) => x.id === id);
      if (!m) continue;
      log(`lever: ${id} single, the request's encryption from a prepared zero and by SEAL in full, ${preparedRuns} runs each, alternating`);
      levers.push(await benchPreparedLever(m, heldOutRows(m), preparedRuns));
      log(`lever: ${id} single, the answer packed through SEAL's serialisation and in place, ${preparedRuns} runs each, alternating`);
      levers.push(await benchPackLever(m, preparedRuns));
    }
    for (const id of ['breast-cancer-mlp', 'diabetes-progression']) {
      const m = models.find((x) => x.id === id);
      if (!m) continue;
      const specialRuns = quick ? 3 : 10;
      log(`lever: ${id} single, server evaluation with its special prime and with version 1.1.0's, ${specialRuns} runs each, alternating`);
      levers.push(await benchSpecialPrimeLever(m, heldOutRows(m), specialRuns));
    }
    const transferRuns = quick ? 2 : 5;
    log(`lever: mnist-cnn batch, the request's transfer as before and as now, ${transferRuns} runs each, alternating`);
    levers.push(await benchTransferLever(model, heldOutRows(model), transferRuns));
  }
}
let checksError: string | null = null;
const results: (SingleResult | BatchResult)[] = [];
const single = new Map<string, SingleDetail>();
const batch = new Map<string, BatchDetail>();

log(`starting the service in this process (${workers} workers)`);
// A long job limit: on a busy machine one mnist-cnn batch can take minutes.
const service = await startService({ mode: 'bundled', workers, jobTimeoutMs: 600_000, logger: pino({ level: 'silent' }) });
try {
  if (!service.token) throw new Error('the bundled service reported no token');
  const endpoint = { url: service.url, token: service.token };
  const clock = new EvaluationClock(endpoint);
  for (const model of models) {
    const entry = service.catalog.find((m) => m.id === model.id);
    if (!entry) throw new Error(`the service has no model ${model.id}`);
    const rows = heldOutRows(model);
    log(`${model.id} single: ${settings.runs} runs after ${settings.warmups} warm-up`);
    const s = await benchSingle(endpoint, clock, model, entry, rows, settings);
    results.push(s.result);
    single.set(model.id, s.detail);
    log(`${model.id} batch of ${entry.plans.batch.samplesPerRequest}`);
    const b = await benchBatch(endpoint, clock, model, entry, rows, { runs: settings.runs, slowMs: settings.slowBatchMs, slowRuns: settings.slowBatchRuns, log });
    results.push(b.result);
    batch.set(model.id, b.detail);
  }
  log('known-answer checks: single with checks off and on, batch check preparation');
  try {
    checks = await benchChecks(endpoint, models, service.catalog, settings.runs, log);
  } catch (err) {
    // The rest of the run still counts: report it, and leave the checks section as it is.
    checksError = err instanceof Error ? err.message : String(err);
    log(`known-answer checks FAILED: ${checksError}`);
    process.exitCode = 1;
  }
} finally {
  await service.close();
}

log('cnn-padded-digits: a provider\'s model imported from ONNX, served from its own directory (imported.ts)');
const imported = await benchImported({ workers, single: settings, batch: { runs: settings.runs, slowMs: settings.slowBatchMs, slowRuns: settings.slowBatchRuns, log }, log });
results.push(imported.single.result, imported.batch.result);
single.set(imported.id, imported.single.detail);
batch.set(imported.id, imported.batch.detail);

const scalingModel = models.find((m) => m.id === options.scalingModel) ?? models[0]!;
log(`scaling: ${settings.scalingPredictions} ${scalingModel.id} predictions, ${settings.scalingClients} clients, service process at 1 then 2 workers`);
const scaling = await benchScaling({ modelId: scalingModel.id, clients: settings.scalingClients, predictions: settings.scalingPredictions, rows: heldOutRows(scalingModel) });
log(`scaling: the machine's ceiling, node-seal rotations on one thread and on two at once (${quick ? 2 : 4} s rounds: 1, 2, 2, 1 threads)`);
const ceiling = await measureCeiling(calibrationModel, quick ? 2 : 4);

const memoryModel = models.find((m) => m.id === settings.memoryModel) ?? models[0]!;
log(`memory: 1,000 ${memoryModel.id} predictions against a service process (${workers} workers)`);
const memory = await benchMemory({ modelId: memoryModel.id, rows: heldOutRows(memoryModel), concurrency: 2, workers });
const keyMemoryModel = models.find((m) => m.id === 'breast-cancer-mlp') ?? memoryModel;
const keySessions = quick ? 60 : 300;
log(`key memory: ${keySessions} ${keyMemoryModel.id} sessions (own keys, one prediction each) against a service process at the default cache size (${workers} workers)`);
const keyMemory = await benchKeyMemory({ model: keyMemoryModel, sessions: keySessions, workers, log });

log('distributed: a front and worker processes on redis-server (127.0.0.1), beside the embedded service');
const distributed = await benchDistributed({ rounds: quick ? 3 : 6, runs: quick ? 10 : 30, log });

log('calibration at the end');
const calibration = combineCalibration(calibrationRig, options.calibrationRuns, calibrationStart, calibrationRig.measure(options.calibrationRuns));
calibrationRig.dispose();

const run: BenchRun = {
  json: {
    machine: machine(loadStart),
    results,
    scaling: { workers_1_per_s: scaling.w1.perS, workers_2_per_s: scaling.w2.perS },
    memory: { rss_after_100: memory.after100, rss_after_1000: memory.after1000 },
    calibration: { rotate_ms: calibration.rotateMs, multiply_plain_ms: calibration.multiplyPlainMs },
  },
  calibration,
  levers,
  single,
  batch,
  scaling: { model: scalingModel.id, clients: settings.scalingClients, predictions: settings.scalingPredictions, seconds1: scaling.w1.seconds, seconds2: scaling.w2.seconds, evaluateMs1: scaling.w1.evaluateMs, evaluateMs2: scaling.w2.evaluateMs, otherCores1: scaling.w1.otherCores, otherCores2: scaling.w2.otherCores, rounds: scaling.rounds, ceiling },
  memory: { model: memoryModel.id, rssAfterSession: memory.afterSession, concurrency: 2, otherCores: memory.otherCores, keys: keyMemory },
  command,
  date: new Date().toISOString(),
  quick,
  workers,
  durationS: (performance.now() - startedAt) / 1000,
};

printReport(run);
if (!checksError) console.log(`\nKnown-answer checks\n\n${markdownTable(checksTable(checks))}`);
console.log(`\nDistributed (docs/deploy.md)\n\n${distributedTable(distributed)}`);
if (distributed.wrong > 0) process.exitCode = 1;
if (options.writeDocs) {
  writeDocs(DOCS, run);
  if (!checksError) writeChecksSection(DOCS, markdownTable(checksTable(checks)), command);
  log(`wrote ${DOCS}${checksError ? ' (not its checks section: the checks failed)' : ''}`);
} else log(`did not touch ${DOCS} (add --write-docs to write it)`);
if (options.json) {
  writeJson(options.json, run.json);
  log(`wrote ${options.json}`);
}
if (!results.every((r) => r.agree)) {
  console.error('\nSome encrypted results disagree with the plaintext reference (see the agree column).');
  process.exitCode = 1;
}
