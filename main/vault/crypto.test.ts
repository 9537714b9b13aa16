import { describe, expect, it } from 'vitest';
import { SEALED_OVERHEAD, associatedData, newDataKey, seal, unseal } from './crypto.js';
import { isVaultError } from './errors.js';
import { SCRYPT_DEFAULT, SCRYPT_FLOOR, checkScryptParams, deriveKey, newSalt } from './kdf.js';

describe('row sealing (AES-256-GCM)', () => {
  it('round-trips and lays out nonce | ciphertext | tag', () => {
    const key = newDataKey();
    const sealed = seal(key, Buffer.from('hello'), associatedData('t', 1, 'k'));
    expect(sealed.length).toBe(5 + SEALED_OVERHEAD);
    expect(unseal(key, sealed, associatedData('t', 1, 'k'))?.toString()).toBe('hello');
  });

  it('uses a fresh nonce per write', () => {
    const key = newDataKey();
    const a = seal(key, Buffer.from('same'), associatedData('t', 1, 'k'));
    const b = seal(key, Buffer.from('same'), associatedData('t', 1, 'k'));
    expect(a.subarray(0, 12).equals(b.subarray(0, 12))).toBe(false);
  });

  it('fails on another identity, another key, a flipped bit or a short blob', () => {
    const key = newDataKey();
    const ad = associatedData('history', 7, 'input');
    const sealed = seal(key, Buffer.from('secret'), ad);
    expect(unseal(key, sealed, associatedData('history', 8, 'input'))).toBeUndefined();
    expect(unseal(key, sealed, associatedData('history', 7, 'result'))).toBeUndefined();
    expect(unseal(newDataKey(), sealed, ad)).toBeUndefined();
    const flipped = Buffer.from(sealed);
    flipped[14] = (flipped[14] ?? 0) ^ 1;
    expect(unseal(key, flipped, ad)).toBeUndefined();
    expect(unseal(key, sealed.subarray(0, 20), ad)).toBeUndefined();
  });

  it('encodes identities unambiguously', () => {
    expect(associatedData('a:b', 'c').equals(associatedData('a', 'b:c'))).toBe(false);
    expect(associatedData('x', 1).equals(associatedData('x', '1'))).toBe(false);
  });
});

describe('scrypt parameters', () => {
  it('accepts the floor and the default', () => {
    expect(() => checkScryptParams(SCRYPT_FLOOR, 'options')).not.toThrow();
    expect(() => checkScryptParams(SCRYPT_DEFAULT, 'options')).not.toThrow();
  });

  it.each([
    [{ N: 2 ** 14, r: 8, p: 1 }, 'kdf_downgrade'],
    [{ N: 2 ** 15, r: 4, p: 1 }, 'kdf_downgrade'],
    [{ N: 2 ** 15, r: 8, p: 0 }, 'kdf_unsupported'],
    [{ N: 3 * 2 ** 15, r: 8, p: 1 }, 'kdf_unsupported'],
    [{ N: 2 ** 24, r: 8, p: 1 }, 'kdf_unsupported'],
    [{ N: 2 ** 15, r: 8.5, p: 1 }, 'kdf_unsupported'],
  ] as const)('refuses %o with %s', (params, code) => {
    expect(() => checkScryptParams(params, 'vault file')).toThrow(expect.objectContaining({ code }));
  });

  it('accepts up to the ceilings and refuses one step past each (memory, work, r, p)', () => {
    // 4x the default's work, in three shapes.
    for (const params of [{ N: 2 ** 19, r: 8, p: 1 }, { N: 2 ** 17, r: 8, p: 4 }, { N: 2 ** 17, r: 16, p: 2 }]) {
      expect(() => checkScryptParams(params, 'vault file'), JSON.stringify(params)).not.toThrow();
    }
    for (const params of [
      { N: 2 ** 20, r: 8, p: 1 }, // 1 GiB of memory
      { N: 2 ** 17, r: 8, p: 5 }, // p
      { N: 2 ** 15, r: 32, p: 1 }, // r
      { N: 2 ** 18, r: 16, p: 2 }, // 512 MiB, but 8x the default's work
      { N: 2 ** 17, r: 32, p: 16 }, // the review's edit: 35 s to unlock
    ]) {
      expect(() => checkScryptParams(params, 'vault file'), JSON.stringify(params)).toThrow(expect.objectContaining({ code: 'kdf_unsupported', details: expect.objectContaining({ reason: 'above_ceiling' }) }));
    }
  });

  it('derives the same key for composed and decomposed forms of a passphrase', async () => {
    const salt = newSalt();
    const composed = await deriveKey('caf\u00e9', salt, SCRYPT_FLOOR, 'options');
    const decomposed = await deriveKey('cafe\u0301', salt, SCRYPT_FLOOR, 'options');
    expect(composed.equals(decomposed)).toBe(true);
    await expect(deriveKey('x', salt, { N: 1024, r: 8, p: 1 }, 'options')).rejects.toSatisfy((error) => isVaultError(error, 'kdf_downgrade'));
  });
});
