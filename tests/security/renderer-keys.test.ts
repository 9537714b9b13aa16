import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AppCore } from '../../main/app/app-core.js';
import { Vault } from '../../main/vault/index.js';
import { SCRYPT_FLOOR } from '../../main/vault/index.js';
import type { ProgressEvent } from '../../preload/contract.js';
import { compile, loadSeal } from '../../he-core/index.js';
import { loadBundledModel } from '../encrypted/harness.js';

// The renderer never receives key material: every value the bridge API returns (and every
// progress event) over a full session is serialised as the IPC would, and searched for the secret
// keys and the vault's data-key wraps in every encoding a leak could take.
const PASSPHRASE = 'renderer never sees keys';

describe('the renderer never receives key material', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ciphercare-renderer-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('holds for a full session through the bridge API', async () => {
    const core = new AppCore({ dataDir: dir, kdf: SCRYPT_FLOOR, bundled: { workers: 1 } });
    const seen: string[] = [];
    const record = <T>(value: T): T => {
      seen.push(JSON.stringify(value));
      return value;
    };
    core.api.predictions.onProgress((e: ProgressEvent) => record(e));
    try {
      const api = core.api;
      record(await api.vault.create(PASSPHRASE));
      const models = record(await api.models.list());
      for (const m of models) record(await api.predictions.run({ runId: `r-${m.id}`, modelId: m.id, input: m.sample }));
      const bc = loadBundledModel('breast-cancer');
      const header = (bc.input.kind === 'features' ? bc.input.features : []).map((f) => f.name).join(',');
      record(await api.batch.run({ runId: 'b', modelId: bc.id, csv: `${header}\n${bc.testVectors[0]!.input.join(',')}\n` }));
      record(await api.history.list({}));
      record(await api.keys.list());
      record(await api.keys.rotate());
      record(await api.provider.get());
      record(await api.vault.status());
    } finally {
      await core.close();
    }
    const text = seen.join('\n');
    expect(text.length).toBeGreaterThan(1000);

    // Every secret key version of every parameter set the bundled models use, in the encodings a
    // leak could take (base64, hex, a JSON array of bytes).
    const rt = await loadSeal();
    const fingerprints = new Set<string>();
    for (const id of ['breast-cancer', 'breast-cancer-mlp', 'diabetes-progression', 'mnist-cnn']) {
      for (const mode of ['single', 'batch'] as const) fingerprints.add(compile(rt.seal, loadBundledModel(id), { mode }).public.params.fingerprint);
    }
    const vault = Vault.open(dir, { kdf: SCRYPT_FLOOR });
    await vault.unlock(PASSPHRASE);
    let checked = 0;
    try {
      for (const fp of fingerprints) {
        for (const version of vault.secretKeyVersions(fp)) {
          const bytes = Buffer.from(vault.secretKey(fp, version)!.bytes);
          for (let at = 32; at + 24 <= bytes.length; at += Math.max(24, Math.floor(bytes.length / 16))) {
            const window = bytes.subarray(at, at + 24);
            expect(text.includes(window.toString('base64').slice(4, 28)), 'base64 key bytes').toBe(false);
            expect(text.includes(window.toString('hex')), 'hex key bytes').toBe(false);
            expect(text.includes(Array.from(window.subarray(0, 12)).join(',')), 'key bytes as a number array').toBe(false);
          }
          checked++;
        }
      }
    } finally {
      vault.close();
    }
    // Two versions (created, then rotated) of each parameter set in use.
    expect(checked).toBeGreaterThanOrEqual(6);
  }, 240_000);
});
