import { Worker } from 'node:worker_threads';
import type { CipherCareApi, ProgressEvent } from '../../preload/contract.js';
import { CHANNELS } from '../../preload/contract.js';
import { AppError } from './bridge-errors.js';
import type { CoreMessage, CoreRequest, CoreWorkerData } from './core-protocol.js';

/** The OS keychain as the host sees it (Electron's safeStorage behind it in the app). */
export interface HostKeychain {
  name: string;
  encrypt(data: Uint8Array): Uint8Array;
  decrypt(data: Uint8Array): Uint8Array;
}

export interface CoreHostOptions {
  dataDir: string;
  keychain?: HostKeychain;
  bundledService?: { url: string; token: string };
  /** scrypt at its floor (tests only). */
  fastKdf?: boolean;
}

const workerUrl = new URL(import.meta.url.endsWith('.ts') ? './core-worker.ts' : './core-worker.js', import.meta.url);
const execArgv = import.meta.url.endsWith('.ts') ? ['--import', import.meta.resolve('tsx')] : [];

/**
 * Runs the client core in a worker thread and exposes it as a CipherCareApi whose failures are
 * thrown as `AppError` with the worker's code and field (the IPC wrapper turns them back into
 * results with `toBridgeError`).
 */
export class CoreHost {
  readonly api: CipherCareApi;
  private readonly worker: Worker;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private readonly listeners = new Set<(e: ProgressEvent) => void>();
  private nextId = 1;
  private readonly ready: Promise<void>;

  constructor(private readonly options: CoreHostOptions) {
    const data: CoreWorkerData = {
      dataDir: options.dataDir,
      keychainName: options.keychain?.name ?? null,
      bundledService: options.bundledService ?? null,
      fastKdf: options.fastKdf ?? false,
    };
    this.worker = new Worker(workerUrl, { workerData: data, execArgv });
    this.ready = new Promise((resolve, reject) => {
      this.worker.once('error', reject);
      this.worker.on('message', (m: CoreMessage) => {
        if (m.type === 'ready') resolve();
        this.onMessage(m);
      });
    });
    this.worker.on('exit', () => {
      for (const p of this.pending.values()) p.reject(new AppError('internal_error', 'the client core stopped; restart CipherCare'));
      this.pending.clear();
    });
    const api = {} as Record<string, Record<string, unknown>>;
    for (const [domain, methods] of Object.entries(CHANNELS)) {
      api[domain] = {};
      for (const method of Object.keys(methods)) api[domain]![method] = (...args: unknown[]) => this.call(domain, method, args);
    }
    api.predictions!.onProgress = (listener: (e: ProgressEvent) => void) => {
      this.listeners.add(listener);
      return () => this.listeners.delete(listener);
    };
    this.api = api as unknown as CipherCareApi;
  }

  private onMessage(m: CoreMessage): void {
    if (m.type === 'result') {
      const p = this.pending.get(m.id);
      this.pending.delete(m.id);
      if (!p) return;
      if (m.ok) p.resolve(m.value);
      else p.reject(new AppError(m.error.code, m.error.message, m.error.field));
    } else if (m.type === 'progress') {
      for (const l of this.listeners) l(m.event);
    } else if (m.type === 'keychain') {
      this.answerKeychain(m.op, m.data, m.reply);
    }
  }

  private answerKeychain(op: 'wrap' | 'unwrap', data: Uint8Array, reply: SharedArrayBuffer): void {
    const header = new Int32Array(reply, 0, 2);
    try {
      if (!this.options.keychain) throw new AppError('keychain_unavailable', 'no OS keychain');
      const out = op === 'wrap' ? this.options.keychain.encrypt(data) : this.options.keychain.decrypt(data);
      if (out.byteLength > reply.byteLength - 8) throw new AppError('keychain_unavailable', 'keychain answer too large');
      new Uint8Array(reply, 8, out.byteLength).set(out);
      header[1] = out.byteLength;
      Atomics.store(header, 0, 1);
    } catch {
      Atomics.store(header, 0, 2);
    }
    Atomics.notify(header, 0);
  }

  private async call(domain: string, method: string, args: unknown[]): Promise<unknown> {
    await this.ready;
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ type: 'call', id, domain, method, args } satisfies CoreRequest);
    });
  }

  async close(): Promise<void> {
    await this.ready.catch(() => undefined);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 30_000);
      this.worker.on('message', (m: CoreMessage) => {
        if (m.type === 'closed') {
          clearTimeout(timer);
          resolve();
        }
      });
      this.worker.postMessage({ type: 'close' } satisfies CoreRequest);
    });
    await this.worker.terminate();
  }
}
