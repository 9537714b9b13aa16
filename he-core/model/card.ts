/**
 * Signed model cards: everything a client relies on about a model (id, version, task, input
 * schema, output description, pre- and post-processing, the plans' public parameters and their
 * fingerprints, a commitment to the weights, the known-answer test vectors), in canonical bytes,
 * signed by the model's publisher with Ed25519. See docs/SECURITY.md, "Signed model cards".
 */
import { createHash, createPrivateKey, createPublicKey, sign as edSign, verify as edVerify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { HeError } from '../errors.js';
import type { PublicPlan } from '../compiler/plan.js';
import type { HeParameters } from '../params/parameters.js';
import { parametersFingerprint } from '../params/parameters.js';
import type { CatalogModel, PlanMode } from '../protocol/api.js';
import type { HeldOutMetrics, ModelFile, ModelInput, ModelOutput, ModelTask, Postprocess, Preprocess, TestVector } from './format.js';

export const CARD_FORMAT = 'ciphercare-model-card';
export const CARD_FORMAT_VERSION = 1;
export const CARD_SIGNATURE_ALGORITHM = 'ed25519';

/** What a card says about one plan: its public CKKS parameters (their fingerprint included). */
export interface CardPlan {
  params: HeParameters;
}

/** The signed statement of a publisher about one version of one model. No weights. */
export interface ModelCard {
  format: typeof CARD_FORMAT;
  formatVersion: typeof CARD_FORMAT_VERSION;
  id: string;
  version: string;
  title: string;
  description: string;
  task: ModelTask;
  input: ModelInput;
  output: ModelOutput;
  preprocess: Preprocess;
  postprocess: Postprocess;
  metrics: HeldOutMetrics;
  /** SHA-256 (hex) of the canonical JSON of the model's layers (`weightsHash`). */
  weightsSha256: string;
  /** Known answers: raw input, network output before post-processing, tolerance. */
  testVectors: TestVector[];
  plans: Record<PlanMode, CardPlan>;
}

/** A card, its Ed25519 signature over `cardBytes(card)`, and the publisher's raw public key. */
export interface SignedCard {
  algorithm: typeof CARD_SIGNATURE_ALGORITHM;
  card: ModelCard;
  /** Base64 of the 64-byte Ed25519 signature. */
  signature: string;
  /** Base64 of the publisher's raw 32-byte Ed25519 public key. */
  publicKey: string;
}

const MODES: readonly PlanMode[] = ['single', 'batch'];

function invalid(message: string): never {
  throw new HeError('card_invalid', message);
}

/**
 * Canonical JSON: object keys sorted (by UTF-16 code units, as `Array.prototype.sort` does), no
 * whitespace, strings and numbers exactly as `JSON.stringify` writes them. Refuses what JSON
 * cannot carry faithfully (non-finite numbers, undefined, functions, bigints), so that two parties
 * never sign or hash different readings of the same value.
 */
export function canonicalBytes(value: unknown): Uint8Array {
  return Buffer.from(canonicalText(value, '$'), 'utf8');
}

function canonicalText(value: unknown, path: string): string {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) invalid(`${path} is not a finite number`);
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map((v, i) => canonicalText(v, `${path}[${i}]`)).join(',')}]`;
  if (typeof value === 'object') {
    const record = value as Record<string, unknown>;
    const parts: string[] = [];
    for (const key of Object.keys(record).sort()) {
      if (record[key] === undefined) invalid(`${path}.${key} is undefined`);
      parts.push(`${JSON.stringify(key)}:${canonicalText(record[key], `${path}.${key}`)}`);
    }
    return `{${parts.join(',')}}`;
  }
  return invalid(`${path} has a type JSON cannot carry (${typeof value})`);
}

/** The bytes a publisher signs: the canonical JSON of the card. */
export function cardBytes(card: ModelCard): Uint8Array {
  return canonicalBytes(card);
}

/** SHA-256 (hex) of the card's canonical bytes: what a client pins for an id and version. */
export function cardSha256(card: ModelCard): string {
  return createHash('sha256').update(cardBytes(card)).digest('hex');
}

/** The card of a model file and its compiled public plans (one per mode). */
export function cardFromModel(model: ModelFile, plans: Record<PlanMode, PublicPlan>): ModelCard {
  const card: ModelCard = {
    format: CARD_FORMAT,
    formatVersion: CARD_FORMAT_VERSION,
    id: model.id,
    version: model.version,
    title: model.title,
    description: model.description,
    task: model.task,
    input: model.input,
    output: model.output,
    preprocess: model.preprocess,
    postprocess: model.postprocess,
    metrics: model.metrics,
    weightsSha256: model.weightsSha256,
    testVectors: model.testVectors,
    plans: { single: { params: plans.single.params }, batch: { params: plans.batch.params } },
  };
  // A deep copy through the canonical form: the card shares nothing with the model object.
  return JSON.parse(Buffer.from(cardBytes(card)).toString('utf8')) as ModelCard;
}

// ---- keys ------------------------------------------------------------------------------------

/** The raw 32-byte public key of an Ed25519 key (public or private). */
export function rawPublicKey(key: KeyObject): Uint8Array {
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  if (publicKey.asymmetricKeyType !== 'ed25519') throw new HeError('card_key_invalid', 'the key is not an Ed25519 key');
  const jwk = publicKey.export({ format: 'jwk' });
  if (typeof jwk.x !== 'string') throw new HeError('card_key_invalid', 'the Ed25519 key has no public part');
  return Buffer.from(jwk.x, 'base64url');
}

/** An Ed25519 public key from its raw 32 bytes in base64. */
export function publicKeyFromBase64(base64: string): KeyObject {
  const raw = typeof base64 === 'string' && /^[A-Za-z0-9+/]{43}=$/.test(base64) ? Buffer.from(base64, 'base64') : undefined;
  if (!raw || raw.length !== 32) throw new HeError('card_key_invalid', 'a publisher key is the base64 of 32 raw Ed25519 bytes');
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' });
}

/** An Ed25519 private key from PKCS#8 PEM text. */
export function privateKeyFromPem(pem: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch {
    throw new HeError('card_key_invalid', 'the key file does not hold a PEM private key');
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new HeError('card_key_invalid', `the key file holds a ${key.asymmetricKeyType ?? 'unknown'} key, not an Ed25519 publisher key`);
  return key;
}

/** SHA-256 (hex) of the raw public key: the publisher's fingerprint. */
export function publisherFingerprint(publicKeyBase64: string): string {
  publicKeyFromBase64(publicKeyBase64);
  return createHash('sha256').update(Buffer.from(publicKeyBase64, 'base64')).digest('hex');
}

/** A fingerprint as people compare it: groups of four hex digits. */
export function formatFingerprint(hex: string): string {
  return hex.match(/.{1,4}/g)?.join(' ') ?? hex;
}

/** A fingerprint as typed (any case, spaces or colons allowed), normalised to 64 hex digits, or undefined. */
export function parseFingerprint(text: string): string | undefined {
  const hex = text.replace(/[\s:]/g, '').toLowerCase();
  return /^[0-9a-f]{64}$/.test(hex) ? hex : undefined;
}

// ---- sign and verify -------------------------------------------------------------------------

export function signCard(card: ModelCard, privateKey: KeyObject): SignedCard {
  validateCard(card);
  const signature = edSign(null, cardBytes(card), privateKey);
  return { algorithm: CARD_SIGNATURE_ALGORITHM, card, signature: signature.toString('base64'), publicKey: Buffer.from(rawPublicKey(privateKey)).toString('base64') };
}

/** A signed card that verified: the card and its publisher's fingerprint. */
export interface VerifiedCard {
  card: ModelCard;
  publicKey: string;
  fingerprint: string;
  sha256: string;
}

/**
 * Checks an untrusted signed-card document: its shape, then the signature over the card's
 * canonical bytes with the key it names. Throws `card_invalid` or `card_signature_invalid`. Whether
 * that key deserves trust is the caller's decision (trusted publishers, pins).
 */
export function verifySignedCard(doc: unknown): VerifiedCard {
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) invalid('a signed card must be a JSON object');
  const signed = doc as Partial<SignedCard>;
  if (signed.algorithm !== CARD_SIGNATURE_ALGORITHM) invalid(`the card's signature algorithm must be "${CARD_SIGNATURE_ALGORITHM}"`);
  if (typeof signed.publicKey !== 'string' || typeof signed.signature !== 'string') invalid('a signed card needs publicKey and signature (base64)');
  const card = validateCard(signed.card);
  let key: KeyObject;
  try {
    key = publicKeyFromBase64(signed.publicKey);
  } catch {
    invalid('the card\'s publicKey is not the base64 of a raw 32-byte Ed25519 key');
  }
  const signature = /^[A-Za-z0-9+/]{86}==$/.test(signed.signature) ? Buffer.from(signed.signature, 'base64') : undefined;
  if (!signature || signature.length !== 64 || !edVerify(null, cardBytes(card), key, signature)) {
    throw new HeError('card_signature_invalid', `the signature of the card of ${card.id} ${card.version} does not verify: the card was altered after signing, or signed by another key`);
  }
  return { card, publicKey: signed.publicKey, fingerprint: publisherFingerprint(signed.publicKey), sha256: cardSha256(card) };
}

// ---- shape and consistency -------------------------------------------------------------------

const isString = (v: unknown): v is string => typeof v === 'string';
const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const isNumbers = (v: unknown): v is number[] => Array.isArray(v) && v.every(isNumber);

function checkParams(p: unknown, where: string): void {
  if (!isObject(p)) invalid(`${where} must be an object`);
  if (p.scheme !== 'ckks' || p.securityLevel !== 128) invalid(`${where}: scheme must be ckks at security level 128`);
  if (!Number.isInteger(p.polyModulusDegree) || !isNumbers(p.coeffModulusBits) || !Array.isArray(p.primes) || !p.primes.every(isString) || !Number.isInteger(p.scaleBits)) {
    invalid(`${where}: polyModulusDegree, coeffModulusBits, primes and scaleBits are required`);
  }
  if (!isString(p.fingerprint) || p.fingerprint !== parametersFingerprint(p as unknown as HeParameters)) invalid(`${where}: the fingerprint does not match the parameters`);
}

/** Checks a card's shape (untrusted input); returns it typed. Throws `card_invalid` naming the field. */
export function validateCard(doc: unknown): ModelCard {
  if (!isObject(doc)) invalid('card must be an object');
  const c = doc;
  if (c.format !== CARD_FORMAT) invalid(`card.format must be "${CARD_FORMAT}"`);
  if (c.formatVersion !== CARD_FORMAT_VERSION) invalid(`card.formatVersion ${String(c.formatVersion)} is not supported (this build reads ${CARD_FORMAT_VERSION})`);
  if (!isString(c.id) || !/^[a-z0-9][a-z0-9-]{0,63}$/.test(c.id)) invalid('card.id must be lower-case letters, digits and dashes');
  if (!isString(c.version) || c.version.length === 0 || c.version.length > 64) invalid('card.version is required');
  if (!isString(c.title) || !isString(c.description)) invalid('card.title and card.description are required');
  if (!['binary-classification', 'multiclass-classification', 'regression'].includes(c.task as string)) invalid('card.task is unknown');
  if (!isObject(c.input) || (c.input.kind !== 'features' && c.input.kind !== 'image')) invalid('card.input.kind must be features or image');
  if (c.input.kind === 'features' && (!Array.isArray(c.input.features) || !c.input.features.every((f) => isObject(f) && isString(f.name) && isNumber(f.min) && isNumber(f.max)))) {
    invalid('card.input.features must list named fields with min and max');
  }
  if (!isObject(c.output) || !Array.isArray(c.output.labels) || !c.output.labels.every(isString) || !Number.isInteger(c.output.precision)) invalid('card.output needs labels and precision');
  if (!isObject(c.preprocess) || !isNumbers(c.preprocess.mean) || !isNumbers(c.preprocess.scale)) invalid('card.preprocess needs mean and scale');
  if (!isObject(c.postprocess) || !isString(c.postprocess.fn)) invalid('card.postprocess needs fn');
  if (!isObject(c.metrics)) invalid('card.metrics must be an object');
  if (!isString(c.weightsSha256) || !/^[0-9a-f]{64}$/.test(c.weightsSha256)) invalid('card.weightsSha256 must be 64 hex digits');
  if (!Array.isArray(c.testVectors)) invalid('card.testVectors must be an array');
  c.testVectors.forEach((tv, i) => {
    if (!isObject(tv) || !isNumbers(tv.input) || !isNumbers(tv.expected) || !isNumber(tv.tolerance) || tv.tolerance <= 0) invalid(`card.testVectors[${i}] needs input, expected and a positive tolerance`);
  });
  if (!isObject(c.plans)) invalid('card.plans must be an object');
  for (const mode of MODES) {
    const plan = c.plans[mode];
    if (!isObject(plan)) invalid(`card.plans.${mode} is missing`);
    checkParams(plan.params, `card.plans.${mode}.params`);
  }
  // Canonical form must exist (no non-finite numbers anywhere).
  canonicalBytes(c);
  return c as unknown as ModelCard;
}

function same(a: unknown, b: unknown): boolean {
  try {
    return Buffer.from(canonicalBytes(a)).equals(Buffer.from(canonicalBytes(b)));
  } catch {
    return false;
  }
}

/**
 * The fields where a provider's catalog entry departs from the signed card (empty when it says
 * exactly what the card says). The client refuses an entry that departs in anything it relies on.
 */
export function catalogDepartures(card: ModelCard, entry: CatalogModel): string[] {
  const out: string[] = [];
  const top = ['id', 'version', 'title', 'description', 'task', 'input', 'output', 'metrics', 'weightsSha256', 'testVectors'] as const;
  for (const key of top) if (!same(card[key], entry[key])) out.push(key);
  for (const mode of MODES) {
    const plan = entry.plans?.[mode];
    if (!plan) {
      out.push(`plans.${mode}`);
      continue;
    }
    if (!same(card.plans[mode].params, plan.params)) out.push(`plans.${mode}.params`);
    const m = plan.model;
    const fields = ['id', 'version', 'task', 'input', 'output', 'preprocess', 'postprocess', 'weightsSha256', 'testVectors'] as const;
    for (const key of fields) if (!same(card[key], m?.[key])) out.push(`plans.${mode}.model.${key}`);
  }
  return out;
}

/** The fields where a card departs from the card of a model file and its plans (empty when it is that model's card). */
export function modelDepartures(card: ModelCard, model: ModelFile, plans: Record<PlanMode, PublicPlan>): string[] {
  const expected = cardFromModel(model, plans);
  const differ: string[] = (Object.keys(expected) as (keyof ModelCard)[]).filter((key) => !same(card[key], expected[key]));
  return differ.concat(Object.keys(card).filter((k) => !(k in expected)));
}
