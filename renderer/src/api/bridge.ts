import type { BridgeError, BridgeResult, CipherCareApi, CipherCareBridge, ProgressEvent } from './contract.js';

declare global {
  interface Window {
    /** What the preload exposes: methods that resolve results and never reject. */
    ciphercare?: CipherCareBridge;
  }
}

/** A failed bridge call, with the contract's stable code and the input field at fault. */
export class BridgeCallError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'BridgeCallError';
  }
}

function unwrap<T>(result: BridgeResult<T>): T {
  if (result && typeof result === 'object' && result.ok === true) return result.value;
  if (result && typeof result === 'object' && result.ok === false && result.error) throw new BridgeCallError(result.error.code, result.error.message, result.error.field);
  throw new BridgeCallError('bridge_malformed', "CipherCare's core gave an answer this window cannot read. Restart CipherCare and try again.");
}

/** The result-object bridge as the typed, throwing api the screens use. */
export function wrapBridge(raw: CipherCareBridge): CipherCareApi {
  const api: Record<string, Record<string, unknown>> = {};
  for (const [domain, methods] of Object.entries(raw as unknown as Record<string, Record<string, (...args: unknown[]) => unknown>>)) {
    const group: Record<string, unknown> = {};
    for (const [method, fn] of Object.entries(methods)) {
      group[method] = async (...args: unknown[]) => unwrap((await fn(...args)) as BridgeResult<unknown>);
    }
    api[domain] = group;
  }
  api.predictions!.onProgress = (listener: (event: ProgressEvent) => void) => raw.predictions.onProgress(listener);
  return api as unknown as CipherCareApi;
}

let wrapped: { raw: CipherCareBridge; api: CipherCareApi } | null = null;

/** The preload's global as a typed api whose failures throw `BridgeCallError`. */
export function bridge(): CipherCareApi {
  const raw = window.ciphercare;
  if (!raw) throw new Error('CipherCare bridge missing: open this page from the CipherCare app.');
  if (wrapped?.raw !== raw) wrapped = { raw, api: wrapBridge(raw) };
  return wrapped.api;
}

export function hasBridge(): boolean {
  return window.ciphercare !== undefined;
}

/** What the UI shows of a failed call: its code, message and field (`unexpected` for anything else). */
export function toUiError(err: unknown): BridgeError {
  if (err instanceof BridgeCallError) {
    const out: BridgeError = { code: err.code, message: err.message };
    if (err.field !== undefined) out.field = err.field;
    return out;
  }
  if (err instanceof Error) return { code: 'unexpected', message: err.message || 'Something went wrong.' };
  return { code: 'unexpected', message: String(err) };
}

/** A run id for one prediction (correlates progress events with the run). */
export function newRunId(): string {
  if (typeof crypto !== 'undefined' && typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}
