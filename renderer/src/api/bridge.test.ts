import { describe, expect, it } from 'vitest';
import { BridgeCallError, toUiError, wrapBridge } from './bridge.js';
import type { CipherCareBridge, ProgressEvent } from './contract.js';

// The renderer's side of the result-object bridge: results in, typed errors out.
describe('wrapBridge', () => {
  const progress: ((e: ProgressEvent) => void)[] = [];
  const raw = {
    vault: {
      unlock: async (p: string) => (p === 'right' ? { ok: true, value: { unlocked: true } } : { ok: false, error: { code: 'wrong_passphrase', message: 'Wrong passphrase.' } }),
    },
    predictions: {
      run: async () => ({ ok: false, error: { code: 'input_out_of_range', message: 'Age is 200; the model accepts 13 to 85 years.', field: 'age' } }),
      cancel: async () => ({ ok: true }),
      onProgress: (l: (e: ProgressEvent) => void) => {
        progress.push(l);
        return () => undefined;
      },
    },
    history: { list: async () => 'not a result' },
  } as unknown as CipherCareBridge;
  const api = wrapBridge(raw);

  it('returns values and throws failures with their code and field', async () => {
    await expect(api.vault.unlock('right')).resolves.toEqual({ unlocked: true });
    const wrong = await api.vault.unlock('wrong').catch((e: unknown) => e);
    expect(wrong).toBeInstanceOf(BridgeCallError);
    expect(toUiError(wrong)).toEqual({ code: 'wrong_passphrase', message: 'Wrong passphrase.' });
    const range = await api.predictions.run({ runId: 'r', modelId: 'm', input: [] }).catch((e: unknown) => e);
    expect(toUiError(range)).toEqual({ code: 'input_out_of_range', message: 'Age is 200; the model accepts 13 to 85 years.', field: 'age' });
    await expect(api.predictions.cancel('r')).resolves.toBeUndefined();
  });

  it('reads an answer that is not a result as a malformed bridge, and other errors as unexpected', async () => {
    expect(toUiError(await api.history.list({}).catch((e: unknown) => e))).toMatchObject({ code: 'bridge_malformed' });
    // What contextBridge delivers of a thrown error: its message only.
    expect(toUiError(new Error('boom'))).toEqual({ code: 'unexpected', message: 'boom' });
  });

  it('passes progress subscriptions through', () => {
    api.predictions.onProgress(() => undefined);
    expect(progress).toHaveLength(1);
  });
});
