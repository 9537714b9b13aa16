import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { Readable } from 'node:stream';
import axios, { AxiosError } from 'axios';
import type { AxiosInstance, AxiosProgressEvent, AxiosResponse } from 'axios';
import { ContentTypes, Routes, joinEnvelope } from '../../he-core/index.js';
import type { CatalogModel, CatalogResponse, EnvelopeParts, HealthResponse, PlanMode, Problem, PublicPlan, SessionResponse } from '../../he-core/index.js';
import { DEADLINE_FLOOR_MS, computeDeadlineMs, predictionDeadlineMs, validDeadlineMs } from './deadline.js';
import { ProviderError } from './errors.js';

/** Bodies from this size on are sent in slices when upload progress is asked for. */
const SLICED_UPLOAD_BYTES = 1 << 20;
const UPLOAD_SLICE_BYTES = 1 << 20;

/**
 * The request body for axios: a buffer, or envelope parts (`encodeEnvelopeParts`: a batch request
 * is sent item by item and never joined into one 164 MB buffer). Upload progress comes from the
 * pieces as the socket takes them (a stream, its length declared), not from axios's
 * `onUploadProgress`: that one pipes the body through a throttling stream of 64 kB chunks, which
 * took 0.4 to 0.6 s longer to send a 164 MB batch request on loopback (0.6 to 0.8 s instead of
 * 0.2 s). A small body goes in one write, its upload reported as one step.
 */
function uploadOf(body: RequestBody, onProgress: ((p: TransferProgress) => void) | undefined): { data: Buffer | Readable; headers: Record<string, string> } {
  const headers: Record<string, string> = { 'content-type': ContentTypes.envelope };
  const total = body.byteLength;
  const report = (p: TransferProgress): void => onProgress?.(p);
  if (total < SLICED_UPLOAD_BYTES || (!onProgress && body instanceof Uint8Array)) {
    const bytes = joinEnvelope(body);
    report({ direction: 'upload', loaded: total, total });
    return { data: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), headers };
  }
  const pieces = body instanceof Uint8Array ? [body] : body.parts;
  function* slices(): Generator<Buffer> {
    let loaded = 0;
    let reported = 0;
    for (const piece of pieces) {
      for (let at = 0; at < piece.byteLength; at += UPLOAD_SLICE_BYTES) {
        const slice = Buffer.from(piece.buffer, piece.byteOffset + at, Math.min(UPLOAD_SLICE_BYTES, piece.byteLength - at));
        yield slice;
        loaded += slice.byteLength;
        // At most one event per MiB (a batch request's items are about 200 kB each), and the last.
        if (onProgress && (loaded - reported >= UPLOAD_SLICE_BYTES || loaded === total)) {
          reported = loaded;
          report({ direction: 'upload', loaded, total });
        }
      }
    }
  }
  headers['content-length'] = String(total);
  return { data: Readable.from(slices(), { objectMode: false, highWaterMark: UPLOAD_SLICE_BYTES }), headers };
}

/** A request body: bytes, or an envelope as its parts (sent without joining them). */
export type RequestBody = Uint8Array | EnvelopeParts;

export interface ProviderConfig {
  /** bundled: the app's own loopback service; remote: a provider's HTTPS URL. */
  kind: 'bundled' | 'remote';
  url: string;
  /** Bundled service token or remote API key, sent as a bearer token. */
  credential: string;
  /** Extra trusted certificate authorities (PEM), e.g. a provider's private CA. */
  ca?: string | Buffer;
  /**
   * A fixed overall deadline for every call (connect, send, evaluate, receive, retries), instead
   * of the one computed from the plan's expected cost (CLI `--deadline`). See main/provider/deadline.ts.
   */
  deadlineMs?: number;
  /** @deprecated The same as `deadlineMs` (it was a socket idle time-out, which a slow drip defeats). */
  timeoutMs?: number;
  /** The smallest computed deadline (default `DEADLINE_FLOOR_MS`, 30 s). */
  minDeadlineMs?: number;
  /** Attempts for 503 and network errors (first try included). */
  attempts?: number;
  /** Base of the exponential backoff between attempts. */
  backoffMs?: number;
}

export interface TransferProgress {
  direction: 'upload' | 'download';
  loaded: number;
  total: number | undefined;
}

export interface RequestOptions {
  signal?: AbortSignal;
  onProgress?: (p: TransferProgress) => void;
  /** This call's overall deadline, overriding both the configured and the computed one. */
  deadlineMs?: number;
}

/** What the client knows of a call, to scale its deadline. */
interface CallCost {
  /** Bytes expected back (besides headers). */
  downBytes: number;
  /** Server-side work allowance (ms). */
  evaluationMs: number;
  /** Set for predictions: the deadline then comes from the plan. */
  plan?: PublicPlan | undefined;
  prediction?: boolean;
}

const NO_COST: CallCost = { downBytes: 0, evaluationMs: 0 };

const RETRYABLE_NETWORK = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'ECONNABORTED']);

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(new ProviderError('cancelled', 'cancelled'));
    }, { once: true });
  });
}

/**
 * The client side of the service API (he-core/protocol), over axios: time-outs, retries with
 * backoff for 503 and network errors, TLS verified for remote providers, upload and download
 * progress. Session recovery (re-upload on session_not_found) is the flow's job: it holds the keys.
 */
export class ProviderClient {
  private readonly http: AxiosInstance;
  private readonly attempts: number;
  private readonly backoffMs: number;
  private readonly fixedDeadlineMs: number | undefined;
  private readonly floorMs: number;
  /** The last catalog's models and the sessions this client created: what scales a prediction's deadline. */
  private readonly models = new Map<string, CatalogModel>();
  private readonly sessions = new Map<string, { modelId: string; mode: PlanMode }>();

  constructor(readonly config: ProviderConfig) {
    const url = new URL(config.url);
    if (config.kind === 'remote' && url.protocol !== 'https:') {
      throw new ProviderError('tls', `a remote provider must use https:// (got ${url.protocol}//)`);
    }
    if (config.kind === 'bundled' && !['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)) {
      throw new ProviderError('bad_request', 'the bundled service runs on the loopback address only');
    }
    // Five attempts, 0.4 s doubling: about 6 s, enough for a provider restarting behind its URL.
    this.attempts = Math.max(1, config.attempts ?? 5);
    this.backoffMs = config.backoffMs ?? 400;
    this.fixedDeadlineMs = config.deadlineMs ?? config.timeoutMs;
    this.floorMs = config.minDeadlineMs ?? DEADLINE_FLOOR_MS;
    for (const [name, value] of [['deadlineMs', this.fixedDeadlineMs], ['minDeadlineMs', config.minDeadlineMs]] as const) {
      if (value !== undefined && !validDeadlineMs(value)) throw new ProviderError('bad_request', `the provider deadline ${name} must be a positive number of milliseconds (got ${value})`);
    }
    this.http = axios.create({
      baseURL: config.url,
      // No socket idle time-out: it restarts on every byte. Each call has an overall deadline instead.
      timeout: 0,
      headers: { authorization: `Bearer ${config.credential}` },
      responseType: 'arraybuffer',
      maxBodyLength: Infinity,
      maxContentLength: 512 * 2 ** 20,
      maxRedirects: 0,
      validateStatus: () => true,
      proxy: false,
      // Certificate checks stay on: rejectUnauthorized is never turned off.
      httpsAgent: new HttpsAgent({ keepAlive: true, ...(config.ca ? { ca: config.ca } : {}) }),
      httpAgent: new HttpAgent({ keepAlive: true }),
    });
  }

  /** The overall deadline of one call: the call's option, else the configured one, else computed from its cost. */
  private deadlineFor(upBytes: number, cost: CallCost, options: RequestOptions = {}): number {
    if (options.deadlineMs !== undefined) {
      if (!validDeadlineMs(options.deadlineMs)) throw new ProviderError('bad_request', `the provider deadline must be a positive number of milliseconds (got ${options.deadlineMs})`);
      return options.deadlineMs;
    }
    if (this.fixedDeadlineMs !== undefined) return this.fixedDeadlineMs;
    if (cost.prediction) return predictionDeadlineMs(cost.plan, upBytes, this.floorMs);
    return computeDeadlineMs({ upBytes, downBytes: cost.downBytes, evaluationMs: cost.evaluationMs }, this.floorMs);
  }

  /**
   * One call under one overall deadline: when it passes, the request is aborted (its socket
   * destroyed, so a dripping provider is disconnected) and `provider_deadline` is thrown.
   */
  private async request(method: 'GET' | 'POST' | 'DELETE', path: string, body: RequestBody | undefined, options: RequestOptions = {}, cost: CallCost = NO_COST): Promise<AxiosResponse<ArrayBuffer>> {
    const deadlineMs = this.deadlineFor(body?.byteLength ?? 0, cost, options);
    const deadline = new AbortController();
    const started = performance.now();
    const timer = setTimeout(() => deadline.abort(), deadlineMs);
    const signal = options.signal ? AbortSignal.any([options.signal, deadline.signal]) : deadline.signal;
    try {
      return await this.attempt(method, path, body, { ...options, signal });
    } catch (err) {
      if (deadline.signal.aborted && !options.signal?.aborted) throw this.deadlineError(method, path, deadlineMs, performance.now() - started);
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  private deadlineError(method: string, path: string, deadlineMs: number, waitedMs: number): ProviderError {
    const what = path.includes('/predictions') ? 'the encrypted prediction' : path.includes('/sessions') && method === 'POST' ? 'the upload of the evaluation keys' : `${method} ${path.split('?')[0] ?? path}`;
    return new ProviderError(
      'provider_deadline',
      `the provider at ${this.config.url} did not complete ${what} within its deadline of ${formatSeconds(deadlineMs)} (waited ${formatSeconds(waitedMs)}); the request was aborted and nothing was stored. ` +
        'The provider is overloaded, the connection is very slow, or the provider is stalling: try again later, use another provider, or allow more time (CLI: --deadline SECONDS).',
      undefined,
      undefined,
      { deadlineMs, waitedMs: Math.round(waitedMs) },
    );
  }

  private async attempt(method: 'GET' | 'POST' | 'DELETE', path: string, body: RequestBody | undefined, options: RequestOptions): Promise<AxiosResponse<ArrayBuffer>> {
    for (let attempt = 1; ; attempt++) {
      if (options.signal?.aborted) throw new ProviderError('cancelled', 'cancelled');
      let response: AxiosResponse<ArrayBuffer>;
      try {
        const listener = options.onProgress;
        // A listener that throws must not fail the call: axios would report it as a network error
        // (and the call be retried), or, from its download events, as an uncaught exception.
        const onProgress = listener
          ? (p: TransferProgress): void => {
              try {
                listener(p);
              } catch {
                // the listener's problem, not the transfer's
              }
            }
          : undefined;
        response = await this.http.request<ArrayBuffer>({
          method,
          url: path,
          ...(body ? uploadOf(body, onProgress) : {}),
          ...(options.signal ? { signal: options.signal } : {}),
          ...(onProgress ? { onDownloadProgress: (e: AxiosProgressEvent) => onProgress({ direction: 'download', loaded: e.loaded, total: e.total }) } : {}),
        });
      } catch (err) {
        const error = this.networkError(err);
        if (error.code === 'network' && attempt < this.attempts) {
          await sleep(this.backoffMs * 2 ** (attempt - 1), options.signal);
          continue;
        }
        throw error;
      }
      if (response.status === 503 && attempt < this.attempts) {
        const problem = this.problemOf(response);
        if (problem?.code !== 'evaluation_timeout') {
          const retryAfter = Number(response.headers['retry-after']);
          const wait = Number.isFinite(retryAfter) && retryAfter > 0 ? Math.min(retryAfter * 1000, 10_000) : this.backoffMs * 2 ** (attempt - 1);
          await sleep(wait, options.signal);
          continue;
        }
      }
      if (response.status >= 400) throw this.httpError(response);
      return response;
    }
  }

  private networkError(err: unknown): ProviderError {
    if (axios.isCancel(err)) return new ProviderError('cancelled', 'cancelled');
    if (err instanceof AxiosError) {
      const code = err.code ?? '';
      if (code === 'ECONNABORTED' && /timeout/i.test(err.message)) return new ProviderError('timeout', `the provider did not answer in time (${this.config.url})`);
      if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/i.test(code) || /certificate/i.test(err.message)) {
        return new ProviderError('tls', `the provider's TLS certificate could not be verified (${err.message})`);
      }
      if (RETRYABLE_NETWORK.has(code) || err.response === undefined) return new ProviderError('network', `cannot reach the provider at ${this.config.url}: ${err.message}`);
    }
    return new ProviderError('network', `cannot reach the provider at ${this.config.url}: ${(err as Error).message}`);
  }

  private problemOf(response: AxiosResponse<ArrayBuffer>): Problem | undefined {
    try {
      const parsed = JSON.parse(Buffer.from(response.data).toString('utf8')) as Problem;
      return typeof parsed.code === 'string' ? parsed : undefined;
    } catch {
      return undefined;
    }
  }

  private httpError(response: AxiosResponse<ArrayBuffer>): ProviderError {
    const problem = this.problemOf(response);
    const retryAfter = Number(response.headers['retry-after']);
    if (response.status === 401) {
      return new ProviderError('unauthorized', this.config.kind === 'remote' ? 'the provider refused the API key: check it on the Provider screen' : 'the bundled service refused the token', 401);
    }
    if (problem) return new ProviderError(problem.code, problem.detail, response.status, Number.isFinite(retryAfter) ? retryAfter : undefined);
    return new ProviderError('bad_response', `the provider answered HTTP ${response.status} without a problem document`, response.status);
  }

  private json<T>(response: AxiosResponse<ArrayBuffer>): T {
    try {
      return JSON.parse(Buffer.from(response.data).toString('utf8')) as T;
    } catch {
      throw new ProviderError('bad_response', 'the provider answered with invalid JSON');
    }
  }

  async health(options?: RequestOptions): Promise<HealthResponse> {
    return this.json<HealthResponse>(await this.request('GET', Routes.health, undefined, options));
  }

  async catalog(options?: RequestOptions): Promise<CatalogModel[]> {
    const body = this.json<CatalogResponse>(await this.request('GET', Routes.models, undefined, options));
    if (!body || !Array.isArray(body.models)) throw new ProviderError('bad_response', 'the catalog has no models list');
    this.models.clear();
    for (const model of body.models) if (model && typeof model.id === 'string') this.models.set(model.id, model);
    return body.models;
  }

  async createSession(modelId: string, mode: PlanMode, keyEnvelope: Uint8Array, options?: RequestOptions): Promise<SessionResponse> {
    const path = `${Routes.sessions}?model=${encodeURIComponent(modelId)}&mode=${mode}`;
    const session = this.json<SessionResponse>(await this.request('POST', path, keyEnvelope, options, { downBytes: 4096, evaluationMs: 0 }));
    if (session && typeof session.sessionId === 'string') this.sessions.set(session.sessionId, { modelId, mode });
    return session;
  }

  async deleteSession(sessionId: string, options?: RequestOptions): Promise<void> {
    await this.request('DELETE', Routes.session(sessionId), undefined, options);
    this.sessions.delete(sessionId);
  }

  async predict(sessionId: string, envelope: RequestBody, options?: RequestOptions): Promise<Uint8Array> {
    const session = this.sessions.get(sessionId);
    const plan = session === undefined ? undefined : this.models.get(session.modelId)?.plans?.[session.mode];
    const response = await this.request('POST', Routes.predictions(sessionId), envelope, options, { downBytes: 0, evaluationMs: 0, plan, prediction: true });
    return new Uint8Array(response.data);
  }

  /** The deadline a prediction request of `requestBytes` under this session would get now. */
  predictionDeadlineMs(sessionId: string, requestBytes: number, options: RequestOptions = {}): number {
    const session = this.sessions.get(sessionId);
    const plan = session === undefined ? undefined : this.models.get(session.modelId)?.plans?.[session.mode];
    return this.deadlineFor(requestBytes, { downBytes: 0, evaluationMs: 0, plan, prediction: true }, options);
  }
}

function formatSeconds(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`;
}
