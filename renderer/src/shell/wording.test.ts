import { describe, expect, it } from 'vitest';
import { sentence, uiMessage } from './wording.js';

describe('the app wording of messages', () => {
  it('puts a core message in sentence case with a full stop', () => {
    expect(sentence('the CSV file has a header but no rows')).toBe('The CSV file has a header but no rows.');
    expect(sentence('Wrong passphrase.')).toBe('Wrong passphrase.');
    expect(sentence('  is it?  ')).toBe('Is it?');
    expect(sentence('')).toBe('');
  });

  it('words a missing API key for the app form, and keeps other messages', () => {
    expect(uiMessage({ code: 'api_key_missing', message: 'enter the API key your provider gave you' })).toBe('Enter the API key that your provider gave you in the “API key” field, then try again.');
    expect(uiMessage({ code: 'network', message: 'the provider could not be reached' })).toBe('The provider could not be reached.');
    // Node.js's advice about its own command-line flag is not for app users.
    const tls = "the provider's TLS certificate could not be verified (self-signed certificate; if the root CA is installed locally, try running Node.js with --use-system-ca)";
    expect(uiMessage({ code: 'tls', message: tls })).toBe("The provider's TLS certificate could not be verified (self-signed certificate).");
  });
});
