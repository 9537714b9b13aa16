/**
 * The test bridge's browser side, served as `/test-bridge.js` and loaded before the app: it
 * defines `window.ciphercare` through the very builder the Electron preload uses
 * (`preload/bridge-api.ts`), so the page gets the same result-object API and the renderer's
 * wrapper is what turns failures into typed errors, as in the app. Each call is
 * `POST /rpc/<channel>` with the arguments as a JSON array; progress events arrive over
 * Server-Sent Events (`GET /events`). Same origin only, so the app's CSP
 * (`script-src 'self'; connect-src 'self'`) holds. Bundled for the browser by the bridge server.
 */
import { createBridgeApi } from '../../../preload/bridge-api.js';
import { BRIDGE_GLOBAL } from '../../../preload/contract.js';
import type { ProgressEvent } from '../../../preload/contract.js';

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

const api = createBridgeApi({
  invoke: async (channel, args) => {
    const response = await fetch(`/rpc/${encodeURIComponent(channel)}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(args) });
    return response.json();
  },
  onProgress: subscribe,
});

/** contextBridge hands the page a frozen copy. */
function freeze<T extends object>(value: T): T {
  for (const v of Object.values(value)) if (typeof v === 'object' && v !== null) freeze(v as object);
  return Object.freeze(value);
}

Object.defineProperty(globalThis, BRIDGE_GLOBAL, { value: freeze(api), writable: false, enumerable: true, configurable: false });
