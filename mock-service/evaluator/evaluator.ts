import type { GaugeValue } from '../http/metrics.js';
import type { SessionInfo, SessionRecord, SessionStore } from '../sessions/session-store.js';

/** A prediction's answer and what the Server-Timing header says about it. */
export interface EvaluationOutcome {
  result: Uint8Array;
  evaluateMs: number;
  /** Extra Server-Timing entries, e.g. `shares;desc="2"`, `queue;dur=3.1`, `runs;desc="2"`. */
  timing: string[];
}

export interface EvaluatorHealth {
  total: number;
  ready: number;
  busy: number;
  queue: number;
  queueLimit: number;
}

/**
 * Where evaluations run: this process's thread pool (PoolEvaluator, the embedded default) or
 * BullMQ queues served by worker processes (QueueEvaluator). The HTTP layer sees only this.
 */
export interface Evaluator {
  /** Checks a new session's keys and stores the session; returns the ids the store evicted. */
  openSession(record: SessionRecord, store: SessionStore): Promise<string[]>;
  /** Evaluates a request body of a live session; throws ServiceError (session_not_found, overloaded…). */
  predict(session: SessionInfo, body: Uint8Array): Promise<EvaluationOutcome>;
  /** Frees the loaded keys of sessions that ended. */
  forget(ids: readonly string[]): void;
  health(): Promise<EvaluatorHealth>;
  /** Gauges of this evaluator for /v1/metrics (its counters go straight into ServiceMetrics). */
  gauges(): Promise<GaugeValue[]>;
  close(): Promise<void>;
}
