// The secret-key side of he-core, as the client uses it: this file and client-keys.ts are the only
// places in main/ that touch a secret key.
import { encodeKeyEnvelope } from '../../he-core/index.js';
import type { PublicPlan } from '../../he-core/index.js';
import { ClientKeyPair, decryptBatchAnswer, decryptResult, decryptSlots, encryptRequest, encryptRequestParallel, encryptRequestPartsParallel, encryptVectors } from '../../he-core/client/index.js';
import type { BatchAnswer, SlotRange } from '../../he-core/client/index.js';

export { ClientKeyPair, decryptBatchAnswer, decryptResult, decryptSlots, encryptRequest, encryptRequestParallel, encryptRequestPartsParallel, encryptVectors };
export type { BatchAnswer, SlotRange };

export function encodeKeyEnvelopeFor(pair: ClientKeyPair, plan: PublicPlan): { bytes: Uint8Array; ms: number } {
  const generated = pair.createEvaluationKeys(plan);
  return { bytes: encodeKeyEnvelope(plan.params.fingerprint, generated.relin, generated.galois), ms: generated.ms };
}
