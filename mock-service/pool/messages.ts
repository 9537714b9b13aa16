import type { ApiErrorCode, PlanMode } from '../../he-core/index.js';

/** What the main thread asks of an evaluation worker. Key bytes live in shared memory (no copy). */
export type WorkerRequest =
  | { kind: 'open-session'; jobId: number; sessionId: string; modelId: string; mode: PlanMode; keys: Uint8Array }
  | { kind: 'predict'; jobId: number; sessionId: string; modelId: string; mode: PlanMode; keys: Uint8Array; body: Uint8Array }
  /** One share of a batch request split across workers; `body` is shared memory nobody writes to any more. */
  | { kind: 'predict-part'; jobId: number; sessionId: string; modelId: string; mode: PlanMode; keys: Uint8Array; body: Uint8Array; part: number; parts: number }
  /** Joins the shares (serialised partial sums from this service's own workers) and finishes the plan. */
  | { kind: 'predict-merge'; jobId: number; sessionId: string; modelId: string; mode: PlanMode; keys: Uint8Array; shares: (Uint8Array | null)[][] }
  | { kind: 'forget'; sessionId: string };

export type WorkerResponse =
  /**
   * `encoderConstants`: plans whose batch weights go through the (slower) vector encoder;
   * `sealMac`: batch plans whose products SEAL accumulates because the kernel cannot be used;
   * `sealDiagonals`: single plans whose diagonal products SEAL sums because the kernel cannot be used.
   */
  | { kind: 'ready'; encoderConstants: string[]; sealMac: string[]; sealDiagonals?: string[]; memory?: WorkerMemory }
  | { kind: 'start-failed'; message: string }
  | { kind: 'done'; jobId: number; result: Uint8Array | null; evaluateMs: number; share?: (Uint8Array | null)[]; memory?: WorkerMemory }
  | { kind: 'failed'; jobId: number; code: ApiErrorCode; message: string; memory?: WorkerMemory };

/** What a worker holds, reported with each answer. */
export interface WorkerMemory {
  /** Loaded key sets and their bytes (`loadedKeyBytes` of their plans). */
  keySets: number;
  keyBytes: number;
  /** The WebAssembly heap (it only grows). */
  heapBytes: number;
  /** Sessions whose keys the worker freed to stay within its bound since its last answer. */
  evicted: string[];
  /** Key-switching tasks its evaluators' helper threads have run, in all (a second core in use). */
  helperTasks: number;
  /** Its evaluators' helper threads' shared memory (tables, the keys in use, buffers), bytes. */
  helperBytes: number;
}

export interface WorkerInit {
  /** Model files as JSON text; every worker compiles its own plans (deterministic). */
  models: string[];
  /** Loaded evaluation-key sets a worker keeps (least recently used beyond this are freed). */
  keyCacheEntries: number;
  /** Bytes of loaded evaluation keys a worker keeps (`loadedKeyBytes`; least recently used beyond this are freed). */
  keyCacheBytes: number;
  /**
   * Word 0: how many workers have a job, kept by the pool. A worker's key switches use the second
   * core (a helper thread) only while it is the only one busy.
   */
  busy: Int32Array;
  /** Workers in the pool: with one, the service was given one core for evaluation, and keeps to it. */
  poolSize: number;
}
