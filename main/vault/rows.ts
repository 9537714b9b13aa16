import { VaultError } from './errors.js';

/** Shared checks for values that cross into the vault. */

export const MAX_NAME_LENGTH = 256;

export function checkName(value: unknown, what: string): asserts value is string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_NAME_LENGTH) {
    throw new VaultError('invalid_argument', `The ${what} must be a non-empty string of at most ${MAX_NAME_LENGTH} characters.`);
  }
}

export function rowTampered(table: string, identity: string, field: string): VaultError {
  return new VaultError(
    'row_tampered',
    `The ${field} of ${table} ${identity} failed authentication: the vault file was modified or damaged there. The rest of the vault is unaffected; restore this entry from a backup if you need it.`,
    { table, identity, field },
  );
}
