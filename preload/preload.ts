// The preload: exposes exactly one global, `window.ciphercare`, with the named functions of the
// contract and nothing else (no ipcRenderer, no event emitter). A failed call is thrown back as an
// Error carrying the bridge error's code and field.
import { contextBridge, ipcRenderer } from 'electron';
import type { IpcRendererEvent } from 'electron';
import { BRIDGE_GLOBAL, CHANNELS, PROGRESS_CHANNEL } from './contract.js';
import type { BridgeResult, CipherCareApi, ProgressEvent } from './contract.js';

class BridgeCallError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'CipherCareError';
  }
}

async function invoke<T>(channel: string, ...args: unknown[]): Promise<T> {
  const result = (await ipcRenderer.invoke(channel, ...args)) as BridgeResult<T>;
  if (result.ok) return result.value;
  throw new BridgeCallError(result.error.code, result.error.message, result.error.field);
}

export const api: CipherCareApi = {
  vault: {
    status: () => invoke(CHANNELS.vault.status),
    create: (passphrase) => invoke(CHANNELS.vault.create, passphrase),
    unlock: (passphrase) => invoke(CHANNELS.vault.unlock, passphrase),
    lock: () => invoke(CHANNELS.vault.lock),
    changePassphrase: (current, next) => invoke(CHANNELS.vault.changePassphrase, current, next),
    wipe: (confirmation) => invoke(CHANNELS.vault.wipe, confirmation),
  },
  provider: {
    get: () => invoke(CHANNELS.provider.get),
    set: (settings) => invoke(CHANNELS.provider.set, settings),
    test: (settings) => invoke(CHANNELS.provider.test, settings),
  },
  models: { list: () => invoke(CHANNELS.models.list) },
  predictions: {
    run: (request) => invoke(CHANNELS.predictions.run, request),
    cancel: (runId) => invoke(CHANNELS.predictions.cancel, runId),
    onProgress: (listener) => {
      const handler = (_event: IpcRendererEvent, progress: ProgressEvent): void => listener(progress);
      ipcRenderer.on(PROGRESS_CHANNEL, handler);
      return () => {
        ipcRenderer.removeListener(PROGRESS_CHANNEL, handler);
      };
    },
  },
  batch: { run: (request) => invoke(CHANNELS.batch.run, request) },
  history: { list: (query) => invoke(CHANNELS.history.list, query) },
  keys: {
    list: () => invoke(CHANNELS.keys.list),
    rotate: () => invoke(CHANNELS.keys.rotate),
    exportBackup: (backupPassphrase) => invoke(CHANNELS.keys.exportBackup, backupPassphrase),
    forgetAtProvider: () => invoke(CHANNELS.keys.forgetAtProvider),
  },
};

contextBridge.exposeInMainWorld(BRIDGE_GLOBAL, api);
