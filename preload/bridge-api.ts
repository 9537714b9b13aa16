// The bridge object as the preload exposes it, built over a transport (Electron's ipcRenderer in
// the app, HTTP in the browser tests), so that both expose the very same result-object API.
import { CHANNELS } from './contract.js';
import type { BridgeResult, CipherCareBridge, ProgressEvent } from './contract.js';

export interface BridgeTransport {
  /** Calls the privileged side; resolves what its IPC wrapper answered (a BridgeResult). */
  invoke(channel: string, args: unknown[]): Promise<unknown>;
  /** Subscribes to progress events; returns the unsubscribe function. */
  onProgress(listener: (event: ProgressEvent) => void): () => void;
}

function isBridgeResult(value: unknown): value is BridgeResult<unknown> {
  if (!value || typeof value !== 'object') return false;
  const r = value as { ok?: unknown; error?: { code?: unknown; message?: unknown } };
  if (r.ok === true) return true;
  return r.ok === false && typeof r.error?.code === 'string' && typeof r.error.message === 'string';
}

/**
 * Every method resolves `{ ok: true, value } | { ok: false, error: { code, message, field? } }`
 * and never rejects: contextBridge would keep only an error's message, and the renderer needs the
 * code and the field. A transport failure becomes a result too.
 */
export function createBridgeApi(transport: BridgeTransport): CipherCareBridge {
  const call = async (channel: string, args: unknown[]): Promise<BridgeResult<unknown>> => {
    let answer: unknown;
    try {
      answer = await transport.invoke(channel, args);
    } catch {
      return { ok: false, error: { code: 'bridge_unreachable', message: "CipherCare's core did not answer. Restart CipherCare and try again." } };
    }
    if (!isBridgeResult(answer)) return { ok: false, error: { code: 'bridge_malformed', message: "CipherCare's core gave an answer this window cannot read. Restart CipherCare and try again." } };
    return answer;
  };
  const api: Record<string, Record<string, unknown>> = {};
  for (const [domain, methods] of Object.entries(CHANNELS)) {
    const group: Record<string, unknown> = {};
    for (const [method, channel] of Object.entries(methods as Record<string, string>)) group[method] = (...args: unknown[]) => call(channel, args);
    api[domain] = group;
  }
  api.predictions!.onProgress = (listener: (event: ProgressEvent) => void) => transport.onProgress(listener);
  return api as unknown as CipherCareBridge;
}
