import type { ApiErrorCode } from '../../he-core/index.js';

export type ProviderErrorCode = ApiErrorCode | 'network' | 'timeout' | 'tls' | 'bad_response' | 'cancelled' | 'service_start_failed';

/** A failure talking to a provider, with a stable code and a message a person can act on. */
export class ProviderError extends Error {
  constructor(
    readonly code: ProviderErrorCode,
    message: string,
    readonly status?: number,
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = 'ProviderError';
  }
}

export function isProviderError(value: unknown): value is ProviderError {
  return value instanceof ProviderError;
}
