/**
 * What the stand-in runs in a window's page before the page's own scripts: Electron's renderer
 * side of a sandboxed, context-isolated window. It runs the preload (the built `preload.cjs`) with
 * a `require('electron')` that gives `contextBridge` and `ipcRenderer`, and copies what the
 * preload exposes into the page as Electron's contextBridge documents it: functions are proxied,
 * other values are copied and frozen, prototypes are dropped, and an error thrown or rejected
 * across the bridge arrives as a new Error with its message only (custom properties are lost).
 *
 * Its source text is injected with Playwright's addInitScript (it must stay self-contained), with
 * the preload wrapped as a CommonJS function (no eval: the page's CSP forbids it).
 */
export type PreloadModule = (require: (name: string) => unknown, module: { exports: unknown }, exports: unknown) => void;

export function rendererWorld(preload: PreloadModule | null): void {
  const page = globalThis as unknown as Record<string, unknown>;
  // The preload runs in the main frame only.
  if (page.top !== globalThis) return;
  type Reply = { ok: true; value: unknown } | { ok: false; message: string };
  const invokeBinding = page.__standinIpcInvoke as (channel: string, args: unknown[]) => Promise<Reply>;
  const listeners = new Map<string, ((event: unknown, ...args: unknown[]) => void)[]>();

  const ipcRenderer = {
    invoke(channel: string, ...args: unknown[]): Promise<unknown> {
      return invokeBinding(channel, args).then((reply) => {
        if (reply.ok) return reply.value;
        throw new Error(reply.message);
      });
    },
    on(channel: string, listener: (event: unknown, ...args: unknown[]) => void) {
      listeners.set(channel, [...(listeners.get(channel) ?? []), listener]);
      return ipcRenderer;
    },
    removeListener(channel: string, listener: (event: unknown, ...args: unknown[]) => void) {
      listeners.set(
        channel,
        (listeners.get(channel) ?? []).filter((l) => l !== listener),
      );
      return ipcRenderer;
    },
    removeAllListeners(channel: string) {
      listeners.delete(channel);
      return ipcRenderer;
    },
  };
  Object.defineProperty(page, '__standinIpcDispatch', {
    value: (channel: string, args: unknown[]) => {
      for (const l of listeners.get(channel) ?? []) l({ sender: ipcRenderer }, ...args);
    },
  });

  // contextBridge: copy across worlds.
  const onlyMessage = (err: unknown): Error => new Error(err instanceof Error ? err.message : String(err));
  const copy = (value: unknown, depth: number): unknown => {
    if (depth > 1000) throw new Error('the object is too deep to cross the context bridge');
    if (typeof value === 'function') {
      const fn = value as (...a: unknown[]) => unknown;
      return function proxied(...args: unknown[]): unknown {
        let result: unknown;
        try {
          result = fn(...args.map((a) => copy(a, 0)));
        } catch (err) {
          throw onlyMessage(err);
        }
        return copy(result, 0);
      };
    }
    if (typeof value === 'symbol') throw new Error('a symbol cannot cross the context bridge');
    if (value === null || typeof value !== 'object') return value;
    if (value instanceof Promise) {
      return new Promise((resolve, reject) => {
        value.then(
          (v) => resolve(copy(v, 0)),
          (e) => reject(onlyMessage(e)),
        );
      });
    }
    if (value instanceof Error) return onlyMessage(value);
    if (Array.isArray(value)) return Object.freeze(value.map((v) => copy(v, depth + 1)));
    if (ArrayBuffer.isView(value) || value instanceof Date || value instanceof RegExp) return structuredClone(value);
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value)) out[key] = copy((value as Record<string, unknown>)[key], depth + 1);
    return Object.freeze(out);
  };
  const contextBridge = {
    exposeInMainWorld(key: string, api: unknown): void {
      if (key in page) throw new Error(`Cannot bind an API on top of an existing property on the window object: ${key}`);
      Object.defineProperty(page, key, { value: copy(api, 0), enumerable: true });
    },
  };

  if (preload === null) return;
  const sandboxedRequire = (name: string): unknown => {
    if (name === 'electron') return { contextBridge, ipcRenderer };
    throw new Error(`module not found: ${name} (a sandboxed preload can require only electron, events, timers and url)`);
  };
  const module = { exports: {} as unknown };
  preload(sandboxedRequire, module, module.exports);
}

/** The init script of a window: this world, then its preload. */
export function rendererWorldScript(preloadSource: string | null): string {
  const preload = preloadSource === null ? 'null' : `function (require, module, exports) {\n${preloadSource}\n}`;
  // The test runner's TypeScript transform may name functions with an `__name` helper.
  return `(() => { const __name = (f) => f; (${rendererWorld.toString()})(${preload}); })();`;
}
