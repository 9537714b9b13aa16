import { request } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import { pino } from 'pino';
import { ContentTypes, HeContext, Routes, encodeKeyEnvelope, loadSeal } from '../../he-core/index.js';
import type { CatalogModel, CatalogResponse, PlanMode, Problem, PublicPlan, SessionResponse } from '../../he-core/index.js';
import { ClientKeyPair, decryptResult, encryptRequest } from '../../he-core/client/index.js';
import type { RequestCompression } from '../../he-core/client/index.js';
import { startService } from '../../mock-service/service.js';
import type { RunningService } from '../../mock-service/service.js';
import type { ServiceOptions } from '../../mock-service/config.js';

export async function startTestService(overrides: Partial<ServiceOptions> = {}): Promise<RunningService> {
  return startService({ mode: 'bundled', workers: 2, logger: pino({ level: 'silent' }), ...overrides });
}

export interface HttpResult {
  status: number;
  headers: IncomingHttpHeaders;
  body: Uint8Array;
}

/** One HTTP request over node:http (undici's fetch resets on bodies of hundreds of MB; axios uses node:http too). */
export function call(service: RunningService, method: string, path: string, body?: Uint8Array, headers: Record<string, string> = {}): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = request(
      service.url + path,
      {
        method,
        // A fresh connection per call: a pooled socket idle past the server's keep-alive timeout
        // would be reset under the test's feet (the provider client retries that case instead).
        agent: false,
        headers: {
          authorization: `Bearer ${service.token}`,
          ...(body ? { 'content-type': ContentTypes.envelope, 'content-length': String(body.byteLength) } : {}),
          ...headers,
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

export async function catalogOf(service: RunningService): Promise<CatalogModel[]> {
  const res = await call(service, 'GET', Routes.models);
  return (JSON.parse(Buffer.from(res.body).toString('utf8')) as CatalogResponse).models;
}

/** A client that knows only the catalog's public plan: its own keys, a session, encrypted predictions. */
export class TestClient {
  readonly plan: PublicPlan;
  sessionId = '';
  keyEnvelope: Uint8Array = new Uint8Array(0);
  private ctx!: HeContext;
  private keys!: ClientKeyPair;

  constructor(
    readonly service: RunningService,
    readonly model: CatalogModel,
    readonly mode: PlanMode,
  ) {
    this.plan = model.plans[mode];
  }

  async open(): Promise<SessionResponse> {
    const rt = await loadSeal();
    this.ctx = HeContext.create(rt, this.plan.params);
    this.keys = ClientKeyPair.generate(this.ctx);
    const generated = this.keys.createEvaluationKeys(this.plan);
    this.keyEnvelope = encodeKeyEnvelope(this.plan.params.fingerprint, generated.relin, generated.galois);
    return this.upload();
  }

  async upload(): Promise<SessionResponse> {
    const res = await call(this.service, 'POST', `${Routes.sessions}?model=${this.model.id}&mode=${this.mode}`, this.keyEnvelope);
    if (res.status !== 201 && res.status !== 200) throw new Error(`session upload failed: ${res.status} ${Buffer.from(res.body).toString()}`);
    const session = JSON.parse(Buffer.from(res.body).toString('utf8')) as SessionResponse;
    this.sessionId = session.sessionId;
    return session;
  }

  encrypt(samples: readonly (readonly number[])[], compression: RequestCompression = 'zstd'): Uint8Array {
    return encryptRequest(this.keys, this.plan, samples, compression);
  }

  decrypt(body: Uint8Array, samples: number): Float64Array[] {
    return decryptResult(this.keys, this.plan, body, samples);
  }

  async post(body: Uint8Array): Promise<HttpResult> {
    return call(this.service, 'POST', Routes.predictions(this.sessionId), body);
  }

  async predict(samples: readonly (readonly number[])[]): Promise<Float64Array[]> {
    const res = await this.post(this.encrypt(samples));
    if (res.status !== 200) throw new Error(`prediction failed: ${res.status} ${Buffer.from(res.body).toString()}`);
    return this.decrypt(res.body, samples.length);
  }

  close(): void {
    this.keys?.dispose();
    this.ctx?.dispose();
  }
}
