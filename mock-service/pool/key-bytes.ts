// What a session's evaluation keys cost in memory once a worker has loaded them into SEAL, computed
// from the plan's parameters (no keys needed). The envelope a client uploads is seeded (each key's
// second polynomial replaced by a 64-byte seed) and zstd-compressed; loaded, SEAL keeps every key as
// (primes - 1) components of 2 polynomials of N coefficients at every prime, 8 bytes each: about
// 2.5–3× the envelope. `sessionCacheBytes` bounds the envelopes and these loaded copies together.
import type { PublicPlan } from '../../he-core/index.js';

/** Bytes of one SEAL-loaded key set (relinearisation key and the plan's Galois keys) for `plan`. */
export function loadedKeyBytes(plan: Pick<PublicPlan, 'params' | 'galoisSteps' | 'relinearization'>): number {
  const n = plan.params.polyModulusDegree;
  const primes = plan.params.primes.length;
  const keys = (plan.relinearization ? 1 : 0) + plan.galoisSteps.length;
  if (keys === 0) return 0;
  // Per key: (primes - 1) decomposition components, each a ciphertext of 2 polynomials at every prime.
  const coefficients = keys * (primes - 1) * 2 * n * primes * 8;
  // SEAL's objects around them: a Galois key set's table has one (empty) vector per possible index (N/2
  // to N of 24 bytes), and each component has its own allocation and metadata (a few hundred bytes).
  const tables = plan.galoisSteps.length > 0 ? 24 * n : 0;
  return coefficients + tables + keys * (primes - 1) * 256;
}

/** The memory budget of the evaluation keys: the envelope store and each worker's loaded keys. */
export interface KeyBudget {
  /** Envelope bytes the session store may hold. */
  storeBytes: number;
  /** Loaded key bytes each evaluation worker may hold. */
  workerBytes: number;
  workers: number;
  /** storeBytes + workers × workerBytes: what the operator's `sessionCacheBytes` bounds. */
  totalBytes: number;
}

export interface KeyBudgetInput {
  /** The operator's bound; undefined: DEFAULT_SESSION_CACHE_BYTES, raised with many workers (see keyBudget). */
  sessionCacheBytes?: number | undefined;
  /** Per worker; undefined: half of sessionCacheBytes shared among the workers. */
  workerKeyCacheBytes?: number | undefined;
  /** Worker threads in this process (0: a front, which loads no keys). */
  workers: number;
  /** Every plan this service serves: each worker must hold one loaded key set of the largest. */
  plans: readonly { modelId: string; mode: string; plan: Pick<PublicPlan, 'params' | 'galoisSteps' | 'relinearization'> }[];
  /** The store holds the envelopes (embedded service); false when sessions live elsewhere (Redis). */
  storeInMemory: boolean;
}

const MiB = 2 ** 20;
/**
 * 1 GiB: what the service held before the loaded keys were counted, with its "512 MiB" bound on the
 * envelopes alone (512 MiB of envelopes and 16 loaded breast-cancer-mlp sets in each of 2 workers), so
 * that the default keeps as many sessions stored and loaded as before, now within its stated bound.
 */
export const DEFAULT_SESSION_CACHE_BYTES = 1024 * MiB;
const mib = (b: number): string => `${(b / MiB).toFixed(1)} MiB`;

/**
 * Splits `sessionCacheBytes` between the session store's envelopes and the workers' loaded keys.
 * Throws an Error naming the option at fault when the budget cannot hold one session of every model.
 */
export function keyBudget(input: KeyBudgetInput): KeyBudget {
  const { workers } = input;
  if (input.sessionCacheBytes !== undefined && (!Number.isSafeInteger(input.sessionCacheBytes) || input.sessionCacheBytes <= 0)) {
    throw new Error(`--session-cache-bytes takes a positive whole number of bytes (got ${input.sessionCacheBytes})`);
  }
  if (input.workerKeyCacheBytes !== undefined && (!Number.isSafeInteger(input.workerKeyCacheBytes) || input.workerKeyCacheBytes <= 0)) {
    throw new Error(`--worker-key-cache-bytes takes a positive whole number of bytes (got ${input.workerKeyCacheBytes})`);
  }
  let largest = { bytes: 0, name: '' };
  for (const p of input.plans) {
    const bytes = loadedKeyBytes(p.plan);
    if (bytes > largest.bytes) largest = { bytes, name: `${p.modelId}/${p.mode}` };
  }
  // The default works on any machine: with many workers it grows so that each can hold two of the largest sets.
  const total = input.sessionCacheBytes ?? Math.max(DEFAULT_SESSION_CACHE_BYTES, 2 * (input.workerKeyCacheBytes ?? 2 * largest.bytes) * workers);
  const workerBytes = workers === 0 ? 0 : (input.workerKeyCacheBytes ?? Math.floor(total / 2 / workers));
  const storeBytes = input.storeInMemory ? total - workers * workerBytes : 0;
  if (workers > 0 && workerBytes < largest.bytes) {
    throw new Error(
      `each evaluation worker needs room for one loaded key set of ${largest.name} (${mib(largest.bytes)}), but gets ${mib(workerBytes)}` +
        (input.workerKeyCacheBytes === undefined ? ` (half of --session-cache-bytes ${mib(total)} shared by ${workers} workers): raise --session-cache-bytes` : ' (--worker-key-cache-bytes): raise it'),
    );
  }
  // An envelope is at most the seeded, uncompressed keys: about half of the loaded set.
  if (input.storeInMemory && storeBytes < largest.bytes / 2) {
    throw new Error(
      `--session-cache-bytes ${mib(total)} leaves ${mib(storeBytes)} for the session store after ${workers} workers × ${mib(workerBytes)} of loaded keys; ` +
        `it must hold one key envelope of ${largest.name} (up to ${mib(largest.bytes / 2)}): raise --session-cache-bytes or lower --worker-key-cache-bytes`,
    );
  }
  return { storeBytes, workerBytes, workers, totalBytes: input.storeInMemory ? total : workers * workerBytes };
}
