import type { PlanMode } from '../../he-core/index.js';

/** What the handlers need to know of a session: whose it is, for which plan, until when. */
export interface SessionInfo {
  id: string;
  /** Whose session it is (API key id, or "bundled"); another principal never sees it. */
  principal: string;
  modelId: string;
  mode: PlanMode;
  fingerprint: string;
  /** Size of the key envelope. */
  keyBytes: number;
  createdAt: number;
  lastUsedAt: number;
  expiresAt: number;
}

/** One client's evaluation keys for one model and mode. Holds no secret: evaluation keys are public. */
export interface SessionRecord extends SessionInfo {
  /** The key envelope (in shared memory in the embedded service, so workers read it without a copy). */
  keys: Uint8Array;
}

export interface StoreStats {
  sessions: number;
  bytes: number;
}

/**
 * Where sessions live: this process's memory (MemorySessionStore) or Redis, shared by several
 * service processes (RedisSessionStore). Asynchronous, and the keys are read apart from the
 * session's details, so that a request that does not need 8 MB of keys does not fetch them.
 */
export interface SessionStore {
  /** The session's details, its expiry slid forward; undefined when unknown or expired. */
  touch(id: string, now: number): Promise<SessionInfo | undefined>;
  /** The session's key envelope, or undefined when the session is gone. Does not slide the expiry. */
  keys(id: string): Promise<Uint8Array | undefined>;
  /** Stores a session; returns the ids evicted to stay within the memory bound. */
  put(record: SessionRecord): Promise<string[]>;
  delete(id: string): Promise<boolean>;
  /** Removes expired sessions; returns their ids. */
  sweep(now: number): Promise<string[]>;
  stats(): Promise<StoreStats>;
  /** Releases connections (a no-op for the memory store). */
  close(): Promise<void>;
}
