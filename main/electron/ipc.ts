// The one IPC wrapper: every handler checks its sender frame, validates its payload against the
// channel's schema, and answers { ok, value } | { ok: false, error } (the preload turns a failure
// back into a thrown error). Electron is injected, so this file runs and is tested on plain Node.
import type { BridgeResult, CipherCareApi } from '../../preload/contract.js';
import { CHANNELS } from '../../preload/contract.js';
import { toBridgeError } from '../app/bridge-errors.js';
import { checkArguments } from './schemas.js';

export interface IpcEventLike {
  senderFrame: { url: string } | null;
}

export interface IpcMainLike {
  handle(channel: string, listener: (event: IpcEventLike, ...args: unknown[]) => Promise<unknown>): void;
}

type Invokable = (...args: never[]) => Promise<unknown>;

export interface IpcHooks {
  /** Called on every call from a trusted frame, before it runs (the shell's proof that its page started). */
  onTrustedCall?: (channel: string) => void;
}

/** Registers every invokable method of the contract. `isTrustedUrl` says which frames may call. */
export function registerIpcHandlers(ipcMain: IpcMainLike, isTrustedUrl: (url: string) => boolean, api: CipherCareApi, hooks: IpcHooks = {}): string[] {
  const registered: string[] = [];
  for (const [domain, methods] of Object.entries(CHANNELS)) {
    for (const [method, channel] of Object.entries(methods as Record<string, string>)) {
      const target = (api as unknown as Record<string, Record<string, Invokable>>)[domain]![method]!;
      ipcMain.handle(channel, async (event, ...args): Promise<BridgeResult<unknown>> => {
        // Electron security checklist 17: only our own page may call.
        const url = event.senderFrame?.url ?? '';
        if (!isTrustedUrl(url)) return { ok: false, error: { code: 'forbidden_sender', message: 'this window may not call CipherCare' } };
        hooks.onTrustedCall?.(channel);
        const problem = checkArguments(channel, args);
        if (problem) return { ok: false, error: { code: 'invalid_request', message: problem } };
        try {
          return { ok: true, value: await target(...(args as never[])) };
        } catch (err) {
          return { ok: false, error: toBridgeError(err) };
        }
      });
      registered.push(channel);
    }
  }
  return registered;
}
