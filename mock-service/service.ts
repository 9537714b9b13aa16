import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { join } from 'node:path';
import { pino } from 'pino';
import type { Logger } from 'pino';
import { ContentTypes, REQUEST_ID_HEADER, loadSeal, maxCiphertextBytes, maxKeyBytes, parseModel } from '../he-core/index.js';
import type { ApiErrorCode, CatalogModel, CatalogResponse, HealthResponse, PlanMode, Problem, PublicPlan, SessionResponse } from '../he-core/index.js';
import { attachCards, buildCatalogAndSplits } from './catalog.js';
import { checkDistributedOptions, resolveOptions } from './config.js';
import type { ResolvedOptions, ServiceOptions, ServiceRole } from './config.js';
import type { Evaluator, EvaluatorHealth } from './evaluator/evaluator.js';
import { PoolEvaluator } from './evaluator/pool-evaluator.js';
import { Authenticator } from './http/auth.js';
import { BodyBuffers, lingerAfterRefusal, readBody, readPooledBody } from './http/body.js';
import { ServiceMetrics } from './http/metrics.js';
import { ServiceError, statusFor } from './pool/errors.js';
import { keyBudget } from './pool/key-bytes.js';
import { WorkerPool } from './pool/worker-pool.js';
import { MemorySessionStore } from './sessions/memory-store.js';
import type { SessionInfo, SessionRecord, SessionStore } from './sessions/session-store.js';

export const SERVICE_VERSION = '0.1.0';

export interface RunningService {
  /** Base URL, e.g. http://127.0.0.1:41234 */
  url: string;
  host: string;
  port: number;
  /** Bundled mode's bearer token (random per launch). */
  token: string | undefined;
  /** `embedded` without --redis; otherwise the role in a distributed deployment. */
  role: 'embedded' | ServiceRole;
  catalog: CatalogModel[];
  /** Stops accepting, lets in-flight requests finish (new ones get 503), then stops the workers. */
  close(): Promise<void>;
}

const SESSION_PATH = /^\/v1\/sessions\/([A-Za-z0-9_-]{1,128})$/;
const PREDICTIONS_PATH = /^\/v1\/sessions\/([A-Za-z0-9_-]{1,128})\/predictions$/;
const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

function loadModelTexts(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => readFileSync(join(dir, f), 'utf8'));
}

function sessionIdFor(principal: string, modelId: string, mode: PlanMode, keys: Uint8Array): string {
  const keyHash = createHash('sha256').update(keys).digest('hex');
  return createHash('sha256').update(`${principal}\0${modelId}\0${mode}\0${keyHash}`).digest('base64url').slice(0, 32);
}

function toShared(bytes: Uint8Array): Uint8Array {
  const shared = new Uint8Array(new SharedArrayBuffer(bytes.byteLength));
  shared.set(bytes);
  return shared;
}

/** Starts the evaluation service: workers ready, catalog compiled, listening. */
export async function startService(input: ServiceOptions): Promise<RunningService> {
  const options: ResolvedOptions = resolveOptions(input);
  if (options.mode === 'bundled' && options.host !== '127.0.0.1') throw new Error('bundled mode binds 127.0.0.1 only');
  if (options.mode === 'remote') {
    if (!options.apiKeys || options.apiKeys.length === 0) throw new Error('remote mode needs at least one API key (--api-key or CIPHERCARE_API_KEYS)');
    if (options.apiKeys.some((k) => k.length < 16)) throw new Error('API keys must be at least 16 characters');
    if (!options.tls && !options.behindProxy) throw new Error('remote mode needs TLS (--tls-cert and --tls-key) or --behind-proxy when a reverse proxy terminates TLS');
  }
  checkDistributedOptions(options);
  const role: 'embedded' | ServiceRole = options.redis ? (options.role ?? 'both') : 'embedded';
  const token = options.mode === 'bundled' ? (options.token ?? randomBytes(32).toString('base64url')) : undefined;
  const auth = token ? Authenticator.bundled(token) : Authenticator.apiKeys(options.apiKeys!);
  const logger: Logger = options.logger ?? pino({ name: 'ciphercare-service', level: process.env.CIPHERCARE_LOG_LEVEL ?? 'info' });
  const metrics = new ServiceMetrics();

  const texts = loadModelTexts(options.modelsDir);
  const models = texts.map(parseModel);
  const rt = await loadSeal();
  const { catalog, splittable } = buildCatalogAndSplits(rt.seal, models);
  for (const problem of attachCards(catalog, join(options.modelsDir, 'cards'))) logger.warn({ problem }, 'model card not served');
  const byId = new Map(catalog.map((m) => [m.id, m]));
  // The evaluation keys' memory, every copy counted (checked before anything starts or any store is touched).
  const budget = keyBudget({
    sessionCacheBytes: options.sessionCacheBytes,
    workerKeyCacheBytes: options.workerKeyCacheBytes,
    workers: role === 'front' ? 0 : options.workers,
    plans: catalog.flatMap((m) => (['single', 'batch'] as const).map((mode) => ({ modelId: m.id, mode, plan: m.plans[mode] }))),
    storeInMemory: !options.redis,
  });
  logger.info({ keyMemory: budget }, 'evaluation keys: envelopes in the store and loaded keys in each worker, within this budget');
  // A front evaluates nothing itself: no threads. A worker's pool takes as many jobs as it has threads
  // (and a split batch's shares), so its own queue bound is never what refuses a request.
  const pool = role === 'front' ? null : new WorkerPool({ size: options.workers, maxQueue: role === 'embedded' ? options.maxQueue : options.workers * 4, jobTimeoutMs: options.jobTimeoutMs, models: texts, keyCacheEntries: options.workerKeyCacheEntries, keyCacheBytes: budget.workerBytes });
  const stopping: (() => Promise<void>)[] = [];
  // Large request bodies (batch requests) are read into shared memory kept across requests.
  const bodyBuffers = new BodyBuffers();
  stopping.push(async () => bodyBuffers.clear());
  const stopAll = async (): Promise<void> => {
    for (const stop of stopping.splice(0).reverse()) await stop().catch((err: unknown) => logger.warn({ err: (err as Error).message }, 'stopping a part of the service failed'));
  };
  let store: SessionStore;
  let evaluator: Evaluator | null = null;
  let workerRole: { gauges(): { name: string; help: string; value: number }[] } | null = null;
  try {
    if (pool) {
      stopping.push(() => pool.close());
      await pool.ready();
      if (pool.sealMac.size > 0) {
        logger.warn({ plans: [...pool.sealMac] }, 'batch products are accumulated by SEAL: the multiply-accumulate kernel cannot be used here (same results, slower)');
      }
      if (pool.encoderConstants.size > 0) {
        logger.warn({ plans: [...pool.encoderConstants] }, 'batch weights are encoded as vectors: this node-seal build does not lay out plaintexts as ConstantWriter expects (same results, slower)');
      }
    }
    if (!options.redis) {
      store = options.sessionStore ?? new MemorySessionStore({ ttlMs: options.sessionTtlMs, maxBytes: budget.storeBytes });
      evaluator = new PoolEvaluator(pool!, store, splittable, options.splitBatches, budget.totalBytes);
    } else {
      const redisUrl = options.redis;
      const d = await import('./distributed/index.js');
      const common = { redisUrl, prefix: options.redisPrefix, shards: options.shards, metrics, logger };
      if (options.sessionStore) store = options.sessionStore;
      else {
        const connection = d.connectRedis(options.sessionRedis ?? redisUrl, 'ciphercare-sessions');
        const redisStore = new d.RedisSessionStore(connection, { ttlMs: options.sessionTtlMs, prefix: options.redisPrefix });
        stopping.push(() => redisStore.close());
        await d.checkRedis(connection, options.sessionRedis ? '--session-redis' : '--redis');
        store = redisStore;
      }
      if (role === 'worker' || role === 'both') {
        const started = await d.WorkerRole.start({ ...common, replicas: options.shardReplicas, lockMs: options.jobLockMs, pool: pool!, store, splittable, splitBatches: options.splitBatches, keyCacheEntries: options.workerKeyCacheEntries });
        stopping.push(() => started.close());
        workerRole = started;
      }
      if (role === 'front' || role === 'both') {
        const started = await d.QueueEvaluator.start({ ...common, maxQueue: options.maxQueue, overflowAt: options.overflowAt, jobTimeoutMs: options.jobTimeoutMs, lockMs: options.jobLockMs });
        stopping.push(() => started.close());
        evaluator = started;
      }
    }
  } catch (err) {
    await stopAll();
    throw err;
  }
  const sessions = store;

  let draining = false;
  let inFlight = 0;
  let drained: (() => void) | null = null;
  let port = 0;

  const forget = (ids: string[]): void => evaluator?.forget(ids);
  const sweeper = setInterval(() => {
    if (evaluator) void sessions.sweep(Date.now()).then(forget, (err: unknown) => logger.warn({ err: (err as Error).message }, 'session sweep failed'));
  }, Math.min(60_000, Math.max(250, options.sessionTtlMs / 4)));
  sweeper.unref();

  async function healthOf(): Promise<EvaluatorHealth> {
    return evaluator ? evaluator.health() : pool!.stats();
  }

  /** The API routes need a front; a worker process answers health and metrics only. */
  function front(): Evaluator {
    if (!evaluator) throw new ServiceError('not_found', 404, 'this process is a worker (--role worker): send API requests to a front');
    return evaluator;
  }

  function planOf(record: { modelId: string; mode: PlanMode }): PublicPlan {
    return byId.get(record.modelId)!.plans[record.mode];
  }

  function keyBodyLimit(plan: PublicPlan): number {
    const { polyModulusDegree: n, primes } = plan.params;
    return Math.min(options.maxBodyBytes, 56 + 2 * maxKeyBytes(n, primes.length, Math.max(1, plan.galoisSteps.length)));
  }

  function ciphertextBodyLimit(plan: PublicPlan): number {
    const { polyModulusDegree: n, primes } = plan.params;
    return Math.min(options.maxBodyBytes, 48 + plan.input.count * (maxCiphertextBytes(n, primes.length) + 4));
  }

  function sendJson(res: ServerResponse, status: number, body: unknown, type: string = ContentTypes.json): void {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
    res.end(text);
  }

  function sendProblem(res: ServerResponse, requestId: string, code: ApiErrorCode, detail: string, retryAfter?: number): void {
    const status = statusFor(code);
    const problem: Problem = { type: `https://ciphercare.invalid/problems/${code}`, title: code.replace(/_/g, ' '), status, detail, code, requestId };
    if (retryAfter !== undefined) res.setHeader('retry-after', String(retryAfter));
    if (code === 'shutting_down') res.setHeader('connection', 'close');
    sendJson(res, status, problem, ContentTypes.problem);
  }

  function requireEnvelope(req: IncomingMessage): void {
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim();
    if (type !== ContentTypes.envelope && type !== 'application/octet-stream') {
      throw new ServiceError('unsupported_media_type', 415, `send the envelope as ${ContentTypes.envelope}`);
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse, requestId: string, url: URL): Promise<string> {
    const method = req.method ?? 'GET';
    const path = url.pathname;
    if (path === '/v1/health') {
      if (method !== 'GET') throw new ServiceError('method_not_allowed', 405, 'use GET');
      const s = await healthOf();
      const health: HealthResponse = {
        // A front with no live worker is not ready to evaluate (embedded, total is never 0).
        status: draining ? 'draining' : s.ready === s.total && s.total > 0 ? 'ok' : 'starting',
        version: SERVICE_VERSION,
        workers: { total: s.total, ready: s.ready, busy: s.busy },
        queue: { depth: s.queue, limit: s.queueLimit },
      };
      sendJson(res, 200, health);
      return '/v1/health';
    }
    const principal = auth.principalFor(req.headers.authorization);
    if (!principal) throw new ServiceError('unauthorized', 401, 'a valid bearer token is required');

    if (path === '/v1/models') {
      if (method !== 'GET') throw new ServiceError('method_not_allowed', 405, 'use GET');
      const body: CatalogResponse = { models: catalog };
      sendJson(res, 200, body);
      return '/v1/models';
    }
    if (path === '/v1/metrics') {
      if (method !== 'GET') throw new ServiceError('method_not_allowed', 405, 'use GET');
      const s = await healthOf();
      const st = await sessions.stats();
      const extra = [...(evaluator ? await evaluator.gauges() : []), ...(workerRole ? workerRole.gauges() : [])];
      const text = metrics.render({ queueDepth: s.queue, busyWorkers: s.busy, workers: s.total, sessions: st.sessions, cacheBytes: st.bytes }, extra);
      res.writeHead(200, { 'content-type': ContentTypes.prometheus, 'content-length': Buffer.byteLength(text) });
      res.end(text);
      return '/v1/metrics';
    }
    if (path === '/v1/sessions') {
      if (method !== 'POST') throw new ServiceError('method_not_allowed', 405, 'use POST');
      const evaluation = front();
      const modelId = url.searchParams.get('model') ?? '';
      const mode = (url.searchParams.get('mode') ?? 'single') as PlanMode;
      const model = byId.get(modelId);
      if (!model) throw new ServiceError('model_not_found', 404, `no model "${modelId}" in this catalog`);
      if (mode !== 'single' && mode !== 'batch') throw new ServiceError('bad_request', 400, 'mode must be single or batch');
      requireEnvelope(req);
      const plan = model.plans[mode];
      const body = await readBody(req, keyBodyLimit(plan));
      const sessionId = sessionIdFor(principal, modelId, mode, body);
      const now = Date.now();
      const existing = await sessions.touch(sessionId, now);
      let record: SessionInfo;
      if (existing) record = existing;
      else {
        const keys = toShared(body);
        const created: SessionRecord = { id: sessionId, principal, modelId, mode, fingerprint: plan.params.fingerprint, keyBytes: keys.byteLength, keys, createdAt: now, lastUsedAt: now, expiresAt: now + options.sessionTtlMs };
        forget(await evaluation.openSession(created, sessions));
        record = created;
      }
      const response: SessionResponse = {
        sessionId,
        modelId,
        mode,
        fingerprint: record.fingerprint,
        expiresAt: new Date(record.expiresAt).toISOString(),
        keyBytes: record.keyBytes,
        reused: Boolean(existing),
      };
      sendJson(res, existing ? 200 : 201, response);
      return '/v1/sessions';
    }
    const sessionMatch = SESSION_PATH.exec(path);
    if (sessionMatch) {
      if (method !== 'DELETE') throw new ServiceError('method_not_allowed', 405, 'use DELETE');
      const evaluation = front();
      const id = sessionMatch[1]!;
      const record = await sessions.touch(id, Date.now());
      if (!record || record.principal !== principal) throw new ServiceError('session_not_found', 404, 'no such session (it may have expired)');
      await sessions.delete(id);
      evaluation.forget([id]);
      res.writeHead(204).end();
      return '/v1/sessions/:id';
    }
    const predictMatch = PREDICTIONS_PATH.exec(path);
    if (predictMatch) {
      if (method !== 'POST') throw new ServiceError('method_not_allowed', 405, 'use POST');
      const evaluation = front();
      const id = predictMatch[1]!;
      const record = await sessions.touch(id, Date.now());
      if (!record || record.principal !== principal) {
        throw new ServiceError('session_not_found', 404, 'no such session (it may have expired or been evicted): upload the evaluation keys again');
      }
      requireEnvelope(req);
      const body = await readPooledBody(req, ciphertextBodyLimit(planOf(record)), bodyBuffers);
      const started = performance.now();
      let outcome: Awaited<ReturnType<typeof evaluation.predict>>;
      try {
        outcome = await evaluation.predict(record, body.bytes);
      } catch (err) {
        // A worker past its time limit is being ended but may still read the body for a moment:
        // its memory is not reused (it is dropped, and collected).
        if (!(err instanceof ServiceError && err.code === 'evaluation_timeout')) body.release();
        throw err;
      }
      // Every evaluator is done with the body when its promise resolves (a split batch waits for
      // all its shares).
      body.release();
      const { result: out, evaluateMs, timing } = outcome;
      metrics.observeEvaluation(record.modelId, record.mode, evaluateMs / 1000);
      res.writeHead(200, {
        'content-type': ContentTypes.envelope,
        'content-length': out.byteLength,
        'cache-control': 'no-store',
        'server-timing': [`evaluate;dur=${evaluateMs.toFixed(1)}`, `total;dur=${(performance.now() - started).toFixed(1)}`, ...timing].join(', '),
      });
      res.end(out);
      return '/v1/sessions/:id/predictions';
    }
    throw new ServiceError('not_found', 404, `no route ${path}`);
  }

  async function onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    const header = req.headers[REQUEST_ID_HEADER];
    const requestId = typeof header === 'string' && REQUEST_ID.test(header) ? header : randomUUID();
    res.setHeader(REQUEST_ID_HEADER, requestId);
    res.setHeader('x-content-type-options', 'nosniff');
    let route = 'unmatched';
    inFlight++;
    try {
      if (draining) throw new ServiceError('shutting_down', 503, 'the service is shutting down', 5);
      if (options.mode === 'bundled') {
        // Loopback only, and only under its own name: refuses DNS-rebinding pages.
        const host = req.headers.host ?? '';
        if (host !== `127.0.0.1:${port}` && host !== `localhost:${port}`) throw new ServiceError('bad_request', 400, 'unexpected Host header');
      }
      // Only origin-form paths: "//host/x" would otherwise parse as a host and route as "/x".
      if (!req.url || !req.url.startsWith('/') || req.url.startsWith('//')) throw new ServiceError('not_found', 404, 'no such route');
      const url = new URL(req.url, 'http://service.invalid');
      route = await handle(req, res, requestId, url);
    } catch (err) {
      const e = err instanceof ServiceError ? err : new ServiceError('internal_error', 500, 'internal error');
      if (!(err instanceof ServiceError)) logger.error({ requestId, err: (err as Error).message }, 'unexpected failure');
      if (!res.headersSent) sendProblem(res, requestId, e.code, e.message, e.retryAfterSeconds);
      else res.destroy();
      // Answered before the body was read (413, 401, 404…): drain what the client still sends.
      lingerAfterRefusal(req);
    } finally {
      inFlight--;
      const seconds = (performance.now() - started) / 1000;
      metrics.countRequest(route, req.method ?? '', res.statusCode, seconds);
      // Never a body: method, route template, status, sizes and time only.
      logger.info({ requestId, method: req.method, route, status: res.statusCode, ms: Math.round(seconds * 1000), bytesIn: Number(req.headers['content-length'] ?? 0) }, 'request');
      if (draining && inFlight === 0) drained?.();
    }
  }

  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    void onRequest(req, res);
  };
  const server: Server = options.tls ? createHttpsServer({ cert: options.tls.cert, key: options.tls.key }, listener) : createHttpServer(listener);
  server.requestTimeout = options.jobTimeoutMs + 30_000;
  server.headersTimeout = 15_000;
  // Clients spend seconds encrypting between requests; keep their connections open meanwhile.
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address();
  port = typeof address === 'object' && address ? address.port : options.port;
  const scheme = options.tls ? 'https' : 'http';
  const url = `${scheme}://${options.host === '0.0.0.0' ? '127.0.0.1' : options.host}:${port}`;
  logger.info({ url, mode: options.mode, role, workers: pool ? options.workers : 0, models: catalog.map((m) => m.id) }, 'service listening');

  let closing: Promise<void> | null = null;
  async function close(): Promise<void> {
    closing ??= (async () => {
      draining = true;
      clearInterval(sweeper);
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      if (inFlight > 0) {
        await new Promise<void>((resolve) => {
          drained = resolve;
          setTimeout(resolve, options.jobTimeoutMs + 5_000).unref();
        });
      }
      server.closeAllConnections();
      await stopped;
      await stopAll();
      logger.info('service stopped');
    })();
    return closing;
  }

  return { url, host: options.host, port, token, role, catalog, close };
}
