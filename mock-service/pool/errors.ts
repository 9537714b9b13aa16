import type { ApiErrorCode, HeErrorCode } from '../../he-core/index.js';

/** A failure of the service with the API code and HTTP status it maps to. */
export class ServiceError extends Error {
  constructor(
    readonly code: ApiErrorCode,
    readonly status: number,
    message: string,
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = 'ServiceError';
  }
}

/** Maps he-core's error codes to the API's, for what the client sent (keys or ciphertexts). */
export function apiCodeFor(code: HeErrorCode, what: 'keys' | 'ciphertexts'): ApiErrorCode {
  if (code.startsWith('envelope_')) return 'invalid_envelope';
  if (code === 'params_mismatch') return 'parameter_mismatch';
  if (code === 'keys_invalid' || code === 'keys_missing') return 'invalid_keys';
  if (code === 'ciphertext_mismatch') return 'invalid_ciphertext';
  if (code === 'seal_object_invalid' || code === 'seal_object_too_large') return what === 'keys' ? 'invalid_keys' : 'invalid_ciphertext';
  return 'internal_error';
}

export function statusFor(code: ApiErrorCode): number {
  switch (code) {
    case 'unauthorized':
      return 401;
    case 'not_found':
    case 'model_not_found':
    case 'session_not_found':
      return 404;
    case 'method_not_allowed':
      return 405;
    case 'payload_too_large':
      return 413;
    case 'unsupported_media_type':
      return 415;
    case 'bad_request':
    case 'invalid_envelope':
    case 'invalid_keys':
    case 'invalid_ciphertext':
    case 'parameter_mismatch':
      return 400;
    case 'overloaded':
    case 'shutting_down':
    case 'evaluation_timeout':
      return 503;
    case 'internal_error':
      return 500;
  }
}
