// A client of the distributed service (tests, bench): its own CKKS keys (he-core's client side), keys
// uploaded through one front and predictions sent through any other.
import { request } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import { ContentTypes, HeContext, PlanEvaluator, Routes, compile, encodeKeyEnvelope, evaluateEnvelope, loadSeal, openKeyEnvelope } from '../../he-core/index.js';
import type { CatalogModel, CatalogResponse, ModelFile, PlanMode, Problem, PublicPlan, SessionResponse } from '../../he-core/index.js';
import { ClientKeyPair, decryptResult, encryptRequest } from '../../he-core/client/index.js';
import { API_KEY } from './cluster.js';

export interface HttpResult {
  status: number;
  headers: IncomingHttpHeaders;
  body: Uint8Array;
}

/** One HTTP request over node:http, a fresh connection each time. */
export function call(base: string, method: string, path: string, body?: Uint8Array): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = request(
      base + path,
      {
        method,
        agent: false,
        headers: {
          authorization: `Bearer ${API_KEY}`,
          ...(body ? { 'content-type': ContentTypes.envelope, 'content-length': String(body.byteLength) } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: new Uint8Array(Buffer.concat(chunks)) }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body ? Buffer.from(body.buffer, body.byteOffset, body.byteLength) : undefined);
  });
}

export function problemOf(result: HttpResult): Problem {
  return JSON.parse(Buffer.from(result.body).toString('utf8')) as Problem;
}

export async function catalogAt(base: string): Promise<CatalogModel[]> {
  const res = await call(base, 'GET', Routes.models);
  if (res.status !== 200) throw new Error(`GET /v1/models answered ${res.status}`);
  return (JSON.parse(Buffer.from(res.body).toString('utf8')) as CatalogResponse).models;
}

export class DistributedClient {
  readonly plan: PublicPlan;
  sessionId = '';
  keyEnvelope: Uint8Array = new Uint8Array(0);
  private ctx: HeContext | undefined;
  private keys: ClientKeyPair | undefined;

  constructor(
    readonly entry: CatalogModel,
    readonly mode: PlanMode,
  ) {
    this.plan = entry.plans[mode];
  }

  async generate(): Promise<void> {
    const rt = await loadSeal();
    this.ctx = HeContext.create(rt, this.plan.params);
    this.keys = ClientKeyPair.generate(this.ctx);
    const generated = this.keys.createEvaluationKeys(this.plan);
    this.keyEnvelope = encodeKeyEnvelope(this.plan.params.fingerprint, generated.relin, generated.galois);
  }

  async upload(front: string): Promise<SessionResponse> {
    const res = await call(front, 'POST', `${Routes.sessions}?model=${this.entry.id}&mode=${this.mode}`, this.keyEnvelope);
    if (res.status !== 201 && res.status !== 200) throw new Error(`session upload failed: ${res.status} ${Buffer.from(res.body).toString()}`);
    const session = JSON.parse(Buffer.from(res.body).toString('utf8')) as SessionResponse;
    this.sessionId = session.sessionId;
    return session;
  }

  encrypt(samples: readonly (readonly number[])[]): Uint8Array {
    return encryptRequest(this.keys!, this.plan, samples);
  }

  decrypt(body: Uint8Array, samples: number): Float64Array[] {
    return decryptResult(this.keys!, this.plan, body, samples);
  }

  post(front: string, body: Uint8Array): Promise<HttpResult> {
    return call(front, 'POST', Routes.predictions(this.sessionId), body);
  }

  /** The same request evaluated in this process by he-core (the reference the service must match). */
  async evaluateHere(model: ModelFile, body: Uint8Array): Promise<Uint8Array> {
    const rt = await loadSeal();
    const plan = compile(rt.seal, model, { mode: this.mode });
    const ctx = HeContext.create(rt, plan.public.params);
    const evaluator = new PlanEvaluator(ctx, plan);
    const keys = openKeyEnvelope(ctx, plan.public, this.keyEnvelope);
    try {
      return evaluateEnvelope(evaluator, keys, body);
    } finally {
      keys.dispose();
      evaluator.dispose();
      ctx.dispose();
    }
  }

  close(): void {
    this.keys?.dispose();
    this.ctx?.dispose();
  }
}
