import { HeError } from '../../he-core/index.js';
import type { BridgeError } from '../../preload/contract.js';
import { FlowError } from '../flow/errors.js';
import { ProviderError } from '../provider/errors.js';
import { VaultError } from '../vault/index.js';

/**
 * An error the app raises itself (state, usage), with a stable code; also how `CoreHost` rethrows
 * an error the core worker already reduced to a bridge error, so that it keeps its code and field.
 */
export class AppError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'AppError';
  }
}

/**
 * What the renderer may see of a failure: a stable code, a message a person can act on, the field
 * at fault. Unexpected errors are reduced to a generic message (no internals, no data).
 */
export function toBridgeError(err: unknown): BridgeError {
  if (err instanceof FlowError || err instanceof AppError) return { code: err.code, message: err.message, ...(err.field ? { field: err.field } : {}) };
  if (err instanceof ProviderError || err instanceof VaultError || err instanceof HeError) {
    return { code: err.code, message: err.message };
  }
  return { code: 'internal_error', message: 'something went wrong inside CipherCare; nothing was sent or stored' };
}
