/** The secret-key side of he-core: key generation, encryption, decryption. Never imported by the service. */
export { ClientKeyPair } from './client-keys.js';
export type { GeneratedEvaluationKeys } from './client-keys.js';
export { encryptRequest, encryptVectors, decryptResult, decryptSlots, decryptVectors } from './crypto.js';
export type { RequestCompression } from './crypto.js';
