import type { SessionInfo, SessionRecord, SessionStore, StoreStats } from './session-store.js';

export interface MemoryStoreOptions {
  /** Sliding time-to-live of a session. */
  ttlMs: number;
  /** Total key bytes held; the least recently used sessions are evicted beyond it. */
  maxBytes: number;
}

/** Sessions in this process's memory, least recently used first (Map insertion order). */
export class MemorySessionStore implements SessionStore {
  private readonly sessions = new Map<string, SessionRecord>();
  private bytes = 0;

  constructor(private readonly options: MemoryStoreOptions) {}

  async touch(id: string, now: number): Promise<SessionInfo | undefined> {
    const record = this.sessions.get(id);
    if (!record) return undefined;
    if (record.expiresAt <= now) {
      this.remove(id);
      return undefined;
    }
    record.lastUsedAt = now;
    record.expiresAt = now + this.options.ttlMs;
    this.sessions.delete(id);
    this.sessions.set(id, record);
    return record;
  }

  async keys(id: string): Promise<Uint8Array | undefined> {
    return this.sessions.get(id)?.keys;
  }

  async put(record: SessionRecord): Promise<string[]> {
    this.remove(record.id);
    record.expiresAt = record.lastUsedAt + this.options.ttlMs;
    this.sessions.set(record.id, record);
    this.bytes += record.keys.byteLength;
    const evicted: string[] = [];
    for (const [id] of this.sessions) {
      if (this.bytes <= this.options.maxBytes || id === record.id) break;
      this.remove(id);
      evicted.push(id);
    }
    return evicted;
  }

  async delete(id: string): Promise<boolean> {
    return this.remove(id);
  }

  async sweep(now: number): Promise<string[]> {
    const expired: string[] = [];
    for (const [id, record] of this.sessions) {
      if (record.expiresAt <= now) expired.push(id);
    }
    for (const id of expired) this.remove(id);
    return expired;
  }

  async close(): Promise<void> {}

  async stats(): Promise<StoreStats> {
    return { sessions: this.sessions.size, bytes: this.bytes };
  }

  private remove(id: string): boolean {
    const record = this.sessions.get(id);
    if (!record) return false;
    this.sessions.delete(id);
    this.bytes -= record.keys.byteLength;
    return true;
  }
}
