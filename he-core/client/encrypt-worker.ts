// The encryption helper thread of a key pair (parallel.ts): its own SEAL instance, the same
// secret key (sent by its key pair, in this process only), encrypting its share of a request's
// slot vectors. Nothing here is logged, and the secret key's bytes are zeroed once loaded.
import { parentPort, workerData } from 'node:worker_threads';
import { HeContext } from '../params/context.js';
import type { HeParameters } from '../params/parameters.js';
import { loadSeal } from '../seal/runtime.js';
import { ClientKeyPair } from './client-keys.js';
import { encryptVector } from './crypto.js';
import type { RequestCompression } from './crypto.js';

export interface EncryptWorkerInit {
  params: HeParameters;
  /** The secret key's serialised bytes (transferred; zeroed here once loaded). */
  secretKey: Uint8Array;
}

/** One request's share: take vector indices from `next` until none is left. */
export interface EncryptJob {
  job: number;
  /** count × slots doubles: the slot vectors. */
  vectors: SharedArrayBuffer;
  slots: number;
  count: number;
  /** Int32 at 0: the next vector index to take (Atomics.add). */
  next: SharedArrayBuffer;
  scale: number;
  compression: RequestCompression;
  /** Tests only: the thread ends after taking this many vectors, holding the last one unfinished. */
  exitAfter?: number;
}

export type EncryptReply = { ready: true } | { job: number; results: [number, Uint8Array][] } | { job: number; error: string } | { startError: string };

const port = parentPort!;
const init = workerData as EncryptWorkerInit;
let pair: ClientKeyPair | null = null;
try {
  const ctx = HeContext.create(await loadSeal(), init.params);
  pair = ClientKeyPair.fromSecretKeyBytes(ctx, init.secretKey);
  port.postMessage({ ready: true } satisfies EncryptReply);
} catch (err) {
  port.postMessage({ startError: err instanceof Error ? err.message : String(err) } satisfies EncryptReply);
} finally {
  init.secretKey.fill(0);
}

port.on('message', (job: EncryptJob) => {
  if (!pair) return;
  const results: [number, Uint8Array][] = [];
  try {
    const next = new Int32Array(job.next);
    for (;;) {
      const i = Atomics.add(next, 0, 1);
      if (i >= job.count) break;
      if (job.exitAfter !== undefined && results.length >= job.exitAfter) process.exit(3);
      const vector = new Float64Array(job.vectors, i * job.slots * 8, job.slots);
      const bytes = encryptVector(pair, vector, job.scale, job.compression);
      // Transfer, not copy: a whole buffer of its own (a view into a larger one is copied out first).
      results.push([i, bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : bytes.slice()]);
    }
    port.postMessage({ job: job.job, results } satisfies EncryptReply, [...new Set(results.map(([, bytes]) => bytes.buffer as ArrayBuffer))]);
  } catch (err) {
    port.postMessage({ job: job.job, error: err instanceof Error ? err.message : String(err) } satisfies EncryptReply);
  }
});
