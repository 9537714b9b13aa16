import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SCRYPT_FLOOR, Vault } from '../vault/index.js';
import { FlowError } from './errors.js';
import { TRUST_SECRET, checkCatalog, emptyTrustState, forgetPins, loadTrustState, providerKey, saveTrustState } from './trust.js';

describe('the trust record in the vault', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ciphercare-trust-'));
  const vault = await Vault.create(dir, 'correct horse battery staple', { kdf: SCRYPT_FLOOR });
  afterAll(() => {
    vault.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('starts empty (the bundled publisher is implicit) and round-trips through the sealed settings', () => {
    expect(loadTrustState(vault)).toEqual(emptyTrustState());
    const state = { ...emptyTrustState(), models: { 'acme-risk': 'ab'.repeat(32) }, cards: { 'acme-risk@1.0.0': 'cd'.repeat(32), 'acme-risk@2.0.0': 'ef'.repeat(32) }, providers: { 'https://p.example': ['ab'.repeat(32)] } };
    saveTrustState(vault, state);
    expect(loadTrustState(vault)).toEqual(state);
    expect(vault.getSetting(TRUST_SECRET)).toBeUndefined();
  });

  it('forgets the pins of a model id (every version) or of a provider', () => {
    expect(forgetPins(vault, 'acme-risk')).toEqual({ models: ['acme-risk'], providers: [], cards: ['acme-risk@1.0.0', 'acme-risk@2.0.0'] });
    expect(forgetPins(vault, 'https://p.example/')).toEqual({ models: [], providers: ['https://p.example'], cards: [] });
    expect(loadTrustState(vault)).toEqual(emptyTrustState());
    expect(forgetPins(vault, 'nothing')).toEqual({ models: [], providers: [], cards: [] });
  });

  it('refuses a damaged record rather than starting over (which would forget every pin)', () => {
    vault.setSecret(TRUST_SECRET, '{"version":1}');
    let err: unknown;
    try {
      checkCatalog([], { vault, providerUrl: 'https://p.example' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FlowError);
    expect((err as FlowError).code).toBe('trust_state_invalid');
    expect((err as FlowError).message).toBe('the trusted publishers and pins stored in the vault are unreadable; restore the vault from a backup');
    vault.deleteSecret(TRUST_SECRET);
  });

  it('names a provider by its URL without a trailing slash', () => {
    expect(providerKey('https://p.example/api/')).toBe('https://p.example/api');
    expect(providerKey('http://127.0.0.1:8787')).toBe('http://127.0.0.1:8787');
  });
});
