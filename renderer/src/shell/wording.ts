import type { BridgeError } from '../api/contract.js';

/**
 * How the app words a message it did not write itself (the client core's messages are shared with
 * the command line, which prints them after "ciphercare: " in lower case): sentence case, and a
 * full stop at the end.
 */
export function sentence(text: string): string {
  const trimmed = text.trim();
  if (trimmed === '') return trimmed;
  const first = trimmed.charAt(0);
  const capitalised = first.toLocaleUpperCase() + trimmed.slice(1);
  return /[.!?…]$/.test(capitalised) ? capitalised : `${capitalised}.`;
}

/**
 * Messages the app words its own way because the core's wording names something only the command
 * line has, or a field only the app has. Anything else is the core's message in sentence case.
 */
const APP_WORDING: Record<string, string> = {
  api_key_missing: 'Enter the API key that your provider gave you in the “API key” field, then try again.',
  // he-core's message for a malformed publisher key names key encodings, not what happened or what to do.
  card_key_invalid:
    'The provider’s signed model card names a publisher key that is not a valid signing key, so its signature cannot be checked and the model may have been altered. Nothing was sent or stored. Use another provider, or ask this one to fix its card.',
};

/**
 * Advice that Node.js appends to certificate errors; it is about starting Node.js by hand, which an
 * app user cannot do (the CLI, which runs on Node.js, keeps it).
 */
const NODE_ONLY_ADVICE = /;?\s*if the root CA is installed locally, try running Node\.js with --use-system-ca/gi;

/** The message a person reads for a failure: written for the app, never naming a command. */
export function uiMessage(error: Pick<BridgeError, 'code' | 'message'>): string {
  return APP_WORDING[error.code] ?? sentence(error.message.replace(NODE_ONLY_ADVICE, ''));
}

/**
 * Titles of refusals: what CipherCare checked and what failed, in a few words. The message under
 * the title (the core's) says that nothing was sent or stored and what to do next. Signed model cards and publisher pins (docs/SECURITY.md,
 * "Signed model cards") first, then the provider's answers.
 */
export const ERROR_TITLES: Readonly<Record<string, string>> = {
  card_invalid: 'The provider’s signed model card could not be read.',
  card_signature_invalid: 'The signature on the provider’s model card does not match the card.',
  card_key_invalid: 'The publisher key on the provider’s model card is not valid.',
  card_mismatch: 'The provider’s model differs from its signed card.',
  card_id_reserved: 'The provider serves a CipherCare model that CipherCare did not sign.',
  card_publisher_changed: 'A model is now signed by another publisher than the one you first used.',
  card_changed: 'The provider changed a model card you had already used.',
  trust_state_invalid: 'The publishers you trust, kept in your vault, could not be read.',
  model_unverified: 'CipherCare cannot check this provider’s answers for this model.',
  unauthorized: 'The provider refused the API key.',
  tls: 'The provider’s certificate is not trusted.',
  network: 'The provider could not be reached.',
  provider_wrong_result: 'The provider’s answer failed a check.',
  provider_check_failed: 'The provider’s answer failed a check. Nothing was shown or stored.',
  provider_deadline: 'The provider did not answer in time. Nothing was stored.',
};

/** The title of a failure: its own when the app has one, else the screen's `fallback`. */
export function errorTitle(code: string, fallback: string): string {
  return ERROR_TITLES[code] ?? fallback;
}

/** Refusals that forgetting a publisher pin can resolve, once the person has checked the new key. */
export function isPinRefusal(code: string): boolean {
  return code === 'card_publisher_changed' || code === 'card_changed';
}

/** Titles of a batch row that was not scored, by the row's code (the message under it names the value). */
const ROW_TITLES: Readonly<Record<string, string>> = {
  input_out_of_range: 'A value is outside the allowed range.',
  input_invalid: 'A value is missing or is not a number.',
  result_out_of_range: 'The model cannot give an answer for this row.',
};

export function batchRowTitle(code: string | undefined): string {
  return (code !== undefined ? ROW_TITLES[code] : undefined) ?? 'This row was not scored.';
}
