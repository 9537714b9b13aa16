import type { BridgeError, CipherCareApi } from './contract.js';

declare global {
  interface Window {
    ciphercare?: CipherCareApi;
  }
}

/** The preload's global; absent when the page is opened outside the app or the test bridge. */
export function bridge(): CipherCareApi {
  const api = window.ciphercare;
  if (!api) throw new Error('CipherCare bridge missing: open this page from the CipherCare app.');
  return api;
}

export function hasBridge(): boolean {
  return window.ciphercare !== undefined;
}

/** What the UI shows of a failed call: the bridge throws an Error carrying the contract's `code` and `field`. */
export function toUiError(err: unknown): BridgeError {
  if (err instanceof Error) {
    const { code, field } = err as Error & { code?: unknown; field?: unknown };
    const out: BridgeError = { code: typeof code === 'string' ? code : 'unexpected', message: err.message || 'Something went wrong.' };
    if (typeof field === 'string') out.field = field;
    return out;
  }
  return { code: 'unexpected', message: String(err) };
}

/** A run id for one prediction (correlates progress events with the run). */
export function newRunId(): string {
  if (typeof crypto !== 'undefined' && typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}
