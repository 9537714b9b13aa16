// The front's side of the distributed service: a prediction becomes a BullMQ job on its session's
// shard queue (or the overflow queue when that shard backs up); its body and its answer are binary
// Redis values with a lifetime; the worker that finishes it tells this front on its `done` channel.
import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { EvaluationOutcome, Evaluator, EvaluatorHealth } from '../evaluator/evaluator.js';
import type { GaugeValue, ServiceMetrics } from '../http/metrics.js';
import { ServiceError, statusFor } from '../pool/errors.js';
import type { SessionInfo, SessionRecord, SessionStore } from '../sessions/session-store.js';
import { parseOutcome } from './jobs.js';
import type { JobData, JobOutcome } from './jobs.js';
import { Keyspace, MEMBER_STALE_MS, connectRedis, shardOf } from './redis.js';

export interface QueueEvaluatorOptions {
  redisUrl: string;
  prefix: string;
  shards: number;
  /** Jobs waiting across every queue beyond which requests get 503 overloaded. */
  maxQueue: number;
  /** Waiting jobs of one shard beyond which its new jobs go to the overflow queue. */
  overflowAt: number;
  jobTimeoutMs: number;
  /** BullMQ lock of a running job; a dead worker's job is run again once it expires. */
  lockMs: number;
  metrics: ServiceMetrics;
  logger: Logger;
}

interface Waiter {
  resolve: (outcome: JobOutcome) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/** How often pending jobs are looked up directly, in case a `done` message was missed (reconnect). */
const POLL_MS = 1_000;

export class QueueEvaluator implements Evaluator {
  readonly id = `front-${randomUUID().slice(0, 8)}`;
  private readonly keys: Keyspace;
  private readonly queues: Queue[];
  private readonly overflow: Queue;
  private readonly waiters = new Map<string, Waiter>();
  private readonly poller: NodeJS.Timeout;
  private closed = false;

  private constructor(
    private readonly options: QueueEvaluatorOptions,
    private readonly redis: Redis,
    private readonly subscriber: Redis,
  ) {
    this.keys = new Keyspace(options.prefix);
    const common = { connection: redis, prefix: this.keys.bullPrefix };
    this.queues = Array.from({ length: options.shards }, (_, i) => new Queue(this.keys.shardQueue(i), common));
    this.overflow = new Queue(this.keys.overflowQueue, common);
    this.subscriber.on('message', (_channel: string, jobId: string) => void this.settle(jobId));
    this.poller = setInterval(() => void this.pollPending(), POLL_MS);
    this.poller.unref();
  }

  static async start(options: QueueEvaluatorOptions): Promise<QueueEvaluator> {
    const redis = connectRedis(options.redisUrl, 'ciphercare-front');
    const subscriber = connectRedis(options.redisUrl, 'ciphercare-front-sub');
    const evaluator = new QueueEvaluator(options, redis, subscriber);
    try {
      // Managed Redis services may refuse CONFIG: then the policy cannot be checked here, only warned about.
      const policy = await redis.config('GET', 'maxmemory-policy').catch((err: Error) => {
        options.logger.warn({ err: err.message }, "could not read the queue Redis's maxmemory-policy: make sure it is noeviction");
        return [];
      });
      const value = Array.isArray(policy) ? String(policy[1] ?? '') : '';
      if (value && value !== 'noeviction') {
        throw new Error(`the queue's Redis has maxmemory-policy ${value}: BullMQ needs noeviction (an evicted job is a lost request); give sessions their own instance with --session-redis if they may be evicted`);
      }
      await subscriber.subscribe(evaluator.keys.done(evaluator.id));
    } catch (err) {
      await evaluator.close();
      throw err;
    }
    return evaluator;
  }

  async openSession(record: SessionRecord, store: SessionStore): Promise<string[]> {
    // Stored first: the worker that checks the keys reads them from the store (and keeps them loaded).
    const evicted = await store.put(record);
    try {
      await this.run('open', record);
    } catch (err) {
      await store.delete(record.id);
      throw err;
    }
    return evicted;
  }

  async predict(session: SessionInfo, body: Uint8Array): Promise<EvaluationOutcome> {
    const started = performance.now();
    const { outcome, result } = await this.run('predict', session, body);
    if (!outcome.ok || !result) throw new ServiceError('internal_error', 500, 'a worker finished the job without an answer');
    const overheadMs = performance.now() - started - outcome.evaluateMs;
    this.options.metrics.observe('ciphercare_queue_overhead_seconds', 'Time a prediction spent outside the evaluation (queue, Redis, waiting), seen by the front.', Math.max(0, overheadMs) / 1000);
    const timing = [`queue;dur=${outcome.waitMs.toFixed(1)}`, `runs;desc="${outcome.runs}"`];
    if (outcome.shares > 1) timing.push(`shares;desc="${outcome.shares}"`);
    return { result, evaluateMs: outcome.evaluateMs, timing };
  }

  private async depths(): Promise<number[]> {
    return Promise.all([...this.queues, this.overflow].map((q) => q.getWaitingCount()));
  }

  private async run(kind: JobData['kind'], session: SessionInfo, body?: Uint8Array): Promise<{ outcome: JobOutcome; result: Uint8Array | undefined }> {
    if (this.closed) throw new ServiceError('shutting_down', 503, 'the service is shutting down', 5);
    const { metrics } = this.options;
    const depths = await this.depths();
    const waiting = depths.reduce((a, b) => a + b, 0);
    if (waiting >= this.options.maxQueue) {
      metrics.count('ciphercare_queue_refused_total', 'Requests refused with 503 because the queues were full.');
      throw new ServiceError('overloaded', 503, `the evaluation queue is full (${waiting} jobs waiting, limit ${this.options.maxQueue})`, 1);
    }
    const shard = shardOf(session.id, this.options.shards);
    const toOverflow = depths[shard]! >= this.options.overflowAt;
    const queue = toOverflow ? this.overflow : this.queues[shard]!;
    if (toOverflow) metrics.count('ciphercare_queue_overflow_total', 'Jobs sent to the overflow queue because their shard backed up.');
    const jobId = randomUUID();
    const lifetimeMs = this.waitLimitMs() + 60_000;
    if (body) await this.redis.set(this.keys.body(jobId), Buffer.from(body.buffer, body.byteOffset, body.byteLength), 'PX', lifetimeMs);
    const data: JobData = { kind, sessionId: session.id, modelId: session.modelId, mode: session.mode, front: this.id, enqueuedAt: Date.now() };
    const finished = this.waitFor(jobId);
    // Awaited below; if queuing fails first, its time limit must not surface as an unhandled rejection.
    finished.catch(() => undefined);
    try {
      await queue.add(kind, data, { jobId, attempts: 1, removeOnComplete: true, removeOnFail: { age: 3600 } });
      await this.redis.publish(this.keys.doorbell, queue.name);
      const outcome = await finished;
      metrics.count('ciphercare_jobs_total', 'Jobs finished, by kind and outcome, seen by the front.', { kind, outcome: outcome.ok ? 'ok' : outcome.code });
      metrics.observe('ciphercare_queue_wait_seconds', 'Time a job waited in the queue before a worker took it.', outcome.ok ? outcome.waitMs / 1000 : 0, { role: 'front' });
      if (outcome.runs > 1) metrics.count('ciphercare_jobs_rerun_total', 'Jobs that a worker started more than once (the first worker died or lost its lock).', { role: 'front' });
      if (!outcome.ok) throw new ServiceError(outcome.code, statusFor(outcome.code), outcome.message, outcome.retryAfterSeconds);
      const result = kind === 'predict' ? ((await this.redis.getBuffer(this.keys.result(jobId))) ?? undefined) : undefined;
      return { outcome, result: result ? new Uint8Array(result.buffer, result.byteOffset, result.byteLength) : undefined };
    } finally {
      const waiter = this.waiters.get(jobId);
      if (waiter) clearTimeout(waiter.timer);
      this.waiters.delete(jobId);
      await this.redis.del(this.keys.body(jobId), this.keys.result(jobId), this.keys.outcome(jobId), this.keys.runs(jobId)).catch(() => undefined);
    }
  }

  /** How long a front waits for a job: its time limit plus time for a dead worker's lock to expire twice. */
  private waitLimitMs(): number {
    return this.options.jobTimeoutMs + 3 * this.options.lockMs + 10_000;
  }

  private waitFor(jobId: string): Promise<JobOutcome> {
    return new Promise<JobOutcome>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(jobId);
        reject(new ServiceError('evaluation_timeout', 503, `no worker finished the evaluation within ${this.waitLimitMs()} ms`, 1));
      }, this.waitLimitMs());
      this.waiters.set(jobId, { resolve, reject, timer });
    });
  }

  private async settle(jobId: string): Promise<void> {
    const waiter = this.waiters.get(jobId);
    if (!waiter) return;
    const text = await this.redis.get(this.keys.outcome(jobId));
    if (text === null || !this.waiters.has(jobId)) return;
    this.waiters.delete(jobId);
    clearTimeout(waiter.timer);
    try {
      waiter.resolve(parseOutcome(text));
    } catch (err) {
      waiter.reject(err as Error);
    }
  }

  private async pollPending(): Promise<void> {
    for (const jobId of [...this.waiters.keys()]) await this.settle(jobId).catch(() => undefined);
  }

  forget(ids: readonly string[]): void {
    if (ids.length > 0) void this.redis.publish(this.keys.forget, JSON.stringify(ids)).catch(() => undefined);
  }

  async health(): Promise<EvaluatorHealth> {
    const now = Date.now();
    const [depths, members] = await Promise.all([this.depths(), this.redis.zrangebyscore(this.keys.members, now - MEMBER_STALE_MS, '+inf')]);
    let total = 0;
    let busy = 0;
    if (members.length > 0) {
      const details = await this.redis.mget(members.map((m) => this.keys.member(m)));
      for (const text of details) {
        if (!text) continue;
        const d = JSON.parse(text) as { threads: number; busy: number };
        total += d.threads;
        busy += d.busy;
      }
    }
    return { total, ready: total, busy, queue: depths.reduce((a, b) => a + b, 0), queueLimit: this.options.maxQueue };
  }

  async gauges(): Promise<GaugeValue[]> {
    const health = await this.health();
    return [
      { name: 'ciphercare_front_jobs_pending', help: 'Jobs this front waits for.', value: this.waiters.size },
      { name: 'ciphercare_cluster_worker_threads', help: 'Evaluation threads of the live worker processes.', value: health.total },
    ];
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.poller);
    for (const [, w] of this.waiters) {
      clearTimeout(w.timer);
      w.reject(new ServiceError('shutting_down', 503, 'the service is shutting down', 5));
    }
    this.waiters.clear();
    await Promise.all([...this.queues, this.overflow].map((q) => q.close().catch(() => undefined)));
    await Promise.all([this.redis.quit().catch(() => undefined), this.subscriber.quit().catch(() => undefined)]);
  }
}
