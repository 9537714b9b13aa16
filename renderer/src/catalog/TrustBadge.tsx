import type { ModelTrustView } from '../api/contract.js';
import { trustWording } from './trust.js';

const MARK = { verified: '✓', pinned: '⚲', unverified: '!' } as const;

/**
 * Who vouches for a model, in words (the mark is decoration: colour and symbol never carry the
 * meaning alone). Shown on the model card and on the predict screen, before anything is sent.
 */
export function TrustBadge({ trust }: { trust: ModelTrustView | undefined }) {
  const { status, text } = trustWording(trust);
  return (
    <p className={`trust-badge trust-${status}`} data-testid="trust-badge" data-trust={status}>
      <span className="trust-mark" aria-hidden="true">
        {MARK[status]}
      </span>{' '}
      {text}
      {status === 'verified' && trust?.publisherName ? <span className="muted"> ({trust.publisherName})</span> : null}
    </p>
  );
}
