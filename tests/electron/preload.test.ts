import { describe, expect, it, vi } from 'vitest';
import { BRIDGE_GLOBAL, CHANNELS, PROGRESS_CHANNEL } from '../../preload/contract.js';

// Electron's renderer-side modules, mocked: what the preload exposes is what is under test.
const exposed: Record<string, unknown> = {};
const invoked: unknown[][] = [];
const listeners = new Map<string, ((...a: unknown[]) => void)[]>();
vi.mock('electron', () => ({
  contextBridge: { exposeInMainWorld: (name: string, value: unknown) => (exposed[name] = value) },
  ipcRenderer: {
    invoke: async (channel: string, ...args: unknown[]) => {
      invoked.push([channel, ...args]);
      if (channel === CHANNELS.vault.unlock && args[0] === 'wrong') return { ok: false, error: { code: 'wrong_passphrase', message: 'wrong passphrase' } };
      // Electron rejects an invoke whose handler is missing or threw.
      if (channel === CHANNELS.vault.unlock && args[0] === 'broken') throw new Error("Error invoking remote method 'ciphercare:vault:unlock': boom");
      if (channel === CHANNELS.vault.unlock && args[0] === 'garbled') return 'not a result';
      return { ok: true, value: { channel } };
    },
    on: (channel: string, l: (...a: unknown[]) => void) => listeners.set(channel, [...(listeners.get(channel) ?? []), l]),
    removeListener: (channel: string, l: (...a: unknown[]) => void) => listeners.set(channel, (listeners.get(channel) ?? []).filter((x) => x !== l)),
  },
}));

describe('the preload', () => {
  it('exposes exactly one global with exactly the contract functions', async () => {
    await import('../../preload/preload.js');
    expect(Object.keys(exposed)).toEqual([BRIDGE_GLOBAL]);
    const bridge = exposed[BRIDGE_GLOBAL] as Record<string, Record<string, unknown>>;
    const expected: Record<string, string[]> = Object.fromEntries(Object.entries(CHANNELS).map(([d, m]) => [d, Object.keys(m).sort()]));
    expected.predictions = [...expected.predictions!, 'onProgress'].sort();
    expect(Object.fromEntries(Object.entries(bridge).map(([d, m]) => [d, Object.keys(m).sort()]))).toEqual(expected);
    for (const domain of Object.values(bridge)) for (const fn of Object.values(domain)) expect(typeof fn).toBe('function');
  });

  it('invokes the namespaced channel and resolves every outcome as a result object, never a rejection', async () => {
    // contextBridge would keep only the message of a rejection: the code travels as data.
    const bridge = exposed[BRIDGE_GLOBAL] as { vault: { unlock(p: string): Promise<unknown> } };
    await expect(bridge.vault.unlock('right')).resolves.toEqual({ ok: true, value: { channel: CHANNELS.vault.unlock } });
    await expect(bridge.vault.unlock('wrong')).resolves.toEqual({ ok: false, error: { code: 'wrong_passphrase', message: 'wrong passphrase' } });
    expect(invoked.at(-1)).toEqual([CHANNELS.vault.unlock, 'wrong']);
    await expect(bridge.vault.unlock('broken')).resolves.toMatchObject({ ok: false, error: { code: 'bridge_unreachable' } });
    await expect(bridge.vault.unlock('garbled')).resolves.toMatchObject({ ok: false, error: { code: 'bridge_malformed' } });
  });

  it('delivers progress to subscribers and unsubscribes them', async () => {
    const bridge = exposed[BRIDGE_GLOBAL] as { predictions: { onProgress(l: (e: unknown) => void): () => void } };
    const seen: unknown[] = [];
    const off = bridge.predictions.onProgress((e) => seen.push(e));
    for (const l of listeners.get(PROGRESS_CHANNEL) ?? []) l({}, { runId: 'r', stage: 'encrypt', state: 'done' });
    off();
    for (const l of listeners.get(PROGRESS_CHANNEL) ?? []) l({}, { runId: 'r', stage: 'decrypt', state: 'done' });
    expect(seen).toEqual([{ runId: 'r', stage: 'encrypt', state: 'done' }]);
  });
});
