import type { ModelTrustView } from '../api/contract.js';

export type TrustStatus = ModelTrustView['status'];

/** The words a patient reads for a model's trust status (docs/ui.md, docs/SECURITY.md). */
export function trustWording(trust: ModelTrustView | undefined): { status: TrustStatus; text: string } {
  if (trust?.status === 'verified') return { status: 'verified', text: 'Verified publisher' };
  if (trust?.status === 'pinned') return { status: 'pinned', text: `Publisher pinned on first use (fingerprint ${trust.publisherFingerprint ?? 'unknown'})` };
  return { status: 'unverified', text: 'Unverified: CipherCare cannot check this provider’s answers' };
}
