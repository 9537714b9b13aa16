// An evaluation worker: its own SEAL instance, its own compiled plans and encoded weights, and a
// small cache of loaded evaluation keys. It never sees a secret key: it imports he-core's server side only.
import { parentPort, workerData } from 'node:worker_threads';
import { HeContext, HeError, PlanEvaluator, compile, evaluateEnvelope, evaluatePartEnvelope, loadSeal, mergePartsToEnvelope, openKeyEnvelope, parseModel } from '../../he-core/index.js';
import type { EvaluationKeys, PlanMode, SealRuntime } from '../../he-core/index.js';
import { apiCodeFor } from './errors.js';
import { loadedKeyBytes } from './key-bytes.js';
import type { WorkerInit, WorkerMemory, WorkerRequest, WorkerResponse } from './messages.js';

const port = parentPort!;
const init = workerData as WorkerInit;

interface LoadedModel {
  ctx: Record<PlanMode, HeContext>;
  evaluator: Record<PlanMode, PlanEvaluator>;
}

interface CachedKeys {
  keys: EvaluationKeys;
  /** `loadedKeyBytes` of the plan: what the loaded set holds in the WebAssembly heap. */
  bytes: number;
}

const models = new Map<string, LoadedModel>();
/** Loaded key sets, least recently used first; their bytes stay within init.keyCacheBytes. */
const keyCache = new Map<string, CachedKeys>();
let keyBytesHeld = 0;
let evictedSinceReport: string[] = [];
let runtime: SealRuntime | null = null;

function memory(): WorkerMemory {
  const evicted = evictedSinceReport;
  evictedSinceReport = [];
  let helperTasks = 0;
  let helperBytes = 0;
  for (const entry of models.values()) {
    helperTasks += entry.evaluator.single.keySwitchHelperTasks + entry.evaluator.batch.keySwitchHelperTasks;
    helperBytes += entry.evaluator.single.keySwitchSharedBytes + entry.evaluator.batch.keySwitchSharedBytes;
  }
  return { keySets: keyCache.size, keyBytes: keyBytesHeld, heapBytes: runtime?.heapBytes() ?? 0, evicted, helperTasks, helperBytes };
}

function send(message: WorkerResponse, transfer: ArrayBuffer[] = []): void {
  port.postMessage(message.kind !== 'start-failed' ? { ...message, memory: memory() } : message, transfer);
}

function drop(sessionId: string): void {
  const cached = keyCache.get(sessionId);
  if (!cached) return;
  keyCache.delete(sessionId);
  keyBytesHeld -= cached.bytes;
  cached.keys.dispose();
}

async function start(): Promise<void> {
  const rt = await loadSeal();
  runtime = rt;
  for (const text of init.models) {
    const model = parseModel(text);
    const entry = { ctx: {}, evaluator: {} } as LoadedModel;
    for (const mode of ['single', 'batch'] as const) {
      const plan = compile(rt.seal, model, { mode });
      entry.ctx[mode] = HeContext.create(rt, plan.public.params);
      // Key switches on two threads while this worker is the only busy one of several (it borrows
      // an idle worker's core); checked at every key switch, so a request arriving meanwhile gets
      // its core back at once. A pool of one keeps to its one core.
      entry.evaluator[mode] = new PlanEvaluator(entry.ctx[mode], plan, { keySwitchThreads: init.poolSize > 1 ? 2 : 1, keySwitchThreadsWhile: () => Atomics.load(init.busy, 0) <= 1 });
    }
    models.set(model.id, entry);
  }
}

function cacheKey(sessionId: string): string {
  return sessionId;
}

/**
 * Loads (or reuses) a session's evaluation keys, checked against the plan. Before a load, the least
 * recently used sets are freed until the new one fits both bounds (bytes and entries), so that the
 * heap never holds more than init.keyCacheBytes of keys; a set in use is never freed (one job at a
 * time). Freed keys are not lost: the session's envelope stays in the store and loads again.
 */
function keysFor(sessionId: string, modelId: string, mode: PlanMode, bytes: Uint8Array): EvaluationKeys {
  const key = cacheKey(sessionId);
  const cached = keyCache.get(key);
  if (cached) {
    keyCache.delete(key);
    keyCache.set(key, cached);
    return cached.keys;
  }
  const model = models.get(modelId);
  if (!model) throw new HeError('model_invalid', `model ${modelId} is not loaded`);
  const size = loadedKeyBytes(model.evaluator[mode].plan.public);
  for (const [oldest] of keyCache) {
    if (keyBytesHeld + size <= init.keyCacheBytes && keyCache.size < init.keyCacheEntries) break;
    drop(oldest);
    evictedSinceReport.push(oldest);
  }
  // Copy out of shared memory: the loader must see bytes no other thread can change underneath it.
  const keys = openKeyEnvelope(model.ctx[mode], model.evaluator[mode].plan.public, Uint8Array.from(bytes));
  keyCache.set(key, { keys, bytes: size });
  keyBytesHeld += size;
  return keys;
}

function fail(jobId: number, err: unknown, what: 'keys' | 'ciphertexts'): void {
  if (err instanceof HeError) send({ kind: 'failed', jobId, code: apiCodeFor(err.code, what), message: err.message });
  else send({ kind: 'failed', jobId, code: 'internal_error', message: err instanceof Error ? err.message : String(err) });
}

port.on('message', (request: WorkerRequest) => {
  switch (request.kind) {
    case 'forget':
      drop(cacheKey(request.sessionId));
      return;
    case 'open-session':
      try {
        keysFor(request.sessionId, request.modelId, request.mode, request.keys);
        send({ kind: 'done', jobId: request.jobId, result: null, evaluateMs: 0 });
      } catch (err) {
        fail(request.jobId, err, 'keys');
      }
      return;
    case 'predict':
    case 'predict-part':
    case 'predict-merge': {
      let keys: EvaluationKeys;
      try {
        keys = keysFor(request.sessionId, request.modelId, request.mode, request.keys);
      } catch (err) {
        fail(request.jobId, err, 'keys');
        return;
      }
      try {
        const evaluator = models.get(request.modelId)!.evaluator[request.mode];
        const started = performance.now();
        if (request.kind === 'predict-part') {
          const share = evaluatePartEnvelope(evaluator, keys, request.body, request.part, request.parts);
          const evaluateMs = performance.now() - started;
          send({ kind: 'done', jobId: request.jobId, result: null, evaluateMs, share }, share.flatMap((b) => (b ? [b.buffer as ArrayBuffer] : [])));
          return;
        }
        const result = request.kind === 'predict' ? evaluateEnvelope(evaluator, keys, request.body) : mergePartsToEnvelope(evaluator, keys, request.shares);
        const evaluateMs = performance.now() - started;
        const copy = new Uint8Array(result);
        send({ kind: 'done', jobId: request.jobId, result: copy, evaluateMs }, [copy.buffer]);
      } catch (err) {
        fail(request.jobId, err, 'ciphertexts');
      }
      return;
    }
  }
});

start().then(
  () =>
    send({
      kind: 'ready',
      encoderConstants: [...models.entries()].filter(([, m]) => m.evaluator.batch.constantPath === 'encoder').map(([id]) => `${id}/batch`),
      sealMac: [...models.entries()].filter(([, m]) => m.evaluator.batch.macPath === 'seal').map(([id]) => `${id}/batch`),
      sealDiagonals: [...models.entries()].filter(([, m]) => m.evaluator.single.plan.steps.some((s) => s.op === 'linear') && m.evaluator.single.diagonalPath === 'seal').map(([id]) => `${id}/single`),
    }),
  (err: unknown) => send({ kind: 'start-failed', message: err instanceof Error ? err.message : String(err) }),
);
