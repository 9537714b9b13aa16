/**
 * Trust in a provider's models: each catalog entry's signed card is verified, its publisher is
 * either trusted (the bundled publisher, and any the vault lists) or pinned on first use, as SSH
 * pins host keys, and the entry must say exactly what its card says. Known answers (test vectors)
 * are kept only from a card that verified against a trusted or pinned key. See docs/SECURITY.md,
 * "Signed model cards".
 */
import { BUNDLED_PUBLISHER, HeError, catalogDepartures, formatFingerprint, publisherFingerprint, verifySignedCard } from '../../he-core/index.js';
import type { CatalogModel, TestVector, TrustedPublisher, VerifiedCard } from '../../he-core/index.js';
import type { Vault } from '../vault/index.js';
import { FlowError } from './errors.js';

export type TrustStatus = 'verified' | 'pinned' | 'unverified';

export interface ModelTrust {
  status: TrustStatus;
  /** The card's publisher (verified and pinned models). */
  publisher?: { fingerprint: string; name?: string };
  /** The publisher was seen for this model for the first time by this catalog check (and pinned, when a vault was given). */
  firstUse?: boolean;
}

/** What the vault keeps (one sealed secret setting, `trust.v1`). */
export interface TrustState {
  version: 1;
  /** Publishers trusted besides the bundled one (always trusted). */
  trusted: TrustedPublisher[];
  /** Provider (normalised URL) → publisher fingerprints pinned at first use. */
  providers: Record<string, string[]>;
  /** Model id → publisher fingerprint pinned at first use (any provider). */
  models: Record<string, string>;
  /** `id@version` → SHA-256 of the card's canonical bytes, pinned at first use. */
  cards: Record<string, string>;
}

export const TRUST_SECRET = 'trust.v1';

export function emptyTrustState(): TrustState {
  return { version: 1, trusted: [], providers: {}, models: {}, cards: {} };
}

const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** The vault's trust state (the bundled publisher is implicit). A damaged record is an error, never silently reset. */
export function loadTrustState(vault: Vault): TrustState {
  const text = vault.getSecret(TRUST_SECRET);
  if (text === undefined) return emptyTrustState();
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    doc = undefined;
  }
  if (!isRecord(doc) || doc.version !== 1 || !Array.isArray(doc.trusted) || !isRecord(doc.providers) || !isRecord(doc.models) || !isRecord(doc.cards)) {
    throw new FlowError('trust_state_invalid', 'the trusted publishers and pins stored in the vault are unreadable; restore the vault from a backup');
  }
  return doc as unknown as TrustState;
}

export function saveTrustState(vault: Vault, state: TrustState): void {
  vault.setSecret(TRUST_SECRET, JSON.stringify(state));
}

/** A provider as pins name it: its URL without a trailing slash. */
export function providerKey(url: string): string {
  const u = new URL(url);
  return `${u.origin}${u.pathname.replace(/\/+$/, '')}`;
}

const recorded = new WeakMap<CatalogModel, ModelTrust>();

/** The trust status recorded for a catalog entry returned by `checkCatalog`; anything else is unverified. */
export function trustOf(model: CatalogModel): ModelTrust {
  return recorded.get(model) ?? { status: 'unverified' };
}

const nothingDone = 'Nothing was sent or stored.';

function refusal(code: 'card_invalid' | 'card_signature_invalid', id: string, err: HeError): FlowError {
  return new FlowError(code, `the provider's signed card for ${id} was refused: ${err.message}. The provider may have altered the model. ${nothingDone} Use another provider, or ask this one to fix its card.`);
}

/**
 * The entry with its known answers (`testVectors`, what the flow's checks read) replaced: the
 * card's, or none. The plans keep theirs: there they only set the answer's precision (he-core's
 * answer checks), and they equal the card's wherever a card verified (`catalogDepartures`).
 */
function withVectors(entry: CatalogModel, vectors: TestVector[]): CatalogModel {
  return { ...entry, testVectors: vectors };
}

export interface CheckCatalogOptions {
  /** The provider's URL: what provider pins are keyed by. */
  providerUrl: string;
  /** Where trusted publishers and pins are read and first-use pins stored; without it nothing is pinned (listing only). */
  vault?: Vault;
}

/**
 * Verifies every entry of a provider's catalog and returns the entries to use: known answers
 * only from a card that verified against a trusted or pinned key (none otherwise). Refuses the
 * whole catalog, with a FlowError naming the model and what to do, and stores nothing, when any
 * card is malformed, does not verify, departs from its entry, claims an id reserved to a trusted
 * publisher, is signed by another key than the one pinned for its model or its provider, or
 * differs from the card pinned for its id and version.
 */
export function checkCatalog(entries: readonly CatalogModel[], options: CheckCatalogOptions): CatalogModel[] {
  const stored = options.vault ? loadTrustState(options.vault) : emptyTrustState();
  const state: TrustState = structuredClone(stored);
  const trusted: TrustedPublisher[] = [BUNDLED_PUBLISHER, ...state.trusted];
  const trustedBy = new Map(trusted.map((p) => [publisherFingerprint(p.publicKey), p]));
  const reserved = new Map<string, { publisher: TrustedPublisher; fingerprint: string }>();
  for (const [fingerprint, publisher] of trustedBy) for (const id of publisher.modelIds) reserved.set(id, { publisher, fingerprint });
  const provider = providerKey(options.providerUrl);
  const providerPins = state.providers[provider];
  const firstProviderUse = providerPins === undefined;
  let changed = false;

  const out = entries.map((entry): CatalogModel => {
    const owner = reserved.get(entry.id);
    if (entry.card === undefined) {
      if (owner) {
        throw new FlowError('card_id_reserved', `${entry.id} is a model of ${owner.publisher.name}, but this provider serves it without a card signed by that publisher: it may be an altered copy. ${nothingDone} Use another provider, or the bundled service.`);
      }
      const result = withVectors(entry, []);
      recorded.set(result, { status: 'unverified' });
      return result;
    }
    let verified: VerifiedCard;
    try {
      verified = verifySignedCard(entry.card);
    } catch (err) {
      if (err instanceof HeError && (err.code === 'card_signature_invalid' || err.code === 'card_invalid')) throw refusal(err.code, entry.id, err);
      throw err;
    }
    const departures = catalogDepartures(verified.card, entry);
    if (departures.length > 0) {
      throw new FlowError('card_mismatch', `the provider's catalog entry for ${entry.id} says something else than its signed card (${departures.join(', ')}): the provider may have altered the model. ${nothingDone} Use another provider, or ask this one to fix its catalog.`);
    }
    const fingerprint = verified.fingerprint;
    const shown = formatFingerprint(fingerprint);
    if (owner && owner.fingerprint !== fingerprint) {
      throw new FlowError('card_id_reserved', `${entry.id} is a model of ${owner.publisher.name} (publisher ${formatFingerprint(owner.fingerprint)}), but this provider's card for it is signed by another key (${shown}): it may be an altered copy. ${nothingDone} Use another provider, or the bundled service.`);
    }
    let trust: ModelTrust;
    const publisher = trustedBy.get(fingerprint);
    if (publisher) {
      trust = { status: 'verified', publisher: { fingerprint, name: publisher.name } };
    } else {
      const pinnedForModel = state.models[entry.id];
      if (pinnedForModel !== undefined && pinnedForModel !== fingerprint) {
        throw new FlowError('card_publisher_changed', `the card of ${entry.id} is now signed by publisher ${shown}, but ${entry.id} was pinned to publisher ${formatFingerprint(pinnedForModel)} on first use. Someone may be passing off another model as this one. ${nothingDone} Ask the publisher whether its key really changed before trusting the new one.`);
      }
      if (!firstProviderUse && !providerPins.includes(fingerprint)) {
        throw new FlowError('card_publisher_changed', `this provider's card of ${entry.id} is signed by publisher ${shown}, but the provider was pinned to ${providerPins.map(formatFingerprint).join(' / ')} on first use. Someone may be impersonating the provider or its publisher. ${nothingDone} Ask the provider whether its publisher key really changed.`);
      }
      const firstUse = pinnedForModel === undefined;
      if (firstUse) state.models[entry.id] = fingerprint;
      if (firstProviderUse) state.providers[provider] = [...new Set([...(state.providers[provider] ?? []), fingerprint])];
      changed ||= firstUse || firstProviderUse;
      trust = { status: 'pinned', publisher: { fingerprint }, ...(firstUse ? { firstUse: true } : {}) };
    }
    const cardKey = `${entry.id}@${entry.version}`;
    const pinnedCard = state.cards[cardKey];
    if (pinnedCard !== undefined && pinnedCard !== verified.sha256) {
      throw new FlowError('card_changed', `the provider serves a different card for ${entry.id} ${entry.version} than the one seen first (card ${verified.sha256.slice(0, 16)}…, first ${pinnedCard.slice(0, 16)}…): a publisher gives a changed model a new version, so this card may be altered or replayed. ${nothingDone} Use another provider, or ask this one which card is right.`);
    }
    if (pinnedCard === undefined) {
      state.cards[cardKey] = verified.sha256;
      changed = true;
    }
    const result = withVectors(entry, verified.card.testVectors);
    recorded.set(result, trust);
    return result;
  });
  // All or nothing: pins are stored only when the whole catalog passed.
  if (options.vault && changed) saveTrustState(options.vault, state);
  return out;
}

/** What `forgetPins` removed. */
export interface ForgottenPins {
  models: string[];
  providers: string[];
  cards: string[];
}

/**
 * Removes the first-use pins of a model id (its publisher and its cards, every version) or of a
 * provider URL, after the person has checked the new fingerprint with the publisher: the next use
 * pins again. Trusted publishers are not pins and stay.
 */
export function forgetPins(vault: Vault, target: string): ForgottenPins {
  const state = loadTrustState(vault);
  const out: ForgottenPins = { models: [], providers: [], cards: [] };
  if (target in state.models) {
    delete state.models[target];
    out.models.push(target);
  }
  for (const key of Object.keys(state.cards)) {
    if (key.slice(0, key.lastIndexOf('@')) === target) {
      delete state.cards[key];
      out.cards.push(key);
    }
  }
  let provider: string | undefined;
  try {
    provider = providerKey(target);
  } catch {
    provider = undefined;
  }
  if (provider !== undefined && provider in state.providers) {
    delete state.providers[provider];
    out.providers.push(provider);
  }
  if (out.models.length + out.providers.length + out.cards.length > 0) saveTrustState(vault, state);
  return out;
}
