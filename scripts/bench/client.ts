// The benchmark's client: the app's own pieces (ProviderClient over axios, the he-client key pair,
// request encryption and result decryption), one key pair and one session per model and mode.
import { HeContext, loadSeal } from '../../he-core/index.js';
import type { CatalogModel, PlanMode, PublicPlan } from '../../he-core/index.js';
import { ClientKeyPair, decryptResult, encodeKeyEnvelopeFor, encryptRequestPartsParallel } from '../../main/flow/he-client.js';
import { ProviderClient } from '../../main/provider/provider-client.js';

export interface Endpoint {
  url: string;
  token: string;
}

export interface Exchange {
  outputs: Float64Array[];
  encryptMs: number;
  roundTripMs: number;
  decryptMs: number;
  /** Encrypt + HTTP round trip + decrypt, as one span. */
  endToEndMs: number;
  upBytes: number;
  downBytes: number;
}

export interface KeyMaterial {
  ctx: HeContext;
  pair: ClientKeyPair;
  envelope: Uint8Array;
  /** ClientKeyPair.generate + evaluation keys (relinearisation + the plan's Galois steps) + envelope. */
  keygenMs: number;
}

export function providerFor(endpoint: Endpoint): ProviderClient {
  return new ProviderClient({ kind: 'bundled', url: endpoint.url, credential: endpoint.token, timeoutMs: 600_000 });
}

/** A fresh key pair and evaluation-key envelope for `plan`; the caller disposes `pair` and `ctx`. */
export async function generateKeys(plan: PublicPlan): Promise<KeyMaterial> {
  const rt = await loadSeal();
  const ctx = HeContext.create(rt, plan.params);
  try {
    const started = performance.now();
    const pair = ClientKeyPair.generate(ctx);
    try {
      const { bytes } = encodeKeyEnvelopeFor(pair, plan);
      return { ctx, pair, envelope: bytes, keygenMs: performance.now() - started };
    } catch (err) {
      pair.dispose();
      throw err;
    }
  } catch (err) {
    ctx.dispose();
    throw err;
  }
}

/** Key generation alone, timed and freed. */
export async function keygenMs(plan: PublicPlan): Promise<{ ms: number; envelopeBytes: number }> {
  const keys = await generateKeys(plan);
  keys.pair.dispose();
  keys.ctx.dispose();
  return { ms: keys.keygenMs, envelopeBytes: keys.envelope.byteLength };
}

export class BenchClient {
  private disposed = false;

  private constructor(
    readonly model: CatalogModel,
    readonly mode: PlanMode,
    readonly provider: ProviderClient,
    private readonly keys: KeyMaterial,
    readonly sessionId: string,
    /** Time of the session upload (the key envelope POST). */
    readonly uploadMs: number,
  ) {}

  get plan(): PublicPlan {
    return this.model.plans[this.mode];
  }

  get keygenMs(): number {
    return this.keys.keygenMs;
  }

  get keyEnvelopeBytes(): number {
    return this.keys.envelope.byteLength;
  }

  /** Generates keys and opens a session (uploads the evaluation keys). */
  static async open(endpoint: Endpoint, model: CatalogModel, mode: PlanMode): Promise<BenchClient> {
    const provider = providerFor(endpoint);
    const keys = await generateKeys(model.plans[mode]);
    try {
      const started = performance.now();
      const session = await provider.createSession(model.id, mode, keys.envelope);
      const client = new BenchClient(model, mode, provider, keys, session.sessionId, performance.now() - started);
      if (mode === 'single') keys.pair.zeros.prepare(model.plans.single);
      return client;
    } catch (err) {
      keys.pair.dispose();
      keys.ctx.dispose();
      throw err;
    }
  }

  /** One request: encrypt, HTTP round trip, decrypt. */
  async predict(samples: readonly (readonly number[])[]): Promise<Exchange> {
    const t0 = performance.now();
    // As the app does (PredictionFlow): requests of many ciphertexts on both cores.
    // Envelope parts, sent without joining them (as the app sends).
    const request = await encryptRequestPartsParallel(this.keys.pair, this.plan, samples);
    const t1 = performance.now();
    const response = await this.provider.predict(this.sessionId, request);
    const t2 = performance.now();
    const outputs = decryptResult(this.keys.pair, this.plan, response, samples.length);
    const t3 = performance.now();
    // As the app does once an answer is shown (PredictionFlow.prepareNext): the next single
    // prediction's encryption prepared while idle (he-core/client/zeros.ts), outside the timings.
    if (this.mode === 'single') this.keys.pair.zeros.prepare(this.plan);
    return { outputs, encryptMs: t1 - t0, roundTripMs: t2 - t1, decryptMs: t3 - t2, endToEndMs: t3 - t0, upBytes: request.byteLength, downBytes: response.byteLength };
  }

  /** Forgets the session at the service and frees the SEAL objects. */
  async close(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    try {
      await this.provider.deleteSession(this.sessionId);
    } finally {
      this.keys.pair.dispose();
      this.keys.ctx.dispose();
    }
  }
}

/**
 * The service's own evaluation time, read from its Prometheus endpoint: the histogram
 * `ciphercare_evaluation_duration_seconds` is fed by the same figure as the `server-timing`
 * header's `evaluate;dur=` of each prediction, so the difference of its sum across one
 * (sequential) prediction is that prediction's evaluation time.
 */
export class EvaluationClock {
  constructor(private readonly endpoint: Endpoint) {}

  async read(modelId: string, mode: PlanMode): Promise<{ seconds: number; count: number }> {
    const res = await fetch(`${this.endpoint.url}/v1/metrics`, { headers: { authorization: `Bearer ${this.endpoint.token}` } });
    if (!res.ok) throw new Error(`GET /v1/metrics answered ${res.status}`);
    const text = await res.text();
    const labels = `{model="${modelId}",mode="${mode}"}`;
    const value = (name: string): number => {
      const line = text.split('\n').find((l) => l.startsWith(`ciphercare_evaluation_duration_seconds_${name}${labels} `));
      return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
    };
    return { seconds: value('sum'), count: value('count') };
  }
}
