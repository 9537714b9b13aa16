/** Stable error codes of he-core. A code never changes meaning once released. */
export type HeErrorCode =
  | 'model_invalid'
  | 'model_unsupported'
  | 'params_insecure'
  | 'params_unsatisfiable'
  | 'params_mismatch'
  | 'input_invalid'
  | 'input_out_of_range'
  | 'envelope_truncated'
  | 'envelope_bad_magic'
  | 'envelope_bad_version'
  | 'envelope_bad_kind'
  | 'envelope_too_large'
  | 'envelope_bad_count'
  | 'envelope_trailing_bytes'
  | 'seal_object_invalid'
  | 'seal_object_too_large'
  | 'ciphertext_mismatch'
  | 'result_invalid'
  | 'result_out_of_range'
  | 'keys_missing'
  | 'keys_invalid'
  | 'card_invalid'
  | 'card_signature_invalid'
  | 'card_key_invalid'
  | 'seal_failure';

/** A typed he-core error with a stable code and a message a person can act on. */
export class HeError extends Error {
  readonly code: HeErrorCode;
  readonly details: Readonly<Record<string, unknown>> | undefined;
  constructor(code: HeErrorCode, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'HeError';
    this.code = code;
    this.details = details;
  }
}

export function isHeError(value: unknown): value is HeError {
  return value instanceof HeError;
}
