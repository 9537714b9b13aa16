// An evaluation worker: its own SEAL instance, its own compiled plans and encoded weights, and a
// small cache of loaded evaluation keys. It never sees a secret key: it imports he-core's server side only.
import { parentPort, workerData } from 'node:worker_threads';
import { HeContext, HeError, PlanEvaluator, compile, evaluateEnvelope, evaluatePartEnvelope, loadSeal, mergePartsToEnvelope, openKeyEnvelope, parseModel } from '../../he-core/index.js';
import type { EvaluationKeys, PlanMode } from '../../he-core/index.js';
import { apiCodeFor } from './errors.js';
import type { WorkerInit, WorkerRequest, WorkerResponse } from './messages.js';

const port = parentPort!;
const init = workerData as WorkerInit;

interface LoadedModel {
  ctx: Record<PlanMode, HeContext>;
  evaluator: Record<PlanMode, PlanEvaluator>;
}

const models = new Map<string, LoadedModel>();
const keyCache = new Map<string, EvaluationKeys>();

function send(message: WorkerResponse, transfer: ArrayBuffer[] = []): void {
  port.postMessage(message, transfer);
}

async function start(): Promise<void> {
  const rt = await loadSeal();
  for (const text of init.models) {
    const model = parseModel(text);
    const entry = { ctx: {}, evaluator: {} } as LoadedModel;
    for (const mode of ['single', 'batch'] as const) {
      const plan = compile(rt.seal, model, { mode });
      entry.ctx[mode] = HeContext.create(rt, plan.public.params);
      entry.evaluator[mode] = new PlanEvaluator(entry.ctx[mode], plan);
    }
    models.set(model.id, entry);
  }
}

function cacheKey(sessionId: string): string {
  return sessionId;
}

/** Loads (or reuses) a session's evaluation keys, checked against the plan; least recently used are freed. */
function keysFor(sessionId: string, modelId: string, mode: PlanMode, bytes: Uint8Array): EvaluationKeys {
  const key = cacheKey(sessionId);
  const cached = keyCache.get(key);
  if (cached) {
    keyCache.delete(key);
    keyCache.set(key, cached);
    return cached;
  }
  const model = models.get(modelId);
  if (!model) throw new HeError('model_invalid', `model ${modelId} is not loaded`);
  // Copy out of shared memory: the loader must see bytes no other thread can change underneath it.
  const keys = openKeyEnvelope(model.ctx[mode], model.evaluator[mode].plan.public, Uint8Array.from(bytes));
  keyCache.set(key, keys);
  while (keyCache.size > init.keyCacheEntries) {
    const [oldest, value] = keyCache.entries().next().value as [string, EvaluationKeys];
    keyCache.delete(oldest);
    value.dispose();
  }
  return keys;
}

function fail(jobId: number, err: unknown, what: 'keys' | 'ciphertexts'): void {
  if (err instanceof HeError) send({ kind: 'failed', jobId, code: apiCodeFor(err.code, what), message: err.message });
  else send({ kind: 'failed', jobId, code: 'internal_error', message: err instanceof Error ? err.message : String(err) });
}

port.on('message', (request: WorkerRequest) => {
  switch (request.kind) {
    case 'forget': {
      const keys = keyCache.get(cacheKey(request.sessionId));
      keyCache.delete(cacheKey(request.sessionId));
      keys?.dispose();
      return;
    }
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
