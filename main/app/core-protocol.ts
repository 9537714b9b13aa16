import type { BridgeError, ProgressEvent } from '../../preload/contract.js';

/** Host -> core worker. */
export type CoreRequest = { type: 'call'; id: number; domain: string; method: string; args: unknown[] } | { type: 'close' };

/** Core worker -> host. */
export type CoreMessage =
  | { type: 'ready' }
  | { type: 'result'; id: number; ok: true; value: unknown }
  | { type: 'result'; id: number; ok: false; error: BridgeError }
  | { type: 'progress'; event: ProgressEvent }
  | { type: 'keychain'; op: 'wrap' | 'unwrap'; data: Uint8Array; reply: SharedArrayBuffer }
  | { type: 'closed' };

export interface CoreWorkerData {
  dataDir: string;
  /** When the host has a secure OS keychain: its backend name. */
  keychainName: string | null;
  bundledService: { url: string; token: string } | null;
  fastKdf: boolean;
}

/** Reply buffer layout for keychain calls: [state i32, length i32, bytes...]. state 1 = ok, 2 = failed. */
export const KEYCHAIN_REPLY_BYTES = 8 + 64 * 1024;
