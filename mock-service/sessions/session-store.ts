import type { PlanMode } from '../../he-core/index.js';

/** One client's evaluation keys for one model and mode. Holds no secret: evaluation keys are public. */
export interface SessionRecord {
  id: string;
  /** Whose session it is (API key id, or "bundled"); another principal never sees it. */
  principal: string;
  modelId: string;
  mode: PlanMode;
  fingerprint: string;
  /** The key envelope, in shared memory so workers read it without a copy. */
  keys: Uint8Array;
  createdAt: number;
  lastUsedAt: number;
  expiresAt: number;
}

export interface StoreStats {
  sessions: number;
  bytes: number;
}

/**
 * Where sessions live. Asynchronous so that a shared store (Redis, for several service instances
 * behind a load balancer) can replace the in-memory one without touching the handlers.
 */
export interface SessionStore {
  /** The session, its expiry slid forward; undefined when unknown or expired. */
  touch(id: string, now: number): Promise<SessionRecord | undefined>;
  /** Stores a session; returns the ids evicted to stay within the memory bound. */
  put(record: SessionRecord): Promise<string[]>;
  delete(id: string): Promise<boolean>;
  /** Removes expired sessions; returns their ids. */
  sweep(now: number): Promise<string[]>;
  stats(): Promise<StoreStats>;
}
