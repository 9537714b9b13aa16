import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BUNDLED_PUBLISHER, formatFingerprint, publisherFingerprint } from '../../he-core/index.js';
import { SETTING_CHECK_REQUESTS } from '../flow/prediction-flow.js';
import { emptyTrustState, loadTrustState, saveTrustState } from '../flow/trust.js';
import { SCRYPT_FLOOR, Vault } from '../vault/index.js';
import { AppCore } from './app-core.js';
import type { AppError } from './bridge-errors.js';

const PASSPHRASE = 'correct horse battery staple';

async function failure(call: Promise<unknown>): Promise<AppError> {
  try {
    await call;
  } catch (err) {
    return err as AppError;
  }
  throw new Error('expected a failure');
}

// The app core's settings, pins and lost-changes paths on plain Node, against a real vault file.
describe('AppCore: check settings, publisher pins, lost changes', () => {
  const dirs: string[] = [];
  const fresh = () => {
    const dir = mkdtempSync(join(tmpdir(), 'ciphercare-app-core-'));
    dirs.push(dir);
    return dir;
  };
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('offers 1 and 3 check requests with their computed odds and cost, stores the choice where the flow reads it, and keeps it across lock and restart', async () => {
    const dataDir = fresh();
    const core = new AppCore({ dataDir, kdf: SCRYPT_FLOOR });
    await core.api.vault.create(PASSPHRASE);
    const initial = await core.api.settings.get();
    // check-odds.ts: one replaced answer stays undetected with probability 1 / (k + 1).
    expect(initial).toEqual({
      checkRequests: 1,
      checkChoices: [
        { requests: 1, replacedAnswerCaught: 0.5, requestsPerPrediction: 2 },
        { requests: 3, replacedAnswerCaught: 0.75, requestsPerPrediction: 4 },
      ],
    });
    expect((await core.api.settings.setCheckRequests(3)).checkRequests).toBe(3);
    await core.api.vault.lock();
    expect((await failure(core.api.settings.get())).code).toBe('vault_locked');
    await core.api.vault.unlock(PASSPHRASE);
    expect((await core.api.settings.get()).checkRequests).toBe(3);
    for (const bad of [0, 17, 1.5, Number.NaN]) expect((await failure(core.api.settings.setCheckRequests(bad))).code).toBe('invalid_setting');
    await core.close();

    // The very setting the prediction flow and the command line's --save-checks use.
    const vault = Vault.open(dataDir);
    expect(vault.getSetting(SETTING_CHECK_REQUESTS)).toBe('3');
    // A value the command line stored (any of 1 to 16) is shown as a choice of its own.
    vault.setSetting(SETTING_CHECK_REQUESTS, '5');
    vault.close();
    const again = new AppCore({ dataDir, kdf: SCRYPT_FLOOR });
    await again.api.vault.unlock(PASSPHRASE);
    const five = await again.api.settings.get();
    expect(five.checkRequests).toBe(5);
    expect(five.checkChoices.map((c) => [c.requests, c.replacedAnswerCaught])).toEqual([
      [1, 0.5],
      [3, 0.75],
      [5, 5 / 6],
    ]);
    await again.close();
  });

  it('lists the built-in publisher and the pins of the vault, and forgets a model’s or a provider’s pins', async () => {
    const dataDir = fresh();
    const fpA = 'ab'.repeat(32);
    const fpB = 'cd'.repeat(32);
    const seeded = await Vault.create(dataDir, PASSPHRASE, { kdf: SCRYPT_FLOOR });
    saveTrustState(seeded, {
      ...emptyTrustState(),
      models: { 'acme-digit': fpA, 'zeta-risk': fpB },
      cards: { 'acme-digit@1.0.0': 'ee'.repeat(32), 'acme-digit@1.1.0': 'ff'.repeat(32), 'zeta-risk@2.0.0': '11'.repeat(32) },
      providers: { 'https://acme.example': [fpA], 'https://zeta.example/v': [fpB] },
    });
    seeded.close();
    const core = new AppCore({ dataDir, kdf: SCRYPT_FLOOR });
    await core.api.vault.unlock(PASSPHRASE);
    const view = await core.api.trust.list();
    expect(view.trusted).toEqual([{ name: BUNDLED_PUBLISHER.name, fingerprint: formatFingerprint(publisherFingerprint(BUNDLED_PUBLISHER.publicKey)), modelIds: [...BUNDLED_PUBLISHER.modelIds].sort(), builtIn: true }]);
    expect(view.trusted[0]!.fingerprint).toMatch(/^([0-9a-f]{4} ){15}[0-9a-f]{4}$/);
    expect(view.models).toEqual([
      { modelId: 'acme-digit', fingerprint: formatFingerprint(fpA), versions: ['1.0.0', '1.1.0'], firstSeenAt: ['https://acme.example'] },
      { modelId: 'zeta-risk', fingerprint: formatFingerprint(fpB), versions: ['2.0.0'], firstSeenAt: ['https://zeta.example/v'] },
    ]);
    expect(view.providers).toEqual([
      { url: 'https://acme.example', fingerprints: [formatFingerprint(fpA)] },
      { url: 'https://zeta.example/v', fingerprints: [formatFingerprint(fpB)] },
    ]);

    const afterModel = await core.api.trust.forget('acme-digit');
    expect(afterModel.models.map((m) => m.modelId)).toEqual(['zeta-risk']);
    expect(afterModel.providers).toHaveLength(2);
    const afterProvider = await core.api.trust.forget('https://zeta.example/v');
    expect(afterProvider.providers.map((p) => p.url)).toEqual(['https://acme.example']);
    const missing = await failure(core.api.trust.forget('no-such-model'));
    expect(missing.code).toBe('pin_not_found');
    expect(missing.message).toContain('no-such-model');
    await core.close();

    // Stored in the vault, as the command line's trust forget leaves it.
    const vault = Vault.open(dataDir);
    await vault.unlock(PASSPHRASE);
    expect(loadTrustState(vault)).toEqual({ ...emptyTrustState(), models: { 'zeta-risk': fpB }, cards: { 'zeta-risk@2.0.0': '11'.repeat(32) }, providers: { 'https://acme.example': [fpA] } });
    vault.close();
  });

  it('a vault file behind its commit marker: unlock refuses with changes_lost, saying what is missing in the app’s words; opening anyway accepts the loss once', async () => {
    const dataDir = fresh();
    const core = new AppCore({ dataDir, kdf: SCRYPT_FLOOR });
    await core.api.vault.create(PASSPHRASE);
    await core.close();
    // As after a WAL lost in a crash: the marker knows of committed changes the file lacks.
    const marker = join(dataDir, 'vault.sqlite-commits');
    const state = JSON.parse(readFileSync(marker, 'utf8')) as { changes: number; historyId: number };
    writeFileSync(marker, JSON.stringify({ ...state, changes: state.changes + 3, historyId: state.historyId + 2 }));

    const reopened = new AppCore({ dataDir, kdf: SCRYPT_FLOOR });
    const refused = await failure(reopened.api.vault.unlock(PASSPHRASE));
    expect(refused.code).toBe('changes_lost');
    expect(refused.message).toBe(
      'the vault file is missing 3 saved changes (history entries 1 to 2, and possibly settings). They were saved, but the file that held them last (vault.sqlite-wal, beside the vault) was deleted or lost after a crash, or an older copy of the vault was put back. Everything else in the vault is intact and readable',
    );
    expect(await reopened.api.vault.status()).toMatchObject({ exists: true, unlocked: false });
    // Refusing changed nothing: a second try is refused the same way.
    expect((await failure(reopened.api.vault.unlock(PASSPHRASE))).code).toBe('changes_lost');
    // A wrong passphrase does not open it anyway.
    expect((await failure(reopened.api.vault.unlockAcceptingLostChanges('not the passphrase'))).code).toBe('wrong_passphrase');
    expect(await reopened.api.vault.unlockAcceptingLostChanges(PASSPHRASE)).toMatchObject({ unlocked: true });
    await reopened.close();

    // Accepted once: the next start opens without the question.
    const later = new AppCore({ dataDir, kdf: SCRYPT_FLOOR });
    expect(await later.api.vault.unlock(PASSPHRASE)).toMatchObject({ unlocked: true });
    await later.close();
  });
});
