import { describe, expect, it } from 'vitest';
import { endAnnouncement, stageAnnouncement } from './announce.js';

describe('run announcements', () => {
  it('announces a slow stage in a sentence', () => {
    expect(stageAnnouncement('evaluate')).toBe('The provider is computing on the encrypted values…');
  });

  it('names the quick stages once at the end, and not those already announced', () => {
    const text = endAnnouncement('done', ['keys', 'upload', 'encrypt', 'evaluate', 'decrypt'], new Set(['keys', 'evaluate']));
    expect(text).toBe('Finished. The public keys sent to the provider, your values encrypted and the answer decrypted. The result follows.');
    expect(endAnnouncement('done', ['evaluate'], new Set(['evaluate']))).toBe('Finished. The result follows.');
    expect(endAnnouncement('cancelled', ['keys'], new Set())).toBe('Cancelled. Nothing was stored, and nothing decrypted.');
  });
});
