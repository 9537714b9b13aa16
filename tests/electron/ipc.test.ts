import { describe, expect, it } from 'vitest';
import { CHANNELS } from '../../preload/contract.js';
import type { BridgeResult, CipherCareApi } from '../../preload/contract.js';
import { AppError } from '../../main/app/bridge-errors.js';
import { isAppPageUrl } from '../../main/electron/app-protocol.js';
import { registerIpcHandlers } from '../../main/electron/ipc.js';
import type { IpcEventLike, IpcMainLike } from '../../main/electron/ipc.js';
import { SCHEMAS } from '../../main/electron/schemas.js';
import { FlowError } from '../../main/flow/errors.js';

// Electron's ipcMain, mocked: the wrapper is what is under test.
class FakeIpcMain implements IpcMainLike {
  readonly handlers = new Map<string, (event: IpcEventLike, ...args: unknown[]) => Promise<unknown>>();
  handle(channel: string, listener: (event: IpcEventLike, ...args: unknown[]) => Promise<unknown>): void {
    this.handlers.set(channel, listener);
  }
  call(url: string | null, channel: string, ...args: unknown[]): Promise<BridgeResult<unknown>> {
    return this.handlers.get(channel)!({ senderFrame: url === null ? null : { url } }, ...args) as Promise<BridgeResult<unknown>>;
  }
}

const APP = 'app://ciphercare/index.html';
const calls: unknown[][] = [];
const api = {
  vault: {
    status: async () => ({ exists: true, unlocked: false, dataDir: '/x', keychain: 'unavailable' }),
    create: async () => ({}),
    unlock: async (p: string) => {
      calls.push(['unlock', p]);
      return { exists: true, unlocked: true, dataDir: '/x', keychain: 'unavailable' };
    },
    lock: async () => ({}),
    changePassphrase: async () => ({}),
    wipe: async () => ({}),
    unlockAcceptingLostChanges: async () => ({}),
  },
  settings: { get: async () => ({}), setCheckRequests: async () => ({}) },
  trust: { list: async () => ({}), forget: async () => ({}) },
  provider: { get: async () => ({ kind: 'bundled' }), set: async () => ({ kind: 'bundled' }), test: async () => ({}) },
  models: { list: async () => [] },
  predictions: {
    run: async () => {
      throw new FlowError('input_out_of_range', 'BMI is 99 kg/m2; the model accepts 15 to 50 kg/m2', 'bmi');
    },
    cancel: async () => undefined,
    onProgress: () => () => undefined,
  },
  batch: {
    run: async () => {
      // How CoreHost rethrows an error of the core worker.
      throw new AppError('csv_invalid', 'The file has no column "age".', 'age');
    },
  },
  history: {
    list: async () => {
      throw new Error('SQLITE internal detail /home/user/secret');
    },
  },
  keys: { list: async () => ({}), rotate: async () => ({}), exportBackup: async () => ({}), forgetAtProvider: async () => ({}) },
} as unknown as CipherCareApi;

describe('the IPC wrapper', () => {
  const ipc = new FakeIpcMain();
  const trustedCalls: string[] = [];
  const channels = registerIpcHandlers(ipc, isAppPageUrl, api, { onTrustedCall: (c) => trustedCalls.push(c) });

  it('registers exactly the contract channels, each with a schema', () => {
    const expected = Object.values(CHANNELS).flatMap((m) => Object.values(m as Record<string, string>));
    expect(channels.sort()).toEqual(expected.sort());
    expect(Object.keys(SCHEMAS).sort()).toEqual(expected.sort());
    for (const c of channels) expect(c).toMatch(/^ciphercare:[a-z]+:[A-Za-z]+$/);
  });

  it('answers our own page, with a hash or a query', async () => {
    expect(await ipc.call(APP, CHANNELS.vault.unlock, 'pass phrase')).toEqual({ ok: true, value: { exists: true, unlocked: true, dataDir: '/x', keychain: 'unavailable' } });
    expect((await ipc.call(`${APP}#/history`, CHANNELS.vault.status)).ok).toBe(true);
    expect((await ipc.call('app://ciphercare/', CHANNELS.vault.status)).ok).toBe(true);
    expect(trustedCalls).toContain(CHANNELS.vault.unlock);
  });

  it('refuses other senders before running anything', async () => {
    calls.length = 0;
    trustedCalls.length = 0;
    for (const url of [
      'https://evil.example/',
      'file:///tmp/index.html',
      'file:///opt/CipherCare/resources/app.asar/dist/renderer/index.html',
      'app://evil/index.html',
      'app://ciphercare/other.html',
      'app://ciphercare.evil/index.html',
      'http://127.0.0.1:8080/index.html',
      'about:blank',
      '',
      null,
    ]) {
      const res = await ipc.call(url, CHANNELS.vault.unlock, 'pass phrase');
      expect(res).toEqual({ ok: false, error: { code: 'forbidden_sender', message: expect.any(String) } });
    }
    expect(calls).toEqual([]);
    expect(trustedCalls).toEqual([]);
  });

  it('refuses bad payloads with a message naming the problem', async () => {
    const bad: [string, unknown[]][] = [
      [CHANNELS.vault.unlock, []],
      [CHANNELS.vault.unlock, [42]],
      [CHANNELS.vault.unlock, ['x', 'extra']],
      [CHANNELS.vault.unlock, ['x'.repeat(5000)]],
      [CHANNELS.predictions.run, [{ runId: 'r', modelId: 'breast-cancer', input: [1, Number.NaN] }]],
      [CHANNELS.predictions.run, [{ runId: 'r', modelId: 'breast-cancer', input: [1], extra: true }]],
      [CHANNELS.predictions.run, [{ runId: 'r/../x', modelId: 'breast-cancer', input: [1] }]],
      [CHANNELS.predictions.run, [{ runId: 'r', modelId: 'Breast Cancer', input: [1] }]],
      [CHANNELS.provider.set, [{ kind: 'remote' }]],
      [CHANNELS.provider.set, [{ kind: 'ftp', url: 'ftp://x' }]],
      [CHANNELS.history.list, [{ limit: -1 }]],
      [CHANNELS.history.list, [{ limit: 10, __proto__: { polluted: true }, offset: 'a' }]],
    ];
    for (const [channel, args] of bad) {
      const res = await ipc.call(APP, channel, ...args);
      expect(res.ok, `${channel} ${JSON.stringify(args).slice(0, 80)}`).toBe(false);
      if (!res.ok) {
        expect(res.error.code).toBe('invalid_request');
        expect(res.error.message).toMatch(/argument|expected/);
      }
    }
  });

  it('turns typed failures into { code, message, field } and hides unexpected internals', async () => {
    const typed = await ipc.call(APP, CHANNELS.predictions.run, { runId: 'r1', modelId: 'diabetes-progression', input: { bmi: 99 } });
    expect(typed).toEqual({ ok: false, error: { code: 'input_out_of_range', message: 'BMI is 99 kg/m2; the model accepts 15 to 50 kg/m2', field: 'bmi' } });
    // The core worker's errors, rethrown by CoreHost, keep their code and field.
    expect(await ipc.call(APP, CHANNELS.batch.run, { runId: 'r2', modelId: 'diabetes-progression', csv: 'x' })).toEqual({
      ok: false,
      error: { code: 'csv_invalid', message: 'The file has no column "age".', field: 'age' },
    });
    const unexpected = await ipc.call(APP, CHANNELS.history.list, {});
    expect(unexpected.ok).toBe(false);
    if (!unexpected.ok) {
      expect(unexpected.error.code).toBe('internal_error');
      expect(unexpected.error.message).not.toContain('secret');
    }
  });
});
