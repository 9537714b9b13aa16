import { Worker } from 'node:worker_threads';
import type { PlanMode } from '../../he-core/index.js';
import { ServiceError } from './errors.js';
import type { WorkerInit, WorkerMemory, WorkerRequest, WorkerResponse } from './messages.js';

export interface PoolOptions {
  size: number;
  /** Jobs waiting beyond the busy workers; past it callers get 503 overloaded. */
  maxQueue: number;
  /** Time limit of one job; past it the worker is replaced and the caller gets evaluation_timeout. */
  jobTimeoutMs: number;
  models: string[];
  keyCacheEntries: number;
  /** Loaded key bytes each worker keeps (`loadedKeyBytes`); see `keyBudget`. */
  keyCacheBytes: number;
}

/** What the workers hold, as each last reported it (with its last answer). */
export interface PoolMemory {
  /** Per worker: loaded key sets, their bytes, the WebAssembly heap. */
  workers: { keySets: number; keyBytes: number; heapBytes: number; helperTasks: number; helperBytes: number }[];
  keyBytes: number;
  heapBytes: number;
  /** The bound of each worker's loaded keys. */
  keyCacheBytes: number;
}

export type PoolJob =
  | { kind: 'open-session'; sessionId: string; modelId: string; mode: PlanMode; keys: Uint8Array }
  | { kind: 'predict'; sessionId: string; modelId: string; mode: PlanMode; keys: Uint8Array; body: Uint8Array }
  | { kind: 'predict-part'; sessionId: string; modelId: string; mode: PlanMode; keys: Uint8Array; body: Uint8Array; part: number; parts: number }
  | { kind: 'predict-merge'; sessionId: string; modelId: string; mode: PlanMode; keys: Uint8Array; shares: (Uint8Array | null)[][] };

export type PredictJob = Extract<PoolJob, { kind: 'predict' }>;

export interface PoolResult {
  result: Uint8Array | null;
  evaluateMs: number;
  /** A share's serialised partial sums (predict-part). */
  share?: (Uint8Array | null)[];
}

interface Pending {
  id: number;
  job: PoolJob;
  resolve: (r: PoolResult) => void;
  reject: (e: Error) => void;
}

interface Slot {
  worker: Worker;
  ready: boolean;
  job: Pending | null;
  timer: NodeJS.Timeout | null;
  sessions: Set<string>;
  memory: WorkerMemory | null;
}

// From TypeScript sources (tests, tsx) the worker needs tsx's loader; a build ships worker.js.
const workerUrl = new URL(import.meta.url.endsWith('.ts') ? './worker.ts' : './worker.js', import.meta.url);
const workerExecArgv = import.meta.url.endsWith('.ts') ? ['--import', import.meta.resolve('tsx')] : [];

/** A fixed set of evaluation workers, each with its own SEAL instance, fed from one bounded queue. */
export class WorkerPool {
  private readonly slots: Slot[] = [];
  /** Plans whose batch weights a worker encodes as vectors (the fast constant path did not verify). */
  readonly encoderConstants = new Set<string>();
  /** Batch plans whose products a worker accumulates with SEAL (the kernel could not be used). */
  readonly sealMac = new Set<string>();
  /** Single plans whose linear layers' diagonal products a worker sums with SEAL (the kernel could not be used). */
  readonly sealDiagonals = new Set<string>();
  private readonly queue: Pending[] = [];
  private nextId = 1;
  private closed = false;
  private readyWaiters: { resolve: () => void; reject: (e: Error) => void }[] = [];
  private startError: Error | null = null;

  /** Word 0: workers with a job (shared with the workers: see WorkerInit.busy). */
  private readonly busy = new Int32Array(new SharedArrayBuffer(4));

  private countBusy(): void {
    Atomics.store(this.busy, 0, this.slots.filter((s) => s.job).length);
  }

  constructor(private readonly options: PoolOptions) {
    for (let i = 0; i < options.size; i++) this.slots.push(this.spawn());
  }

  private spawn(): Slot {
    const init: WorkerInit = { models: this.options.models, keyCacheEntries: this.options.keyCacheEntries, keyCacheBytes: this.options.keyCacheBytes, busy: this.busy, poolSize: this.options.size };
    const worker = new Worker(workerUrl, { workerData: init, execArgv: workerExecArgv });
    const slot: Slot = { worker, ready: false, job: null, timer: null, sessions: new Set(), memory: null };
    worker.on('message', (msg: WorkerResponse) => this.onMessage(slot, msg));
    worker.on('error', (err: unknown) => this.onExit(slot, err instanceof Error ? err : new Error(String(err))));
    worker.on('exit', (code) => this.onExit(slot, new Error(`evaluation worker exited with code ${code}`)));
    return slot;
  }

  /** Resolves when every worker has compiled its plans. */
  ready(): Promise<void> {
    if (this.startError) return Promise.reject(this.startError);
    if (this.slots.every((s) => s.ready)) return Promise.resolve();
    return new Promise((resolve, reject) => this.readyWaiters.push({ resolve, reject }));
  }

  private onMessage(slot: Slot, msg: WorkerResponse): void {
    if (msg.kind !== 'start-failed' && msg.memory) {
      slot.memory = msg.memory;
      for (const id of msg.memory.evicted) slot.sessions.delete(id);
    }
    if (msg.kind === 'ready') {
      slot.ready = true;
      for (const plan of msg.encoderConstants) this.encoderConstants.add(plan);
      for (const plan of msg.sealMac) this.sealMac.add(plan);
      for (const plan of msg.sealDiagonals ?? []) this.sealDiagonals.add(plan);
      if (this.slots.every((s) => s.ready)) {
        for (const w of this.readyWaiters.splice(0)) w.resolve();
      }
      this.dispatch();
      return;
    }
    if (msg.kind === 'start-failed') {
      this.startError = new Error(`an evaluation worker failed to start: ${msg.message}`);
      for (const w of this.readyWaiters.splice(0)) w.reject(this.startError);
      return;
    }
    const pending = slot.job;
    if (!pending || pending.id !== msg.jobId) return;
    this.finish(slot);
    if (msg.kind === 'done') {
      slot.sessions.add(pending.job.sessionId);
      pending.resolve({ result: msg.result, evaluateMs: msg.evaluateMs, ...(msg.share ? { share: msg.share } : {}) });
    } else {
      pending.reject(new ServiceError(msg.code, msg.code === 'internal_error' ? 500 : 400, msg.message));
    }
    this.dispatch();
  }

  private onExit(slot: Slot, err: Error): void {
    const index = this.slots.indexOf(slot);
    if (index < 0) return;
    const pending = slot.job;
    this.finish(slot);
    pending?.reject(new ServiceError('internal_error', 500, `the evaluation failed: ${err.message}`));
    if (this.closed) return;
    // Replace the worker so the pool keeps its size.
    this.slots[index] = this.spawn();
  }

  private finish(slot: Slot): void {
    if (slot.timer) clearTimeout(slot.timer);
    slot.timer = null;
    slot.job = null;
    this.countBusy();
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      const next = this.queue[0]!;
      const idle = this.slots.filter((s) => s.ready && !s.job);
      if (idle.length === 0) return;
      // Prefer a worker that already holds this session's keys.
      const slot = idle.find((s) => s.sessions.has(next.job.sessionId)) ?? idle[0]!;
      this.queue.shift();
      this.assign(slot, next);
    }
  }

  private assign(slot: Slot, pending: Pending): void {
    slot.job = pending;
    this.countBusy();
    slot.timer = setTimeout(() => {
      if (slot.job !== pending) return;
      this.finish(slot);
      pending.reject(new ServiceError('evaluation_timeout', 503, `the evaluation took longer than ${this.options.jobTimeoutMs} ms`, 1));
      // The only way to stop a WebAssembly computation is to end its thread.
      const index = this.slots.indexOf(slot);
      if (index >= 0) {
        this.slots[index] = this.spawn();
        void slot.worker.terminate();
      }
    }, this.options.jobTimeoutMs);
    const request: WorkerRequest = { ...pending.job, jobId: pending.id };
    slot.worker.postMessage(request);
  }

  /** Queues a job; refuses with 503 overloaded when the queue is full. */
  run(job: PoolJob): Promise<PoolResult> {
    if (this.closed) return Promise.reject(new ServiceError('shutting_down', 503, 'the service is shutting down', 5));
    const busy = this.slots.filter((s) => s.job).length;
    const idle = this.slots.length - busy;
    if (this.queue.length >= this.options.maxQueue + idle) {
      return Promise.reject(new ServiceError('overloaded', 503, `the evaluation queue is full (${this.options.maxQueue} waiting)`, 1));
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ id: this.nextId++, job, resolve, reject });
      this.dispatch();
    });
  }

  /** Workers in the pool. */
  get size(): number {
    return this.slots.length;
  }

  /**
   * One batch prediction split across `parts` workers (for a plan with a `batchSplit`): a share
   * of the first layer per worker, then one job that joins the shares and finishes the plan. Each
   * share and the join are ordinary queued jobs (bounded queue, time limit); the request body is
   * put in shared memory once instead of being copied to every worker. `evaluateMs` is the wall
   * time from the first share to the join's end.
   */
  async runSplit(job: PredictJob, parts = this.slots.length): Promise<PoolResult> {
    const started = performance.now();
    // A body the service read into shared memory already (`readPooledBody`) is shared as it is.
    let body = job.body;
    if (!(body.buffer instanceof SharedArrayBuffer)) {
      body = new Uint8Array(new SharedArrayBuffer(job.body.byteLength));
      body.set(job.body);
    }
    const { sessionId, modelId, mode, keys } = job;
    // Every share settles before this returns, failed or not: the caller may reuse the body's
    // memory once it does, and no worker may still be reading it then.
    const settled = await Promise.allSettled(Array.from({ length: parts }, (_, part) => this.run({ kind: 'predict-part', sessionId, modelId, mode, keys, body, part, parts })));
    const failures = settled.filter((s): s is PromiseRejectedResult => s.status === 'rejected').map((s) => s.reason as unknown);
    // A timed-out share first: its worker may still be reading the body (see the service).
    if (failures.length > 0) throw failures.find((e) => e instanceof ServiceError && e.code === 'evaluation_timeout') ?? failures[0];
    const shares = settled.map((s) => (s as PromiseFulfilledResult<PoolResult>).value);
    const merged = await this.run({ kind: 'predict-merge', sessionId, modelId, mode, keys, shares: shares.map((s) => s.share ?? []) });
    return { result: merged.result, evaluateMs: performance.now() - started };
  }

  /** Tells every worker to free a session's keys. */
  forget(sessionId: string): void {
    for (const slot of this.slots) {
      if (slot.sessions.delete(sessionId)) slot.worker.postMessage({ kind: 'forget', sessionId } satisfies WorkerRequest);
    }
  }

  /** The workers' loaded keys and heaps, as each last reported them. */
  memory(): PoolMemory {
    const workers = this.slots.map((s) => ({ keySets: s.memory?.keySets ?? 0, keyBytes: s.memory?.keyBytes ?? 0, heapBytes: s.memory?.heapBytes ?? 0, helperTasks: s.memory?.helperTasks ?? 0, helperBytes: s.memory?.helperBytes ?? 0 }));
    return {
      workers,
      keyBytes: workers.reduce((a, w) => a + w.keyBytes, 0),
      heapBytes: workers.reduce((a, w) => a + w.heapBytes, 0),
      keyCacheBytes: this.options.keyCacheBytes,
    };
  }

  stats(): { total: number; ready: number; busy: number; queue: number; queueLimit: number } {
    return {
      total: this.slots.length,
      ready: this.slots.filter((s) => s.ready).length,
      busy: this.slots.filter((s) => s.job).length,
      queue: this.queue.length,
      queueLimit: this.options.maxQueue,
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const p of this.queue.splice(0)) p.reject(new ServiceError('shutting_down', 503, 'the service is shutting down', 5));
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}
