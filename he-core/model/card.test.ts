import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { HeError } from '../errors.js';
import { bundledModel } from '../testing/bundled-model.js';
import { loadSeal } from '../seal/runtime.js';
import { compile } from '../compiler/compile.js';
import type { CatalogModel } from '../protocol/api.js';
import {
  canonicalBytes,
  cardFromModel,
  cardSha256,
  catalogDepartures,
  formatFingerprint,
  parseFingerprint,
  publisherFingerprint,
  signCard,
  verifySignedCard,
} from './card.js';
import type { ModelCard, SignedCard } from './card.js';

const text = (v: unknown): string => Buffer.from(canonicalBytes(v)).toString('utf8');

function failure(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (err) {
    if (err instanceof HeError) return { code: err.code, message: err.message };
    throw err;
  }
  throw new Error('expected a failure');
}

describe('canonical bytes', () => {
  it('sort keys at every depth, carry no whitespace, print numbers as JavaScript does', () => {
    expect(text({ b: 1, a: [3, { d: 0.1, c: -2e-7 }], 'é': 'x "y"' })).toBe('{"a":[3,{"c":-2e-7,"d":0.1}],"b":1,"é":"x \\"y\\""}');
    expect(text({ a: 1, b: 2 })).toBe(text({ b: 2, a: 1 }));
    expect(text(1e21)).toBe('1e+21');
  });

  it('refuse what JSON cannot carry faithfully', () => {
    expect(failure(() => canonicalBytes({ a: Number.NaN })).message).toBe('$.a is not a finite number');
    expect(failure(() => canonicalBytes({ a: [1, Infinity] })).message).toBe('$.a[1] is not a finite number');
    expect(failure(() => canonicalBytes({ a: undefined })).message).toBe('$.a is undefined');
  });
});

describe('signed model cards', async () => {
  const { seal } = await loadSeal();
  const model = bundledModel('breast-cancer');
  const plans = { single: compile(seal, model, { mode: 'single' }).public, batch: compile(seal, model, { mode: 'batch' }).public };
  const card = cardFromModel(model, plans);
  const publisher = generateKeyPairSync('ed25519');
  const other = generateKeyPairSync('ed25519');
  const signed = signCard(card, publisher.privateKey);

  it('are stable: the same model gives the same canonical bytes, whatever the key order', () => {
    const reverse = (v: unknown): unknown =>
      Array.isArray(v) ? v.map(reverse) : v !== null && typeof v === 'object' ? Object.fromEntries(Object.entries(v).reverse().map(([k, x]) => [k, reverse(x)])) : v;
    const reordered = reverse(card) as ModelCard;
    expect(JSON.stringify(reordered)).not.toBe(JSON.stringify(card));
    expect(cardSha256(cardFromModel(model, plans))).toBe(cardSha256(card));
    expect(cardSha256(reordered)).toBe(cardSha256(card));
    expect(card.plans.single.params.fingerprint).toBe(plans.single.params.fingerprint);
    expect(card.weightsSha256).toBe(model.weightsSha256);
  });

  it('verify after a round trip through JSON, and name their publisher', () => {
    const verified = verifySignedCard(JSON.parse(JSON.stringify(signed)));
    expect(verified.card.id).toBe('breast-cancer');
    expect(verified.sha256).toBe(cardSha256(card));
    expect(verified.fingerprint).toBe(publisherFingerprint(signed.publicKey));
    expect(verified.fingerprint).toMatch(/^[0-9a-f]{64}$/);
    expect(formatFingerprint(verified.fingerprint)).toMatch(/^([0-9a-f]{4} ){15}[0-9a-f]{4}$/);
    expect(parseFingerprint(formatFingerprint(verified.fingerprint).toUpperCase())).toBe(verified.fingerprint);
  });

  const tampered: [string, (c: ModelCard) => void][] = [
    ['the weights commitment', (c) => (c.weightsSha256 = '0'.repeat(64))],
    ['a test vector', (c) => (c.testVectors[0]!.expected[0] = -c.testVectors[0]!.expected[0]!)],
    ['a tolerance', (c) => (c.testVectors[1]!.tolerance *= 10)],
    ['the schema', (c) => c.input.kind === 'features' && (c.input.features[0]!.max = 1e6)],
    ['the post-processing', (c) => (c.postprocess = { fn: 'identity', scale: 1, offset: 0 })],
    ['the version', (c) => (c.version = '1.0.1')],
  ];
  for (const [what, change] of tampered) {
    it(`fail when ${what} is changed after signing`, () => {
      const doc = structuredClone(signed);
      change(doc.card);
      const err = failure(() => verifySignedCard(doc));
      expect(err.code).toBe('card_signature_invalid');
      expect(err.message).toMatch(/^the signature of the card of breast-cancer .* does not verify: the card was altered after signing, or signed by another key$/);
    });
  }

  it('fail when the key is swapped for another one', () => {
    const swapped: SignedCard = { ...signed, publicKey: signCard(card, other.privateKey).publicKey };
    expect(failure(() => verifySignedCard(swapped)).code).toBe('card_signature_invalid');
    // Re-signed by the other key: valid, but another publisher.
    const resigned = signCard(card, other.privateKey);
    expect(verifySignedCard(resigned).fingerprint).not.toBe(verifySignedCard(signed).fingerprint);
  });

  it('refuse malformed documents with a message naming the field', () => {
    expect(failure(() => verifySignedCard({ ...signed, algorithm: 'rsa' })).message).toBe('the card\'s signature algorithm must be "ed25519"');
    expect(failure(() => verifySignedCard({ ...signed, publicKey: 'AAAA' })).message).toMatch(/publicKey is not the base64 of a raw 32-byte Ed25519 key/);
    expect(failure(() => verifySignedCard({ ...signed, signature: 'AAAA' })).code).toBe('card_signature_invalid');
    const badParams = structuredClone(signed);
    badParams.card.plans.batch.params.primes[0] = '17';
    expect(failure(() => verifySignedCard(badParams)).message).toBe('card.plans.batch.params: the fingerprint does not match the parameters');
    const nan = structuredClone(signed) as unknown as { card: { testVectors: { tolerance: unknown }[] } };
    nan.card.testVectors[0]!.tolerance = null;
    expect(failure(() => verifySignedCard(nan)).message).toBe('card.testVectors[0] needs input, expected and a positive tolerance');
  });

  it('catalogDepartures lists every field where a catalog entry departs from its card', () => {
    const entry = { id: model.id, version: model.version, title: model.title, description: model.description, task: model.task, input: model.input, output: model.output, metrics: model.metrics, weightsSha256: model.weightsSha256, testVectors: model.testVectors, plans } as unknown as CatalogModel;
    expect(catalogDepartures(card, entry)).toEqual([]);
    const changed = JSON.parse(JSON.stringify(entry)) as CatalogModel;
    changed.plans.single.model.preprocess.mean[0] = 0;
    changed.testVectors = [];
    expect(catalogDepartures(card, changed)).toEqual(['testVectors', 'plans.single.model.preprocess']);
  });
});
