import type { ApiErrorCode } from '../../he-core/index.js';

export type ProviderErrorCode = ApiErrorCode | 'network' | 'timeout' | 'tls' | 'bad_response' | 'cancelled' | 'service_start_failed' | 'provider_deadline';

/** A failure talking to a provider, with a stable code and a message a person can act on. */
export class ProviderError extends Error {
  constructor(
    readonly code: ProviderErrorCode,
    message: string,
    readonly status?: number,
    readonly retryAfterSeconds?: number,
    /** `provider_deadline`: the deadline and how long the call had run when it was aborted. */
    readonly details?: { readonly deadlineMs: number; readonly waitedMs: number },
  ) {
    super(message);
    this.name = 'ProviderError';
  }
}

export function isProviderError(value: unknown): value is ProviderError {
  return value instanceof ProviderError;
}
