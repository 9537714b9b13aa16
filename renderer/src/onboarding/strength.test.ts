import { describe, expect, it } from 'vitest';
import { MIN_LENGTH, acceptable, passphraseStrength } from './strength.js';

describe('passphrase strength', () => {
  it('rates short, common or repetitive passphrases as weak', () => {
    for (const p of ['', 'abc', 'password123', 'aaaaaaaaaaaaaaaa', 'abcdefghijkl', 'qwertyuiop12']) {
      expect(acceptable(passphraseStrength(p), p)).toBe(false);
    }
  });

  it('rates several unrelated words as strong', () => {
    const p = 'quiet harbour lantern 42 violet';
    expect(passphraseStrength(p).score).toBeGreaterThanOrEqual(3);
    expect(acceptable(passphraseStrength(p), p)).toBe(true);
  });

  it('never rates a passphrase shorter than the minimum above weak', () => {
    expect(passphraseStrength('X9#qL2!z').score).toBeLessThanOrEqual(1);
    expect('X9#qL2!z'.length).toBeLessThan(MIN_LENGTH);
  });
});
