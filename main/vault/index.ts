/** The encrypted vault: the only place the client keeps secret keys, inputs and results. */
export { Vault } from './vault.js';
export type { VaultOptions } from './vault.js';
export { VaultError, isVaultError } from './errors.js';
export type { VaultErrorCode } from './errors.js';
export type { KeyWrapper } from './key-wrapper.js';
export type { HistoryEntry, HistoryPage, HistoryQuery, NewHistoryEntry, UnreadableHistoryEntry } from './history.js';
export type { StoredSecretKey } from './secret-keys.js';
export { SCRYPT_DEFAULT, SCRYPT_FLOOR } from './kdf.js';
export type { ScryptParams } from './kdf.js';
export { LATEST_SCHEMA_VERSION } from './migrations.js';
export { VAULT_FILE_NAME, defaultDataDir, vaultFilePath } from './paths.js';
