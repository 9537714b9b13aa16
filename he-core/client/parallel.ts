import { Worker } from 'node:worker_threads';
import { HeError } from '../errors.js';
import type { PublicPlan } from '../compiler/plan.js';
import { EnvelopeKind, encodeEnvelopeParts, joinEnvelope } from '../envelope/envelope.js';
import type { EnvelopeParts } from '../envelope/envelope.js';
import { free } from '../seal/scope.js';
import type { ClientKeyPair } from './client-keys.js';
import { encryptVector, encryptVectors, layoutRequest } from './crypto.js';
import type { RequestCompression } from './crypto.js';
import type { EncryptJob, EncryptReply, EncryptWorkerInit } from './encrypt-worker.js';

// Encryption on both cores. A request of many ciphertexts (mnist-cnn's batch: 784 of them, about
// 5 s on one core) is encrypted by the calling thread and one helper thread of the same process,
// which has its own SEAL instance and the key pair's secret key (sent to it once, when it starts;
// it never leaves the process). Both take vector indices from one shared counter, so neither waits
// for the other; each ciphertext is an independent symmetric encryption with its own random seed.
// If the helper is still starting, the caller simply takes more of the work; if it fails or dies
// with vectors in hand, the caller encrypts those itself and later requests use one thread
// (`helperProblem` says why).

/** Below this many ciphertexts a request is encrypted on the calling thread alone. */
export const PARALLEL_MIN_VECTORS = 16;

const workerUrl = new URL(import.meta.url.endsWith('.ts') ? './encrypt-worker.ts' : './encrypt-worker.js', import.meta.url);
const execArgv = import.meta.url.endsWith('.ts') ? ['--import', import.meta.resolve('tsx')] : [];

type Outcome = { results: [number, Uint8Array][] } | { error: string };

/** The helper thread of one key pair. */
export class EncryptionHelper {
  private readonly worker: Worker;
  private problem: string | null = null;
  private nextJob = 0;
  private readonly pending = new Map<number, (outcome: Outcome) => void>();
  private disposed = false;
  private readonly started: Promise<boolean>;
  private markStarted: (ok: boolean) => void = () => undefined;

  constructor(keys: ClientKeyPair) {
    // A copy in a buffer of its own, moved (not copied) to the helper, which zeroes it once loaded.
    const exported = keys.exportSecretKey();
    const secretKey = exported.slice();
    exported.fill(0);
    const init: EncryptWorkerInit = { params: keys.ctx.params, secretKey };
    try {
      this.worker = new Worker(workerUrl, { workerData: init, execArgv, transferList: [secretKey.buffer as ArrayBuffer] });
    } finally {
      // Detached once moved; zeroed here if the worker could not be made.
      if (secretKey.buffer.byteLength > 0) secretKey.fill(0);
    }
    this.worker.unref();
    this.started = new Promise<boolean>((resolve) => (this.markStarted = resolve));
    this.worker.on('message', (reply: EncryptReply) => {
      if ('ready' in reply) this.markStarted(true);
      else if ('startError' in reply) this.fail(`the encryption helper thread could not start: ${reply.startError}`);
      else if ('job' in reply) {
        const settle = this.pending.get(reply.job);
        this.pending.delete(reply.job);
        if (this.pending.size === 0) this.worker.unref();
        if ('error' in reply) this.fail(`the encryption helper thread failed: ${reply.error}`);
        settle?.('error' in reply ? { error: reply.error } : { results: reply.results });
      }
    });
    this.worker.on('error', (err: Error) => this.fail(`the encryption helper thread failed: ${err.message}`));
    this.worker.on('exit', (code: number) => this.fail(`the encryption helper thread exited (${code})`));
  }

  /** Ciphertexts the helper thread has made, in all. */
  helped = 0;

  /** Why the helper is not used, or null. */
  get helperProblem(): string | null {
    return this.problem;
  }

  /** Resolves when the helper thread has loaded its SEAL instance and key (true) or cannot (false). */
  ready(): Promise<boolean> {
    return this.started;
  }

  private fail(problem: string): void {
    this.problem ??= problem;
    this.markStarted(false);
    for (const settle of this.pending.values()) settle({ error: problem });
    this.pending.clear();
  }

  /**
   * Encrypts `vectors` (each `slots` doubles) with the helper's help: the same result as
   * `encryptVector` on each, in order.
   */
  async encrypt(keys: ClientKeyPair, vectors: readonly Float64Array[], scale: number, compression: RequestCompression, testExitAfter?: number): Promise<Uint8Array[]> {
    const count = vectors.length;
    const slots = vectors[0]?.length ?? 0;
    const shared = new SharedArrayBuffer(count * slots * 8);
    const data = new Float64Array(shared);
    vectors.forEach((v, i) => data.set(v, i * slots));
    const next = new SharedArrayBuffer(4);
    const counter = new Int32Array(next);
    const out: (Uint8Array | undefined)[] = new Array<Uint8Array | undefined>(count);
    let reply: Promise<Outcome> | null = null;
    try {
      if (!this.problem && !this.disposed) {
        const job = this.nextJob++;
        reply = new Promise<Outcome>((resolve) => this.pending.set(job, resolve));
        this.worker.ref();
        this.worker.postMessage({ job, vectors: shared, slots, count, next, scale, compression, ...(testExitAfter === undefined ? {} : { exitAfter: testExitAfter }) } satisfies EncryptJob);
      }
      const pt = new keys.ctx.seal.Plaintext();
      let mine = 0;
      try {
        for (;;) {
          const i = Atomics.add(counter, 0, 1);
          if (i >= count) break;
          out[i] = encryptVector(keys, vectors[i]!, scale, compression, pt);
          mine++;
        }
        // The helper took the rest: wait for them (or, if it failed, encrypt what it held).
        if (mine < count && reply) {
          const outcome = await reply;
          if ('results' in outcome) {
            for (const [i, bytes] of outcome.results) out[i] = bytes;
            this.helped += outcome.results.length;
          }
        }
        for (let i = 0; i < count; i++) out[i] ??= encryptVector(keys, vectors[i]!, scale, compression, pt);
      } finally {
        free(pt);
      }
      return out as Uint8Array[];
    } finally {
      // The inputs in clear do not outlive the request.
      data.fill(0);
    }
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.fail('the key pair was disposed');
    void this.worker.terminate();
  }
}

const helpers = new WeakMap<ClientKeyPair, EncryptionHelper>();

/** The key pair's helper thread, started on first use (it ends when the key pair is disposed). */
export function encryptionHelper(keys: ClientKeyPair): EncryptionHelper {
  let helper = helpers.get(keys);
  if (!helper) {
    const made = new EncryptionHelper(keys);
    helper = made;
    helpers.set(keys, made);
    keys.onDispose(() => made.dispose());
  }
  return helper;
}

/** `encryptVectors` on both cores for requests of at least PARALLEL_MIN_VECTORS ciphertexts. */
export async function encryptVectorsParallel(keys: ClientKeyPair, plan: PublicPlan, vectors: readonly Float64Array[], compression: RequestCompression = 'zstd'): Promise<Uint8Array[]> {
  if (plan.params.fingerprint !== keys.fingerprint) throw new HeError('params_mismatch', 'the key pair is for another parameter set');
  if (vectors.length < PARALLEL_MIN_VECTORS) return encryptVectors(keys, plan, vectors, compression);
  return encryptionHelper(keys).encrypt(keys, vectors, plan.input.scale, compression);
}

/** `encryptRequest` with large requests encrypted on both cores (`encryptVectorsParallel`). */
export async function encryptRequestParallel(keys: ClientKeyPair, plan: PublicPlan, samples: readonly (readonly number[])[], compression: RequestCompression = 'zstd'): Promise<Uint8Array> {
  return joinEnvelope(await encryptRequestPartsParallel(keys, plan, samples, compression));
}

/**
 * `encryptRequestParallel` as envelope parts (`encodeEnvelopeParts`), to send without joining:
 * what the app and the benchmark send.
 */
export async function encryptRequestPartsParallel(keys: ClientKeyPair, plan: PublicPlan, samples: readonly (readonly number[])[], compression: RequestCompression = 'zstd'): Promise<EnvelopeParts> {
  const vectors = layoutRequest(plan, samples);
  const items = await encryptVectorsParallel(keys, plan, vectors, compression);
  return encodeEnvelopeParts({ kind: EnvelopeKind.ciphertexts, fingerprint: plan.params.fingerprint, items });
}
