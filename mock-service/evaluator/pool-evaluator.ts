import type { GaugeValue } from '../http/metrics.js';
import { ServiceError } from '../pool/errors.js';
import type { WorkerPool } from '../pool/worker-pool.js';
import type { SessionInfo, SessionRecord, SessionStore } from '../sessions/session-store.js';
import type { EvaluationOutcome, Evaluator, EvaluatorHealth } from './evaluator.js';

/** The embedded default: this process's thread pool evaluates, keys come from the session store. */
export class PoolEvaluator implements Evaluator {
  constructor(
    private readonly pool: WorkerPool,
    private readonly store: SessionStore,
    /** Models whose batch plan can be shared among the workers (`batchSplit`). */
    private readonly splittable: ReadonlySet<string>,
    private readonly splitBatches: boolean,
    /** What `sessionCacheBytes` allows the envelopes and the loaded keys together (`keyBudget`). */
    private readonly keyMemoryLimit = 0,
  ) {}

  async openSession(record: SessionRecord, store: SessionStore): Promise<string[]> {
    // Checked (and loaded by a worker) before it is stored: refused keys never take a place.
    await this.pool.run({ kind: 'open-session', sessionId: record.id, modelId: record.modelId, mode: record.mode, keys: record.keys });
    return store.put(record);
  }

  async predict(session: SessionInfo, body: Uint8Array): Promise<EvaluationOutcome> {
    const keys = await this.store.keys(session.id);
    if (!keys) throw new ServiceError('session_not_found', 404, 'no such session (it may have expired or been evicted): upload the evaluation keys again');
    const job = { kind: 'predict', sessionId: session.id, modelId: session.modelId, mode: session.mode, keys, body } as const;
    // A batch request of a splittable plan is shared among the workers (one share each, then a join).
    const split = this.splitBatches && session.mode === 'batch' && this.splittable.has(session.modelId) && this.pool.size > 1;
    const { result, evaluateMs } = split ? await this.pool.runSplit(job) : await this.pool.run(job);
    return { result: result!, evaluateMs, timing: split ? [`shares;desc="${this.pool.size}"`] : [] };
  }

  forget(ids: readonly string[]): void {
    for (const id of ids) this.pool.forget(id);
  }

  async health(): Promise<EvaluatorHealth> {
    return this.pool.stats();
  }

  async gauges(): Promise<GaugeValue[]> {
    const memory = this.pool.memory();
    const stored = (await this.store.stats()).bytes;
    return [
      { name: 'ciphercare_worker_key_sets', help: 'Loaded evaluation-key sets held by the workers (as each last reported).', value: memory.workers.reduce((a, w) => a + w.keySets, 0) },
      { name: 'ciphercare_worker_key_bytes', help: 'Bytes of loaded evaluation keys held by the workers (loadedKeyBytes of their plans).', value: memory.keyBytes },
      { name: 'ciphercare_worker_key_bytes_limit', help: 'Bytes of loaded evaluation keys each worker may hold.', value: memory.keyCacheBytes },
      { name: 'ciphercare_worker_heap_bytes', help: "The workers' WebAssembly heaps, summed (they only grow).", value: memory.heapBytes },
      { name: 'ciphercare_worker_heap_bytes_max', help: 'The largest WebAssembly heap of one worker.', value: Math.max(0, ...memory.workers.map((w) => w.heapBytes)) },
      { name: 'ciphercare_keyswitch_helper_bytes', help: "The workers' helper threads' shared memory (NTT tables, a copy of the keys in use, a key switch's buffers), summed: fixed per evaluator once its helper was first used, and not counted by the key accounting.", value: memory.workers.reduce((a, w) => a + w.helperBytes, 0) },
      { name: 'ciphercare_keyswitch_helper_tasks', help: "Key-switching tasks run by the workers' helper threads (a second core borrowed while the other workers are idle), as each last reported.", value: memory.workers.reduce((a, w) => a + w.helperTasks, 0) },
      { name: 'ciphercare_key_memory_bytes', help: 'Evaluation keys held, every copy: stored envelopes plus the workers\' loaded keys.', value: stored + memory.keyBytes },
      { name: 'ciphercare_key_memory_limit_bytes', help: 'The bound of ciphercare_key_memory_bytes (sessionCacheBytes).', value: this.keyMemoryLimit },
    ];
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}
