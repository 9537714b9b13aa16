/** The secret-key side of he-core: key generation, encryption, decryption. Never imported by the service. */
export { ClientKeyPair } from './client-keys.js';
export type { GeneratedEvaluationKeys } from './client-keys.js';
export { encryptRequestParallel, encryptRequestPartsParallel, encryptVectorsParallel, encryptionHelper, PARALLEL_MIN_VECTORS } from './parallel.js';
export { encryptRequest, encryptVectors, encryptVector, layoutRequest, decryptBatchAnswer, decryptResult, decryptSlots, decryptVectors, projectReplicas, slotRanges } from './crypto.js';
export type { BatchAnswer, RequestCompression, SlotRange } from './crypto.js';
