// The worker role: takes jobs from BullMQ queues and runs them on this process's thread pool
// (time limits, batch split and the threads' key cache as in the embedded service). Jobs are
// fetched by hand, one per free thread, so that a busy process never holds jobs another could
// run now. Which shards this process serves follows rendezvous hashing over the live workers;
// every process also serves the overflow queue and checks every queue for stalled jobs (a dead
// worker's job goes back to its queue once its lock expires and runs again elsewhere).
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { Worker } from 'bullmq';
import type { Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { GaugeValue, ServiceMetrics } from '../http/metrics.js';
import { ServiceError } from '../pool/errors.js';
import type { WorkerPool } from '../pool/worker-pool.js';
import type { SessionStore } from '../sessions/session-store.js';
import type { JobData, JobOutcome } from './jobs.js';
import { HEARTBEAT_MS, Keyspace, MEMBER_STALE_MS, connectRedis, servingWorkers } from './redis.js';

export interface WorkerRoleOptions {
  redisUrl: string;
  prefix: string;
  shards: number;
  /** Live workers serving each shard. */
  replicas: number;
  /** BullMQ lock of a running job (renewed while it runs) and the stalled-job check interval. */
  lockMs: number;
  pool: WorkerPool;
  /** Where the session keys are (Redis). */
  store: SessionStore;
  splittable: ReadonlySet<string>;
  splitBatches: boolean;
  /** Key sets this process keeps (as the threads' own key caches do). */
  keyCacheEntries: number;
  metrics: ServiceMetrics;
  logger: Logger;
}

/** How long an answer stays in Redis for its front. */
const RESULT_TTL_MS = 5 * 60_000;
/** An idle lane looks at its queues at least this often, even without a doorbell. */
const IDLE_POLL_MS = 250;

interface Taken {
  job: Job<JobData>;
  token: string;
}

export class WorkerRole {
  readonly id = `${hostname()}-${process.pid}-${randomUUID().slice(0, 6)}`;
  private readonly keys: Keyspace;
  private readonly bull = new Map<string, Worker<JobData>>();
  /** Session keys this process holds for its threads, least recently used first. */
  private readonly keyBytes = new Map<string, Uint8Array>();
  /** Key sets being fetched: two lanes that miss the same session share one fetch (and one load). */
  private readonly fetching = new Map<string, Promise<Uint8Array>>();
  private served: string[] = [];
  private rotation = 0;
  private active = 0;
  private closing = false;
  private readonly lanes: Promise<void>[] = [];
  private bellWaiters: (() => void)[] = [];
  private heartbeat: NodeJS.Timeout | undefined;

  private constructor(
    private readonly options: WorkerRoleOptions,
    private readonly redis: Redis,
    private readonly subscriber: Redis,
  ) {
    this.keys = new Keyspace(options.prefix);
  }

  static async start(options: WorkerRoleOptions): Promise<WorkerRole> {
    const role = new WorkerRole(options, connectRedis(options.redisUrl, 'ciphercare-worker'), connectRedis(options.redisUrl, 'ciphercare-worker-sub'));
    try {
      await role.begin();
    } catch (err) {
      await role.close();
      throw err;
    }
    return role;
  }

  private async begin(): Promise<void> {
    const { metrics, lockMs } = this.options;
    const names = [...Array.from({ length: this.options.shards }, (_, i) => this.keys.shardQueue(i)), this.keys.overflowQueue];
    for (const name of names) {
      const worker = new Worker<JobData>(name, null, {
        connection: this.redis,
        prefix: this.keys.bullPrefix,
        autorun: false,
        lockDuration: lockMs,
        stalledInterval: lockMs,
        // A job whose worker died is run again; three deaths in a row fail it (the front answers 503).
        maxStalledCount: 3,
      });
      worker.on('stalled', () => metrics.count('ciphercare_jobs_stalled_total', 'Jobs this worker found stalled (their worker died or lost its lock) and put back in their queue.'));
      worker.on('error', (err) => this.options.logger.warn({ queue: name, err: err.message }, 'queue worker error'));
      this.bull.set(name, worker);
    }
    this.subscriber.on('message', (channel: string, message: string) => {
      if (channel === this.keys.doorbell) {
        if (this.served.includes(message)) this.ring();
      } else if (channel === this.keys.forget) {
        for (const id of parseIds(message)) this.drop(id);
      }
    });
    await this.subscriber.subscribe(this.keys.doorbell, this.keys.forget);
    await this.beat();
    this.heartbeat = setInterval(() => void this.beat().catch((err: Error) => this.options.logger.warn({ err: err.message }, 'heartbeat failed')), HEARTBEAT_MS);
    for (const worker of this.bull.values()) void worker.startStalledCheckTimer().catch((err: Error) => this.options.logger.warn({ err: err.message }, 'stalled-job check failed'));
    for (let i = 0; i < this.options.pool.size; i++) this.lanes.push(this.lane());
  }

  /** Renews this worker's heartbeat and recomputes the shards it serves. */
  private async beat(): Promise<void> {
    const now = Date.now();
    const detail = JSON.stringify({ threads: this.options.pool.size, busy: this.active });
    const replies = await this.redis
      .multi()
      .zadd(this.keys.members, now, this.id)
      .set(this.keys.member(this.id), detail, 'PX', MEMBER_STALE_MS)
      .zremrangebyscore(this.keys.members, '-inf', now - 60_000)
      .zrangebyscore(this.keys.members, now - MEMBER_STALE_MS, '+inf')
      .exec();
    const live = (replies?.[3]?.[1] as string[] | undefined) ?? [this.id];
    const served: string[] = [];
    for (let shard = 0; shard < this.options.shards; shard++) {
      if (servingWorkers(shard, live, this.options.replicas).includes(this.id)) served.push(this.keys.shardQueue(shard));
    }
    served.push(this.keys.overflowQueue);
    const changed = served.join() !== this.served.join();
    this.served = served;
    if (changed) {
      this.options.logger.info({ worker: this.id, shards: served.length - 1, liveWorkers: live.length }, 'serving shards');
      this.ring();
    }
  }

  private ring(): void {
    for (const wake of this.bellWaiters.splice(0)) wake();
  }

  private doorbell(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.bellWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** One per thread: take a job, run it, repeat; wait for the doorbell when every queue is empty. */
  private async lane(): Promise<void> {
    while (!this.closing) {
      let taken: Taken | undefined;
      try {
        taken = await this.take();
      } catch (err) {
        if (this.closing) return;
        this.options.logger.warn({ err: (err as Error).message }, 'could not take a job');
        await this.doorbell(IDLE_POLL_MS);
        continue;
      }
      if (!taken) {
        await this.doorbell(IDLE_POLL_MS);
        continue;
      }
      await this.process(taken);
    }
  }

  /**
   * The next job of the served queues, looked at in turn from a rotating start so that none
   * starves: the overflow queue takes its turn like a shard (looked at only when every shard was
   * empty, its jobs waited until the load stopped: 115 s in a load test).
   */
  private async take(): Promise<Taken | undefined> {
    const queues = this.served;
    const start = this.rotation++ % queues.length;
    const order = [...queues.slice(start), ...queues.slice(0, start)];
    for (const name of order) {
      if (this.closing) return undefined;
      const token = `${this.id}:${randomUUID()}`;
      const job = (await this.bull.get(name)!.getNextJob(token, { block: false })) as Job<JobData> | undefined;
      if (job) return { job, token };
    }
    return undefined;
  }

  private async process({ job, token }: Taken): Promise<void> {
    const { metrics, lockMs, pool } = this.options;
    const jobId = job.id!;
    const data = job.data;
    this.active++;
    // Renew the lock while the job runs: a process that dies stops renewing, and its job runs again elsewhere.
    const renew = setInterval(() => void job.extendLock(token, lockMs).catch(() => undefined), Math.max(100, Math.floor(lockMs / 3)));
    let outcome: JobOutcome;
    let result: Uint8Array | null = null;
    let runs = 1;
    try {
      runs = await this.redis.incr(this.keys.runs(jobId));
      await this.redis.pexpire(this.keys.runs(jobId), RESULT_TTL_MS);
      if (runs > 1) metrics.count('ciphercare_jobs_rerun_total', 'Jobs that a worker started more than once (the first worker died or lost its lock).', { role: 'worker' });
      const waitMs = Math.max(0, Date.now() - data.enqueuedAt);
      metrics.observe('ciphercare_queue_wait_seconds', 'Time a job waited in the queue before a worker took it.', waitMs / 1000, { role: 'worker' });
      const keys = await this.keysFor(data.sessionId);
      const started = performance.now();
      let shares = 1;
      if (data.kind === 'open') {
        await pool.run({ kind: 'open-session', sessionId: data.sessionId, modelId: data.modelId, mode: data.mode, keys });
      } else {
        const body = await this.redis.getBuffer(this.keys.body(jobId));
        if (!body) throw new ServiceError('evaluation_timeout', 503, 'the request body expired before a worker could take the job', 1);
        const request = { kind: 'predict', sessionId: data.sessionId, modelId: data.modelId, mode: data.mode, keys, body: new Uint8Array(body.buffer, body.byteOffset, body.byteLength) } as const;
        // A batch request of a splittable plan is shared among this process's threads, as in the embedded service.
        const split = this.options.splitBatches && data.mode === 'batch' && this.options.splittable.has(data.modelId) && pool.size > 1;
        if (split) shares = pool.size;
        result = (split ? await pool.runSplit(request) : await pool.run(request)).result;
      }
      outcome = { ok: true, evaluateMs: performance.now() - started, waitMs, runs, shares };
      if (data.kind === 'predict') metrics.observeEvaluation(data.modelId, data.mode, outcome.evaluateMs / 1000);
    } catch (err) {
      const e = err instanceof ServiceError ? err : new ServiceError('internal_error', 500, 'internal error');
      if (!(err instanceof ServiceError)) this.options.logger.error({ jobId, err: (err as Error).message }, 'job failed unexpectedly');
      outcome = { ok: false, code: e.code, message: e.message, runs, ...(e.retryAfterSeconds !== undefined ? { retryAfterSeconds: e.retryAfterSeconds } : {}) };
    }
    try {
      const tx = this.redis.multi();
      if (result) tx.set(this.keys.result(jobId), Buffer.from(result.buffer, result.byteOffset, result.byteLength), 'PX', RESULT_TTL_MS);
      tx.set(this.keys.outcome(jobId), JSON.stringify(outcome), 'PX', RESULT_TTL_MS).publish(this.keys.done(data.front), jobId);
      await tx.exec();
      metrics.count('ciphercare_worker_jobs_total', 'Jobs this worker finished, by kind and outcome.', { kind: data.kind, outcome: outcome.ok ? 'ok' : outcome.code });
      // Another worker may have taken the job after a lost lock: its answer is the same (an evaluation is a pure function).
      await job.moveToCompleted('done', token, false).catch(() => undefined);
    } catch (err) {
      this.options.logger.warn({ jobId, err: (err as Error).message }, 'could not record a finished job (its lock will expire and another worker will run it)');
    } finally {
      clearInterval(renew);
      this.active--;
    }
  }

  /** The session's key envelope for the threads: kept here while in use, fetched from the store on a miss. */
  private async keysFor(sessionId: string): Promise<Uint8Array> {
    const { metrics } = this.options;
    const held = this.keyBytes.get(sessionId);
    if (held) {
      this.keyBytes.delete(sessionId);
      this.keyBytes.set(sessionId, held);
      metrics.count('ciphercare_key_cache_hits_total', 'Jobs whose session keys this worker already held.');
      return held;
    }
    metrics.count('ciphercare_key_cache_misses_total', 'Jobs whose session keys this worker did not hold.');
    let pending = this.fetching.get(sessionId);
    if (!pending) {
      pending = this.fetchKeys(sessionId).finally(() => this.fetching.delete(sessionId));
      this.fetching.set(sessionId, pending);
    }
    return pending;
  }

  private async fetchKeys(sessionId: string): Promise<Uint8Array> {
    const { metrics } = this.options;
    const bytes = await this.options.store.keys(sessionId);
    if (!bytes) throw new ServiceError('session_not_found', 404, 'no such session (it may have expired or been evicted): upload the evaluation keys again');
    // Shared memory, as in the embedded service: the threads read the keys without a copy.
    const shared = new Uint8Array(new SharedArrayBuffer(bytes.byteLength));
    shared.set(bytes);
    this.keyBytes.set(sessionId, shared);
    metrics.count('ciphercare_key_loads_total', 'Session key sets this worker fetched from Redis and handed to its threads.');
    while (this.keyBytes.size > this.options.keyCacheEntries) {
      const oldest = this.keyBytes.keys().next().value as string;
      this.drop(oldest);
    }
    return shared;
  }

  private drop(sessionId: string): void {
    if (this.keyBytes.delete(sessionId)) this.options.pool.forget(sessionId);
  }

  gauges(): GaugeValue[] {
    return [
      { name: 'ciphercare_worker_jobs_active', help: 'Jobs this worker process runs now.', value: this.active },
      { name: 'ciphercare_worker_shards_served', help: 'Shard queues this worker serves (besides the overflow queue).', value: this.served.length - 1 },
      { name: 'ciphercare_worker_key_sets_held', help: 'Session key sets this worker holds for its threads.', value: this.keyBytes.size },
    ];
  }

  async close(): Promise<void> {
    this.closing = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.ring();
    await Promise.all(this.lanes);
    await this.redis.multi().zrem(this.keys.members, this.id).del(this.keys.member(this.id)).exec().catch(() => undefined);
    await Promise.all([...this.bull.values()].map((w) => w.close().catch(() => undefined)));
    await Promise.all([this.redis.quit().catch(() => undefined), this.subscriber.quit().catch(() => undefined)]);
  }
}

function parseIds(message: string): string[] {
  try {
    const v: unknown = JSON.parse(message);
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
  } catch {
    return [];
  }
}
