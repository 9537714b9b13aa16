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
