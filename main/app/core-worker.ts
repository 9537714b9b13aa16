// The client core off the main thread: AppCore (vault, keys, encryption, decryption) runs in this
// worker so that key generation and encryption never block the app's main thread.
import { parentPort, workerData } from 'node:worker_threads';
import type { KeyWrapper } from '../vault/index.js';
import { SCRYPT_FLOOR } from '../vault/index.js';
import { AppCore } from './app-core.js';
import { toBridgeError } from './bridge-errors.js';
import { KEYCHAIN_REPLY_BYTES } from './core-protocol.js';
import type { CoreMessage, CoreRequest, CoreWorkerData } from './core-protocol.js';

const port = parentPort!;
const data = workerData as CoreWorkerData;

function send(message: CoreMessage): void {
  port.postMessage(message);
}

/** The host's OS keychain, called synchronously: the host answers while this thread waits. */
function keychainBridge(name: string): KeyWrapper {
  const call = (op: 'wrap' | 'unwrap', bytes: Uint8Array): Uint8Array => {
    const reply = new SharedArrayBuffer(KEYCHAIN_REPLY_BYTES);
    const header = new Int32Array(reply, 0, 2);
    send({ type: 'keychain', op, data: Uint8Array.from(bytes), reply });
    Atomics.wait(header, 0, 0, 30_000);
    if (Atomics.load(header, 0) !== 1) throw new Error(`the OS keychain refused to ${op} the key`);
    const out = Uint8Array.from(new Uint8Array(reply, 8, header[1]!));
    new Uint8Array(reply).fill(0);
    return out;
  };
  return { name, isSecure: () => true, wrap: (k) => call('wrap', k), unwrap: (b) => call('unwrap', b) };
}

const core = new AppCore({
  dataDir: data.dataDir,
  ...(data.fastKdf ? { kdf: SCRYPT_FLOOR } : {}),
  ...(data.keychainName ? { keychain: keychainBridge(data.keychainName) } : {}),
  ...(data.bundledService ? { presetBundled: data.bundledService } : {}),
});
core.api.predictions.onProgress((event) => send({ type: 'progress', event }));
// With a secure OS keychain wrapping the data key, the vault opens without the passphrase.
try {
  core.unlockWithKeychain();
} catch {
  // A changed or unreadable keychain falls back to the passphrase screen (the status says locked).
}

port.on('message', (request: CoreRequest) => {
  if (request.type === 'close') {
    void core.close().finally(() => send({ type: 'closed' }));
    return;
  }
  const target = (core.api as unknown as Record<string, Record<string, (...a: unknown[]) => Promise<unknown>>>)[request.domain]?.[request.method];
  if (!target || request.method === 'onProgress') {
    send({ type: 'result', id: request.id, ok: false, error: { code: 'invalid_request', message: `no method ${request.domain}.${request.method}` } });
    return;
  }
  target(...request.args).then(
    (value) => send({ type: 'result', id: request.id, ok: true, value }),
    (err: unknown) => send({ type: 'result', id: request.id, ok: false, error: toBridgeError(err) }),
  );
});

send({ type: 'ready' });
