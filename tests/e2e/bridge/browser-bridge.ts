/**
 * The test bridge's browser side, served as `/test-bridge.js` and loaded before the app: it
 * defines `window.ciphercare` with exactly the contract's functions, as the Electron preload
 * does. Each call is `POST /rpc/<domain>/<method>` with the arguments as a JSON array; a
 * `{ ok: false, error }` answer becomes a thrown Error carrying `code` and `field`. Progress
 * events arrive over Server-Sent Events (`GET /events`). Same origin only, so the app's CSP
 * (`script-src 'self'; connect-src 'self'`) holds.
 *
 * Runs in the browser; it only uses web globals that Node also has, so `tsc -p tests` checks it.
 */
import type { BridgeError, BridgeResult, CipherCareApi, ProgressEvent } from '../../../preload/contract.js';

type BridgeFailure = Error & { code: string; field?: string };

function failure(error: BridgeError): BridgeFailure {
  const err = new Error(error.message) as BridgeFailure;
  err.name = 'BridgeError';
  err.code = error.code;
  if (error.field !== undefined) err.field = error.field;
  return err;
}

async function call<T>(domain: string, method: string, args: unknown[]): Promise<T> {
  let response: Response;
  try {
    response = await fetch(`/rpc/${domain}/${method}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(args) });
  } catch {
    throw failure({ code: 'bridge_unreachable', message: 'the CipherCare core is not answering' });
  }
  const result = (await response.json()) as BridgeResult<T>;
  if (result.ok) return result.value;
  throw failure(result.error);
}

const listeners = new Set<(event: ProgressEvent) => void>();
let source: EventSource | null = null;

function subscribe(listener: (event: ProgressEvent) => void): () => void {
  listeners.add(listener);
  if (!source) {
    source = new EventSource('/events');
    source.onmessage = (message) => {
      const event = JSON.parse(String(message.data)) as ProgressEvent;
      for (const l of listeners) l(event);
    };
  }
  return () => {
    listeners.delete(listener);
  };
}

const api: CipherCareApi = {
  vault: {
    status: () => call('vault', 'status', []),
    create: (passphrase) => call('vault', 'create', [passphrase]),
    unlock: (passphrase) => call('vault', 'unlock', [passphrase]),
    lock: () => call('vault', 'lock', []),
    changePassphrase: (current, next) => call('vault', 'changePassphrase', [current, next]),
    wipe: (confirmation) => call('vault', 'wipe', [confirmation]),
  },
  provider: {
    get: () => call('provider', 'get', []),
    set: (settings) => call('provider', 'set', [settings]),
    test: (settings) => call('provider', 'test', [settings]),
  },
  models: {
    list: () => call('models', 'list', []),
  },
  predictions: {
    run: (request) => call('predictions', 'run', [request]),
    cancel: (runId) => call('predictions', 'cancel', [runId]),
    onProgress: subscribe,
  },
  batch: {
    run: (request) => call('batch', 'run', [request]),
  },
  history: {
    list: (query) => call('history', 'list', [query]),
  },
  keys: {
    list: () => call('keys', 'list', []),
    rotate: () => call('keys', 'rotate', []),
    exportBackup: (backupPassphrase) => call('keys', 'exportBackup', [backupPassphrase]),
    forgetAtProvider: () => call('keys', 'forgetAtProvider', []),
  },
};

function freeze<T extends object>(value: T): T {
  for (const v of Object.values(value)) if (typeof v === 'object' && v !== null) freeze(v as object);
  return Object.freeze(value);
}

Object.defineProperty(globalThis, 'ciphercare', { value: freeze(api), writable: false, enumerable: true, configurable: false });
