// Memory: the service process's RSS after 100 and after 1,000 single-mode predictions, and against
// the key cache's accounted bytes when the cache is full (benchKeyMemory, issue 15).
import { HeContext, loadSeal } from '../../he-core/index.js';
import type { ModelFile } from '../../he-core/index.js';
import { ClientKeyPair, decryptResult, encodeKeyEnvelopeFor, encryptRequest } from '../../main/flow/he-client.js';
import { loadedKeyBytes } from '../../mock-service/pool/key-bytes.js';
import { BenchClient, providerFor } from './client.js';
import type { Endpoint } from './client.js';
import { CpuMeter, othersCores } from './cpu.js';
import { heldOutRows } from './data.js';
import { startServiceProcess } from './service-process.js';

export interface MemoryOptions {
  modelId: string;
  rows: readonly number[][];
  /** Concurrent requests (so that every worker takes part). */
  concurrency: number;
  workers: number;
}

export async function benchMemory(options: MemoryOptions): Promise<{ afterSession: number; after100: number; after1000: number; otherCores: number }> {
  const service = await startServiceProcess(options.workers);
  let client: BenchClient | undefined;
  try {
    const entry = service.catalog.find((m) => m.id === options.modelId);
    if (!entry) throw new Error(`the service has no model ${options.modelId}`);
    client = await BenchClient.open(service.endpoint, entry, 'single');
    const afterSession = service.rss();
    const meter = CpuMeter.start(service.pid === undefined ? [] : [service.pid]);
    let done = 0;
    const runTo = async (target: number): Promise<void> => {
      await Promise.all(
        Array.from({ length: options.concurrency }, async () => {
          while (done < target) {
            const i = done++;
            await client!.predict([options.rows[i % options.rows.length]!]);
          }
        }),
      );
    };
    await runTo(100);
    const after100 = service.rss();
    await runTo(1000);
    const after1000 = service.rss();
    return { afterSession, after100, after1000, otherCores: othersCores(meter) };
  } finally {
    await client?.close().catch(() => undefined);
    await service.stop();
  }
}

export interface KeyMemoryOptions {
  /** A model with evaluation keys (breast-cancer-mlp, mnist-cnn). */
  model: ModelFile;
  /** Sessions to open, each with its own key pair, and one prediction each. */
  sessions: number;
  workers: number;
  /** The service's `--session-cache-bytes` (default: the service's default, 1 GiB; issue 15's figure was taken at 512 MiB). */
  sessionCacheBytes?: number;
  /** Sessions being opened at once (so that every worker loads keys). */
  concurrency?: number;
  log?: (line: string) => void;
}

export interface KeyMemoryResult {
  modelId: string;
  workers: number;
  sessionsOpened: number;
  /** Sessions the store still holds at the end (the rest were evicted to stay within its bound). */
  sessionsHeld: number;
  /** One session's key envelope as uploaded, and its loaded size in a worker (`loadedKeyBytes`). */
  envelopeBytes: number;
  loadedBytesPerSet: number;
  /** The service's RSS once ready, before any session (the fixed baseline: plans, weights, runtimes). */
  idleRss: number;
  /** The service's RSS after the sessions. */
  rss: number;
  /** Stored envelopes (ciphercare_session_cache_bytes). */
  storeBytes: number;
  /** Loaded key bytes in all workers (ciphercare_worker_key_bytes; absent before the byte accounting). */
  workerKeyBytes: number | null;
  workerKeySets: number | null;
  /** The workers' WebAssembly heaps: summed, and the largest, at idle and at the end. */
  heapBytes: { idle: number | null; end: number | null; maxIdle: number | null; maxEnd: number | null };
  /** The workers' key-switching helper threads' shared memory at the end (not in the accounting), bytes. */
  helperBytes: number | null;
  /** What the service accounts: storeBytes + workerKeyBytes (storeBytes alone before the byte accounting). */
  accountedBytes: number;
  /** The bound the operator set (ciphercare_key_memory_limit_bytes, or sessionCacheBytes before). */
  limitBytes: number;
  /** (rss − idleRss) / accountedBytes: what the service holds per accounted byte, the baseline apart. */
  ratio: number;
  /** rss / accountedBytes, the baseline included (how the 3.6× of issue 15 was stated). */
  grossRatio: number;
  /** (rss − idleRss) / limitBytes: the share of the operator's bound the service really takes. */
  ratioToLimit: number;
  otherCores: number;
  seconds: number;
}

async function metricsOf(endpoint: Endpoint): Promise<Map<string, number>> {
  const res = await fetch(`${endpoint.url}/v1/metrics`, { headers: { authorization: `Bearer ${endpoint.token}` } });
  if (!res.ok) throw new Error(`GET /v1/metrics answered ${res.status}`);
  const out = new Map<string, number>();
  for (const line of (await res.text()).split('\n')) {
    const m = /^([a-z_]+) (\S+)$/.exec(line);
    if (m) out.set(m[1]!, Number(m[2]));
  }
  return out;
}

/**
 * Issue 15's "service RSS against the key cache's accounted bytes": a real service process
 * (`launchBundledService`) filled with `sessions` sessions of one model, each with its own key pair
 * and one prediction (so the workers load keys as they do in use), more than the cache holds. Reports
 * the RSS before and after, the accounted bytes from /v1/metrics, and the ratio
 * (RSS − idle RSS) / accounted bytes; the idle RSS is the fixed baseline, reported beside it.
 */
export async function benchKeyMemory(options: KeyMemoryOptions): Promise<KeyMemoryResult> {
  const log = options.log ?? (() => undefined);
  const started = performance.now();
  const extraArgs = options.sessionCacheBytes === undefined ? [] : ['--session-cache-bytes', String(options.sessionCacheBytes)];
  const service = await startServiceProcess(options.workers, extraArgs);
  const rt = await loadSeal();
  let ctx: HeContext | undefined;
  try {
    const entry = service.catalog.find((m) => m.id === options.model.id);
    if (!entry) throw new Error(`the service has no model ${options.model.id}`);
    const plan = entry.plans.single;
    ctx = HeContext.create(rt, plan.params);
    const rows = heldOutRows(options.model);
    const provider = providerFor(service.endpoint);
    await new Promise((r) => setTimeout(r, 1000));
    const idleRss = service.rss();
    const idle = await metricsOf(service.endpoint);
    const meter = CpuMeter.start(service.pid === undefined ? [] : [service.pid]);
    let next = 0;
    let envelopeBytes = 0;
    await Promise.all(
      Array.from({ length: options.concurrency ?? options.workers }, async () => {
        while (next < options.sessions) {
          const i = next++;
          const pair = ClientKeyPair.generate(ctx!);
          try {
            const { bytes } = encodeKeyEnvelopeFor(pair, plan);
            envelopeBytes = bytes.byteLength;
            const session = await provider.createSession(entry.id, 'single', bytes);
            const request = encryptRequest(pair, plan, [rows[i % rows.length]!]);
            decryptResult(pair, plan, await provider.predict(session.sessionId, request), 1);
          } finally {
            pair.dispose();
          }
          if ((i + 1) % 25 === 0) log(`  ${i + 1} sessions, service RSS ${(service.rss() / 2 ** 20).toFixed(0)} MiB`);
        }
      }),
    );
    await new Promise((r) => setTimeout(r, 2000));
    const rss = service.rss();
    const end = await metricsOf(service.endpoint);
    const storeBytes = end.get('ciphercare_session_cache_bytes') ?? 0;
    const workerKeyBytes = end.get('ciphercare_worker_key_bytes') ?? null;
    const accountedBytes = storeBytes + (workerKeyBytes ?? 0);
    const limitBytes = end.get('ciphercare_key_memory_limit_bytes') ?? options.sessionCacheBytes ?? 1024 * 2 ** 20;
    return {
      modelId: entry.id,
      workers: options.workers,
      sessionsOpened: options.sessions,
      sessionsHeld: end.get('ciphercare_sessions') ?? 0,
      envelopeBytes,
      loadedBytesPerSet: loadedKeyBytes(plan),
      idleRss,
      rss,
      storeBytes,
      workerKeyBytes,
      workerKeySets: end.get('ciphercare_worker_key_sets') ?? null,
      heapBytes: {
        idle: idle.get('ciphercare_worker_heap_bytes') ?? null,
        end: end.get('ciphercare_worker_heap_bytes') ?? null,
        maxIdle: idle.get('ciphercare_worker_heap_bytes_max') ?? null,
        maxEnd: end.get('ciphercare_worker_heap_bytes_max') ?? null,
      },
      helperBytes: end.get('ciphercare_keyswitch_helper_bytes') ?? null,
      accountedBytes,
      limitBytes,
      ratio: (rss - idleRss) / accountedBytes,
      grossRatio: rss / accountedBytes,
      ratioToLimit: (rss - idleRss) / limitBytes,
      otherCores: othersCores(meter),
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    ctx?.dispose();
    await service.stop();
  }
}
