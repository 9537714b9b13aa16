/** Stable error codes of the vault. A code never changes meaning once released. */
export type VaultErrorCode =
  | 'wrong_passphrase'
  | 'vault_locked'
  | 'vault_closed'
  | 'vault_not_found'
  | 'vault_exists'
  | 'not_a_vault'
  | 'vault_too_new'
  | 'kdf_downgrade'
  | 'kdf_unsupported'
  | 'row_tampered'
  | 'key_record_damaged'
  | 'changes_lost'
  | 'backup_invalid'
  | 'keychain_insecure'
  | 'keychain_unavailable'
  | 'invalid_argument';

/**
 * A typed vault error with a stable code and a message a person can act on.
 * Messages and details never contain a passphrase, a key, an input or a result.
 */
export class VaultError extends Error {
  readonly code: VaultErrorCode;
  readonly details: Readonly<Record<string, unknown>> | undefined;
  constructor(code: VaultErrorCode, message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'VaultError';
    this.code = code;
    this.details = details;
  }
}

export function isVaultError(value: unknown, code?: VaultErrorCode): value is VaultError {
  return value instanceof VaultError && (code === undefined || value.code === code);
}
