import { formatFingerprint } from '../../he-core/index.js';
import type { CatalogModel } from '../../he-core/index.js';
import { FlowError } from '../flow/errors.js';
import { trustOf } from '../flow/trust.js';
import type { ModelTrust } from '../flow/trust.js';
import type { CliContext } from './context.js';

export const UNVERIFIED_TEXT = "Unverified: CipherCare cannot check this provider's answers";

/** The trust status as people read it (docs/ui.md wording). */
export function trustText(trust: ModelTrust, options: { pinning?: boolean } = {}): string {
  const fingerprint = trust.publisher ? formatFingerprint(trust.publisher.fingerprint) : '';
  if (trust.status === 'verified') return `Verified publisher${trust.publisher?.name ? ` (${trust.publisher.name})` : ''}`;
  if (trust.status === 'pinned') {
    // Without a vault (`models`) nothing is pinned yet: the first prediction pins it.
    if (options.pinning === false) return `Publisher ${fingerprint}, not pinned yet (the first prediction pins it)`;
    return `Publisher pinned on first use (fingerprint ${fingerprint})`;
  }
  return UNVERIFIED_TEXT;
}

/** The trust status for --json output. */
export function trustJson(trust: ModelTrust): Record<string, unknown> {
  return { status: trust.status, ...(trust.publisher ? { publisher: trust.publisher.fingerprint, ...(trust.publisher.name ? { publisherName: trust.publisher.name } : {}) } : {}), ...(trust.firstUse ? { firstUse: true } : {}) };
}

/**
 * Before anything is sent: an unverified model is refused unless `allowUnverified` (then a
 * warning on stderr); a publisher pinned just now is announced with its fingerprint.
 */
export function checkTrustBeforeSending(ctx: CliContext, model: CatalogModel, allowUnverified: boolean | undefined): ModelTrust {
  const trust = trustOf(model);
  if (trust.status === 'unverified') {
    if (!allowUnverified) {
      throw new FlowError('model_unverified', `${UNVERIFIED_TEXT} for ${model.id}: the provider serves no signed card for it, so no known answer can be checked. Nothing was sent. Pass --allow-unverified to send your data anyway.`);
    }
    ctx.out.warn(`${UNVERIFIED_TEXT} for ${model.id} (no signed card); sending anyway, as --allow-unverified asks`);
  } else if (trust.firstUse) {
    ctx.out.note(`${model.id}: publisher pinned on first use (fingerprint ${formatFingerprint(trust.publisher!.fingerprint)}); a card signed by another key will be refused`);
  }
  return trust;
}
