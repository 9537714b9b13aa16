// The preload: exposes exactly one global, `window.ciphercare`, with the named functions of the
// contract and nothing else (no ipcRenderer, no event emitter). Every function resolves a
// BridgeResult and never rejects: contextBridge copies only the message of an error, so a thrown
// code would not reach the page (electron/electron#25596).
import { contextBridge, ipcRenderer } from 'electron';
import type { IpcRendererEvent } from 'electron';
import { createBridgeApi } from './bridge-api.js';
import { BRIDGE_GLOBAL, PROGRESS_CHANNEL } from './contract.js';
import type { CipherCareBridge, ProgressEvent } from './contract.js';

export const api: CipherCareBridge = createBridgeApi({
  invoke: (channel, args) => ipcRenderer.invoke(channel, ...args),
  onProgress: (listener) => {
    const handler = (_event: IpcRendererEvent, progress: ProgressEvent): void => listener(progress);
    ipcRenderer.on(PROGRESS_CHANNEL, handler);
    return () => {
      ipcRenderer.removeListener(PROGRESS_CHANNEL, handler);
    };
  },
});

contextBridge.exposeInMainWorld(BRIDGE_GLOBAL, api);
