// `npm run loadtest -- --clients 16 --seconds 300 [--model ID] [--workers N] [--max-queue N] [--json FILE] [--write-docs] [--redis URL|local [--kill-worker-at S]]`
//
// Starts the real service as its own process on 127.0.0.1 (launchBundledService, as the app runs
// it), then N clients in this process, each with its own key pair, loop encrypt → predict →
// decrypt for the given time; every answer is checked against the plaintext reference. Counts
// latency percentiles, errors, 503s (each retried to success) and samples the service's RSS every
// 5 s. Stops by itself: no new request after --seconds, a hard stop (requests cut) a minute later.
// Prints a summary; writes a section into docs/reliability.md only with --write-docs (the JSON with --json).
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { launchBundledService } from '../../main/provider/bundled-service.js';
import type { BundledService } from '../../main/provider/bundled-service.js';
import { ProviderClient } from '../../main/provider/provider-client.js';
import { CpuMeter } from '../bench/cpu.js';
import { heldOutRows } from '../bench/data.js';
import { machine } from '../bench/report.js';
import { CalibrationRig } from '../bench/calibration.js';
import { loadBundledModels } from '../bundled-models.js';
import { LoadClient } from './client.js';
import { launchDistributedService } from './distributed.js';
import { parseLoadtestOptions } from './options.js';
import type { Counters } from './client.js';
import { summaryLines, writeDocs } from './report.js';
import type { LoadRun, RssSample } from './report.js';
import { MiB, mean, quantile, readRss } from './stats.js';

const DOCS = fileURLToPath(new URL('../../docs/reliability.md', import.meta.url));
const RSS_EVERY_MS = 5_000;

const options = parseLoadtestOptions(process.argv.slice(2));
const { clients, seconds, workers, maxQueue, hardStopS, command } = options;

const t00 = performance.now();
/** Rotations and multiply_plains timed (medians) before and after the load. */
const CALIBRATION_RUNS = 40;
const log = (line: string): void => {
  process.stderr.write(`[${((performance.now() - t00) / 1000).toFixed(1).padStart(6)} s] ${line}\n`);
};

const model = loadBundledModels().find((m) => m.id === options.model);
if (!model) throw new Error(`no bundled model "${options.model}" (assets/models)`);
const rows = heldOutRows(model);

// The service reads its queue limit from the environment (launchBundledService passes it through).
if (maxQueue !== undefined) process.env.CIPHERCARE_MAX_QUEUE = String(maxQueue);
const loadStart = loadavg();
log(`starting the service process${workers ? ` (${workers} workers)` : ''}`);
let started = performance.now();
const distributed = options.redis
  ? await launchDistributedService({ redis: options.redis, fronts: 2, workers: 2, threads: workers ?? 1, maxQueue, killWorkerAfterS: options.killWorkerAt ?? Math.ceil(seconds / 3), log })
  : null;
const service: BundledService = distributed ?? (await launchBundledService({ ...(workers ? { workers } : {}), startTimeoutMs: 120_000 }));
const serviceStartMs = performance.now() - started;
const pid = service.child?.pid;
if (pid === undefined) throw new Error('the service process has no pid: cannot read its RSS');

// Whatever happens below, the run ends: a watchdog past the hard stop kills the service and exits.
const watchdog = setTimeout(() => {
  process.stderr.write('load test: watchdog fired, stopping\n');
  service.child?.kill('SIGKILL');
  process.exit(2);
}, (hardStopS + 300) * 1000);
watchdog.unref();

const loadClients: LoadClient[] = [];
try {
  const probe = new ProviderClient({ kind: 'bundled', url: service.url, credential: service.token });
  const health = await probe.health();
  const entry = (await probe.catalog()).find((m) => m.id === model.id);
  if (!entry) throw new Error(`the service has no model ${model.id}`);
  log(`service pid ${pid} on ${service.url}: ${health.workers.total} workers, queue limit ${health.queue.limit}; making ${clients} key pairs`);

  started = performance.now();
  const endpoint = { url: service.url, token: service.token };
  for (let i = 0; i < clients; i++) loadClients.push(await LoadClient.create(i, distributed?.endpointFor(i) ?? endpoint, entry, model, rows));
  const keygenMs = performance.now() - started;

  const hard = new AbortController();
  const setupAbort = setTimeout(() => hard.abort(), 300_000);
  started = performance.now();
  await Promise.all(loadClients.map((c) => c.open(hard.signal)));
  clearTimeout(setupAbort);
  const sessionsMs = performance.now() - started;
  log(`${clients} sessions open (${(loadClients[0]!.keyBytes / 1e6).toFixed(1)} MB of keys each, ${sessionsMs.toFixed(0)} ms); load for ${seconds} s`);

  // The benchmark's calibration (one node-seal rotation and one multiply_plain at mnist-cnn's top
  // level), in this process while the service is idle, before and after the load: the rate also
  // reads as predictions per rotation, which compares across these machines' CPU models.
  const calibrationModel = loadBundledModels().find((m) => m.id === 'mnist-cnn') ?? model;
  const calibrationRig = await CalibrationRig.create(calibrationModel);
  const calibrationStart = calibrationRig.measure(CALIBRATION_RUNS);
  log(`calibration: one rotation ${calibrationStart.rotateMs.toFixed(2)} ms, one multiply_plain ${calibrationStart.multiplyPlainMs.toFixed(3)} ms`);

  const rss: RssSample[] = [];
  const t0 = performance.now();
  const sampleRss = (): void => {
    try {
      rss.push({ t: (performance.now() - t0) / 1000, serviceBytes: readRss(pid), clientBytes: process.memoryUsage().rss });
    } catch {
      // The service process is gone: the run reports it through its errors.
    }
  };
  sampleRss();
  const meter = CpuMeter.start([pid]);
  distributed?.loadStarted();
  const deadline = t0 + seconds * 1000;
  const hardTimer = setTimeout(() => hard.abort(), hardStopS * 1000);
  const sum = (f: (c: LoadClient) => number): number => loadClients.reduce((a, c) => a + f(c), 0);
  let ticks = 0;
  const sampler = setInterval(() => {
    sampleRss();
    if (++ticks % 3 === 0) {
      const last = rss[rss.length - 1];
      log(`t=${((performance.now() - t0) / 1000).toFixed(0)} s: ok ${sum((c) => c.counters.ok)}, errors ${sum((c) => c.counters.errors)}, 503 retried ${sum((c) => c.counters.retried503)}, service RSS ${last ? (last.serviceBytes / MiB).toFixed(0) : '?'} MiB`);
    }
  }, RSS_EVERY_MS);
  await Promise.all(loadClients.map((c) => c.run(deadline, hard.signal, t0)));
  const durationS = (performance.now() - t0) / 1000;
  clearInterval(sampler);
  clearTimeout(hardTimer);
  const lastSample = rss[rss.length - 1];
  if (!lastSample || (performance.now() - t0) / 1000 - lastSample.t > 1) sampleRss();
  const otherCores = meter ? meter.othersCores() : Number.NaN;
  const calibrationEnd = calibrationRig.measure(CALIBRATION_RUNS);
  calibrationRig.dispose();

  const server503 = await (distributed ? distributed.server503() : readServer503(service)).catch(() => null);
  const counters: Counters = { ok: 0, errors: 0, wrong: 0, retried503: 0, retriedNetwork: 0, reuploads: 0, errorKinds: {} };
  for (const c of loadClients) {
    for (const k of ['ok', 'errors', 'wrong', 'retried503', 'retriedNetwork', 'reuploads'] as const) counters[k] += c.counters[k];
    for (const [k, v] of Object.entries(c.counters.errorKinds)) counters.errorKinds[k] = (counters.errorKinds[k] ?? 0) + v;
  }
  const samples = loadClients.flatMap((c) => c.samples);
  const e2e = samples.map((s) => s.endToEndMs);
  const rt = samples.map((s) => s.roundTripMs);
  const perClient = loadClients.map((c) => c.counters.ok);
  const run: LoadRun = {
    command,
    date: new Date().toISOString(),
    machine: machine(loadStart),
    otherCores: Math.round(otherCores * 100) / 100,
    calibration: {
      model: calibrationModel.id,
      rotateMs: (calibrationStart.rotateMs + calibrationEnd.rotateMs) / 2,
      multiplyPlainMs: (calibrationStart.multiplyPlainMs + calibrationEnd.multiplyPlainMs) / 2,
      start: calibrationStart,
      end: calibrationEnd,
    },
    settings: { clients, seconds, model: model.id, workers: health.workers.total, maxQueue: health.queue.limit, hardStopS },
    setup: { serviceStartMs, keygenMs, keyEnvelopeBytes: loadClients[0]!.keyBytes, sessionsMs },
    results: {
      durationS,
      ...counters,
      predictionsRetried: samples.filter((s) => s.retries > 0).length,
      throughputPerS: counters.ok / durationS,
      endToEndMs: { p50: quantile(e2e, 0.5), p90: quantile(e2e, 0.9), p99: quantile(e2e, 0.99), max: Math.max(...e2e), mean: mean(e2e) },
      roundTripMs: { p50: quantile(rt, 0.5), p99: quantile(rt, 0.99) },
      maxAbsError: Math.max(...loadClients.map((c) => c.maxError)),
      tolerance: Math.max(...model.testVectors.map((tv) => tv.tolerance)),
      perClient: { min: Math.min(...perClient), max: Math.max(...perClient) },
      server503,
    },
    rss,
  };
  process.stdout.write(`${summaryLines(run).join('\n')}\n`);
  if (distributed) process.stdout.write(`  distributed: 2 fronts, 2 worker processes; ${distributed.faults.join('; ') || 'no worker was killed (the run ended first)'}\n`);
  if (options.json) {
    writeFileSync(options.json, `${JSON.stringify(run, null, 2)}\n`);
    log(`wrote ${options.json}`);
  }
  if (options.writeDocs) {
    writeDocs(DOCS, run);
    log(`wrote ${DOCS}`);
  } else log(`did not touch ${DOCS} (add --write-docs to write this run's section)`);
  if (counters.errors > 0 || counters.ok === 0) process.exitCode = 1;
} finally {
  await Promise.all(loadClients.map((c) => c.close().catch(() => undefined)));
  await service.stop();
  clearTimeout(watchdog);
}

/** The 503 answers the service itself counted, from its Prometheus text. */
async function readServer503(s: BundledService): Promise<number> {
  const res = await fetch(`${s.url}/v1/metrics`, { headers: { authorization: `Bearer ${s.token}` } });
  if (!res.ok) throw new Error(`GET /v1/metrics answered ${res.status}`);
  const text = await res.text();
  let n = 0;
  for (const line of text.split('\n')) if (line.startsWith('ciphercare_http_requests_total{') && line.includes('status="503"')) n += Number(line.slice(line.lastIndexOf(' ') + 1));
  return n;
}
