import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { referenceForward } from '../../he-core/index.js';
import { toBridgeError } from '../../main/app/bridge-errors.js';
import { CoreHost } from '../../main/app/core-host.js';
import type { HostKeychain } from '../../main/app/core-host.js';
import type { ProgressEvent } from '../../preload/contract.js';
import { loadBundledModel } from '../encrypted/harness.js';

/** Stands in for Electron's safeStorage: AES-GCM under a key that lives only in this test. */
function fakeKeychain(): HostKeychain {
  const key = randomBytes(32);
  return {
    name: 'test-keychain',
    encrypt(data) {
      const iv = randomBytes(12);
      const c = createCipheriv('aes-256-gcm', key, iv);
      return Buffer.concat([iv, c.update(data), c.final(), c.getAuthTag()]);
    },
    decrypt(blob) {
      const b = Buffer.from(blob);
      const d = createDecipheriv('aes-256-gcm', key, b.subarray(0, 12));
      d.setAuthTag(b.subarray(b.length - 16));
      return Buffer.concat([d.update(b.subarray(12, b.length - 16)), d.final()]);
    },
  };
}

describe('the client core in a worker thread (off the main thread)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ciphercare-host-'));
  const keychain = fakeKeychain();
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('predicts with progress, wraps the data key with the keychain, and reopens without the passphrase', async () => {
    const host = new CoreHost({ dataDir: dir, keychain, fastKdf: true });
    try {
      const status = await host.api.vault.create('a long enough passphrase');
      expect(status.keychain).toBe('enabled');
      const events: ProgressEvent[] = [];
      host.api.predictions.onProgress((e) => events.push(e));
      const model = loadBundledModel('breast-cancer');
      const sample = model.testVectors[0]!.input;
      // The main thread stays free while the worker encrypts: a timer keeps ticking.
      let ticks = 0;
      const timer = setInterval(() => ticks++, 5);
      const view = await host.api.predictions.run({ runId: 'h1', modelId: model.id, input: sample });
      clearInterval(timer);
      expect(ticks).toBeGreaterThan(0);
      const p = 1 / (1 + Math.exp(-referenceForward(model, sample)[0]!));
      expect(Math.abs(view.values[0]! - p)).toBeLessThanOrEqual(10 ** -model.output.precision);
      expect(events.some((e) => e.runId === 'h1' && e.stage === 'encrypt' && e.state === 'done')).toBe(true);
      // What the IPC wrapper makes of the host's rejection: the core's code, not internal_error.
      const wrong = await host.api.vault.unlock('wrong passphrase!!').then(
        () => null,
        (err: unknown) => toBridgeError(err),
      );
      expect(wrong).toEqual({ code: 'wrong_passphrase', message: expect.any(String) });
    } finally {
      await host.close();
    }
    const again = new CoreHost({ dataDir: dir, keychain, fastKdf: true });
    try {
      expect(await again.api.vault.status()).toMatchObject({ exists: true, unlocked: true, keychain: 'enabled' });
      expect((await again.api.history.list({})).items).toHaveLength(1);
    } finally {
      await again.close();
    }
  }, 180_000);
});
