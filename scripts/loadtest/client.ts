// One simulated user of the load test: its own CKKS key pair (no vault), its own ProviderClient
// (axios, keep-alive) with the client's retries turned off so that every 503 and network error is
// seen, counted and retried here; every answer checked against the plaintext reference.
import { HeContext, loadSeal, postprocess, referenceForward } from '../../he-core/index.js';
import type { CatalogModel, ModelFile, PublicPlan } from '../../he-core/index.js';
import { ClientKeyPair, decryptResult, encodeKeyEnvelopeFor, encryptRequest } from '../../main/flow/he-client.js';
import { ProviderError } from '../../main/provider/errors.js';
import { ProviderClient } from '../../main/provider/provider-client.js';

export interface Endpoint {
  url: string;
  token: string;
}

/** What every client counts; summed over clients by the run. */
export interface Counters {
  /** Predictions answered and checked correct. */
  ok: number;
  /** Predictions that failed: a non-retryable error, retries exhausted, or cut by the hard stop. */
  errors: number;
  /** Answers that decrypted but disagreed with the plaintext reference (also counted in errors). */
  wrong: number;
  /** 503 answers (overloaded, evaluation_timeout, shutting_down), each retried. */
  retried503: number;
  /** Network errors (reset, refused), each retried. */
  retriedNetwork: number;
  /** 404 session_not_found: keys uploaded again and the request retried. */
  reuploads: number;
  /** Error messages by kind, for the report (first few only). */
  errorKinds: Record<string, number>;
}

export function emptyCounters(): Counters {
  return { ok: 0, errors: 0, wrong: 0, retried503: 0, retriedNetwork: 0, reuploads: 0, errorKinds: {} };
}

export interface Sample {
  /** Encrypt + round trip (with every retry and wait) + decrypt, ms. */
  endToEndMs: number;
  /** HTTP round trip of the attempt that succeeded, ms. */
  roundTripMs: number;
  /** Retries this prediction needed (503 or network). */
  retries: number;
  /** Completion time, ms since the run's start. */
  at: number;
}

export interface Check {
  tolerance: number;
}

const NETWORK_RETRIES = 6;

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });
}

/** Agreement of one decrypted output with the float64 reference: |error| within tolerance and the same class. */
export function agrees(model: ModelFile, decrypted: ArrayLike<number>, raw: readonly number[], tolerance: number): { ok: boolean; error: number } {
  const reference = referenceForward(model, raw);
  let error = 0;
  for (let i = 0; i < reference.length; i++) error = Math.max(error, Math.abs(decrypted[i]! - reference[i]!));
  const classOf = (out: ArrayLike<number>): number | undefined => postprocess(model.postprocess, out).classIndex;
  const sameClass = model.task === 'regression' || classOf(decrypted) === classOf(reference);
  return { ok: error <= tolerance && sameClass, error };
}

export class LoadClient {
  readonly counters = emptyCounters();
  readonly samples: Sample[] = [];
  maxError = 0;
  private sessionId = '';
  private next = 0;

  private constructor(
    readonly index: number,
    private readonly entry: CatalogModel,
    private readonly model: ModelFile,
    private readonly rows: readonly number[][],
    private readonly provider: ProviderClient,
    private readonly ctx: HeContext,
    private readonly pair: ClientKeyPair,
    private readonly keyEnvelope: Uint8Array,
    private readonly tolerance: number,
  ) {
    this.next = (index * 7919) % rows.length;
  }

  get plan(): PublicPlan {
    return this.entry.plans.single;
  }

  get keyBytes(): number {
    return this.keyEnvelope.byteLength;
  }

  static async create(index: number, endpoint: Endpoint, entry: CatalogModel, model: ModelFile, rows: readonly number[][]): Promise<LoadClient> {
    const rt = await loadSeal();
    const plan = entry.plans.single;
    const ctx = HeContext.create(rt, plan.params);
    const pair = ClientKeyPair.generate(ctx);
    const { bytes } = encodeKeyEnvelopeFor(pair, plan);
    // attempts: 1 — the loop below sees and counts every 503 and network error itself.
    const provider = new ProviderClient({ kind: 'bundled', url: endpoint.url, credential: endpoint.token, attempts: 1, timeoutMs: 120_000 });
    const tolerance = Math.max(...model.testVectors.map((tv) => tv.tolerance));
    // Warm-up, as an app that has been open a while: the key pair's first encryptions make its
    // encoder and encryptor (their kernel, SEAL's template ciphertext, the first one's check by
    // decryption; he-core/client/fast-encryption.ts), tens of milliseconds once per key pair.
    for (let i = 0; i < 2; i++) encryptRequest(pair, plan, [rows[(index + i) % rows.length]!]);
    return new LoadClient(index, entry, model, rows, provider, ctx, pair, bytes, tolerance);
  }

  private countError(kind: string): void {
    this.counters.errors++;
    this.counters.errorKinds[kind] = (this.counters.errorKinds[kind] ?? 0) + 1;
  }

  /** Runs `call`, retrying 503s (after Retry-After) and network errors (with backoff) until success or `hard` aborts. */
  private async withRetries<T>(call: () => Promise<T>, hard: AbortSignal): Promise<{ value: T; retries: number; lastMs: number }> {
    let retries = 0;
    let network = 0;
    for (;;) {
      const started = performance.now();
      try {
        const value = await call();
        return { value, retries, lastMs: performance.now() - started };
      } catch (err) {
        if (!(err instanceof ProviderError) || hard.aborted) throw err;
        if (err.status === 503) {
          this.counters.retried503++;
          retries++;
          // Honour Retry-After (1 s for overloaded), with jitter so that the clients do not return in step.
          const after = (err.retryAfterSeconds ?? 1) * 1000;
          await sleep(Math.min(after, 5_000) * (0.5 + Math.random()), hard);
          continue;
        }
        if (err.code === 'network' && network < NETWORK_RETRIES) {
          this.counters.retriedNetwork++;
          retries++;
          network++;
          await sleep(100 * 2 ** network, hard);
          continue;
        }
        throw err;
      }
    }
  }

  async open(hard: AbortSignal): Promise<void> {
    const { value } = await this.withRetries(() => this.provider.createSession(this.entry.id, 'single', this.keyEnvelope, { signal: hard }), hard);
    this.sessionId = value.sessionId;
  }

  /** One prediction: encrypt, evaluate (retried as needed), decrypt, check. */
  async once(hard: AbortSignal, t0: number): Promise<void> {
    const raw = this.rows[this.next++ % this.rows.length]!;
    const started = performance.now();
    try {
      const request = encryptRequest(this.pair, this.plan, [raw]);
      const attempt = await this.withRetries(() => this.provider.predict(this.sessionId, request, { signal: hard }), hard).catch(async (err: unknown) => {
        if (!(err instanceof ProviderError) || err.code !== 'session_not_found') throw err;
        // The service forgot the keys (restart, eviction): upload them again and retry.
        this.counters.reuploads++;
        await this.open(hard);
        return this.withRetries(() => this.provider.predict(this.sessionId, request, { signal: hard }), hard);
      });
      const outputs = decryptResult(this.pair, this.plan, attempt.value, 1);
      const check = agrees(this.model, outputs[0]!, raw, this.tolerance);
      this.maxError = Math.max(this.maxError, check.error);
      if (!check.ok) {
        this.counters.wrong++;
        this.countError('wrong answer');
        return;
      }
      const ended = performance.now();
      this.counters.ok++;
      this.samples.push({ endToEndMs: ended - started, roundTripMs: attempt.lastMs, retries: attempt.retries, at: ended - t0 });
    } catch (err) {
      if (hard.aborted) this.countError('cut by the hard stop');
      else this.countError(err instanceof ProviderError ? `${err.code}${err.status ? ` (${err.status})` : ''}` : (err as Error).message.slice(0, 80));
    }
  }

  /** Loops until `deadline` (ms, performance.now()); a request in flight at the deadline finishes unless `hard` aborts it. */
  async run(deadline: number, hard: AbortSignal, t0: number): Promise<void> {
    while (performance.now() < deadline && !hard.aborted) await this.once(hard, t0);
  }

  async close(): Promise<void> {
    await this.provider.deleteSession(this.sessionId).catch(() => undefined);
    this.pair.dispose();
    this.ctx.dispose();
  }
}
