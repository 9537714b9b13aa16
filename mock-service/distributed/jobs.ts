import type { ApiErrorCode, PlanMode } from '../../he-core/index.js';

/** What a front puts in a BullMQ job: names only; the body and the answer are Redis values of their own. */
export interface JobData {
  kind: 'open' | 'predict';
  sessionId: string;
  modelId: string;
  mode: PlanMode;
  /** The front waiting for the answer (its `done` channel). */
  front: string;
  /** When the front queued the job (ms since the epoch). */
  enqueuedAt: number;
}

/** What the worker that finished a job leaves for the front (JSON, with a lifetime). */
export type JobOutcome =
  | { ok: true; evaluateMs: number; waitMs: number; runs: number; shares: number }
  | { ok: false; code: ApiErrorCode; message: string; runs: number; retryAfterSeconds?: number };

export function parseOutcome(text: string): JobOutcome {
  const value = JSON.parse(text) as JobOutcome;
  if (typeof value !== 'object' || value === null || typeof value.ok !== 'boolean' || typeof value.runs !== 'number') throw new Error('a job outcome in Redis is not one this service wrote');
  return value;
}
