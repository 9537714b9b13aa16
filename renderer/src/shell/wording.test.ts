import { describe, expect, it } from 'vitest';
import { ERROR_TITLES, batchRowTitle, errorTitle, isPinRefusal, sentence, uiMessage } from './wording.js';

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

  it('titles every refusal of a signed card or a pin by what was checked and what failed; other codes keep the screen’s title', () => {
    for (const code of ['card_invalid', 'card_signature_invalid', 'card_key_invalid', 'card_mismatch', 'card_id_reserved', 'card_publisher_changed', 'card_changed']) {
      expect(errorTitle(code, 'fallback'), code).toMatch(/^(The|A model) [^.]+\.$/);
    }
    expect(errorTitle('trust_state_invalid', 'fallback')).toBe(ERROR_TITLES.trust_state_invalid);
    expect(errorTitle('card_signature_invalid', 'x')).toBe('The signature on the provider’s model card does not match the card.');
    expect(errorTitle('something_else', 'The prediction failed.')).toBe('The prediction failed.');
    expect(isPinRefusal('card_publisher_changed')).toBe(true);
    expect(isPinRefusal('card_changed')).toBe(true);
    expect(isPinRefusal('card_signature_invalid')).toBe(false);
  });

  it('words a malformed publisher key for a person: what it means and what to do', () => {
    const text = uiMessage({ code: 'card_key_invalid', message: 'a publisher key is the base64 of 32 raw Ed25519 bytes' });
    expect(text).not.toMatch(/base64|Ed25519/);
    expect(text).toMatch(/Nothing was sent or stored\. Use another provider/);
  });

  it('titles a batch row by its code', () => {
    expect(batchRowTitle('input_out_of_range')).toBe('A value is outside the allowed range.');
    expect(batchRowTitle('input_invalid')).toBe('A value is missing or is not a number.');
    expect(batchRowTitle('result_out_of_range')).toBe('The model cannot give an answer for this row.');
    expect(batchRowTitle(undefined)).toBe('This row was not scored.');
    expect(batchRowTitle('unknown_code')).toBe('This row was not scored.');
  });
});
