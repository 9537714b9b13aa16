import { describe, expect, it } from 'vitest';
import { trustWording } from './trust.js';

describe('the trust wording', () => {
  it('names each status in words a patient reads, the fingerprint where the publisher was pinned', () => {
    expect(trustWording({ status: 'verified', publisherFingerprint: 'ce8a a2f2', publisherName: 'CipherCare bundled models' })).toEqual({ status: 'verified', text: 'Verified publisher' });
    expect(trustWording({ status: 'pinned', publisherFingerprint: '3f2a 9c1b' })).toEqual({ status: 'pinned', text: 'Publisher pinned on first use (fingerprint 3f2a 9c1b)' });
    expect(trustWording({ status: 'unverified' }).text).toBe('Unverified: CipherCare cannot check this provider’s answers');
  });

  it('treats a model without a trust status as unverified', () => {
    expect(trustWording(undefined).status).toBe('unverified');
  });
});
