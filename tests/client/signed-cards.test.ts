import { generateKeyPairSync } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatFingerprint, publisherFingerprint, rawPublicKey, referenceForward, weightsHash } from '../../he-core/index.js';
import type { CatalogModel, DenseLayer, ModelFile } from '../../he-core/index.js';
import { FlowError } from '../../main/flow/errors.js';
import { PredictionFlow } from '../../main/flow/prediction-flow.js';
import { TRUST_SECRET, loadTrustState, trustOf } from '../../main/flow/trust.js';
import { ProviderClient } from '../../main/provider/provider-client.js';
import { DEFAULT_MODELS_DIR } from '../../mock-service/config.js';
import { startService } from '../../mock-service/service.js';
import type { RunningService } from '../../mock-service/service.js';
import { catalogProxy, publish } from './catalog-proxy.js';
import { clientRig } from './fixtures.js';
import type { ClientRig } from './fixtures.js';

const silent = pino({ level: 'silent' });
const BUNDLED = 'ce8a a2f2 dfe3 a405 da45 8e7b a491 db29 cc55 954e da99 74d5 4508 dd12 e34b af8e';

const fingerprintOf = (key: KeyObject): string => publisherFingerprint(Buffer.from(rawPublicKey(key)).toString('base64'));

async function refusal(p: Promise<unknown>): Promise<FlowError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(FlowError);
  return err as FlowError;
}

describe('signed model cards against a tampering provider', () => {
  let service: RunningService;
  let proxy: Awaited<ReturnType<typeof catalogProxy>>;
  const publisher = generateKeyPairSync('ed25519').privateKey;
  const attacker = generateKeyPairSync('ed25519').privateKey;
  const P = formatFingerprint(fingerprintOf(publisher));
  const Q = formatFingerprint(fingerprintOf(attacker));
  const diabetes = readFileSync(join(DEFAULT_MODELS_DIR, 'diabetes-progression.json'), 'utf8');
  const sample = (JSON.parse(diabetes) as ModelFile).testVectors[0]!.input;
  const rigs: ClientRig[] = [];
  const rig = async (): Promise<ClientRig> => {
    const r = await clientRig({ kind: 'bundled', url: proxy.url, credential: service.token! });
    rigs.push(r);
    return r;
  };
  /** Another launch of the app on the same vault: a new flow, which reads the catalog afresh. */
  const relaunch = (r: ClientRig): PredictionFlow => new PredictionFlow(r.vault, r.keyring, new ProviderClient({ kind: 'bundled', url: proxy.url, credential: service.token! }), 'bundled');

  beforeAll(async () => {
    service = await startService({ mode: 'bundled', workers: 1, logger: silent });
    proxy = await catalogProxy(service);
    proxy.aliases.set('acme-diabetes', 'diabetes-progression');
    proxy.aliases.set('acme-other', 'diabetes-progression');
  }, 120_000);
  afterAll(async () => {
    for (const r of rigs) r.close();
    await proxy?.close();
    await service?.close();
  });

  it('the bundled service serves every bundled model with its card, verified against the shipped key', async () => {
    proxy.serve = (real) => real;
    const r = await rig();
    const models = await r.flow.models();
    expect(models.map((m) => [m.id, trustOf(m).status, formatFingerprint(trustOf(m).publisher!.fingerprint)]).sort()).toEqual(
      ['breast-cancer', 'breast-cancer-mlp', 'diabetes-progression', 'mnist-cnn'].map((id) => [id, 'verified', BUNDLED]),
    );
    expect(models.every((m) => m.testVectors.length > 0)).toBe(true);
  }, 120_000);

  it('(a) a card signed by another key after the first use is refused, and nothing is stored', async () => {
    const r = await rig();
    proxy.serve = (real) => [...real, publish(real, 'diabetes-progression', 'acme-diabetes', publisher)];
    const acme = await r.flow.model('acme-diabetes');
    expect(trustOf(acme)).toEqual({ status: 'pinned', publisher: { fingerprint: fingerprintOf(publisher) }, firstUse: true });
    // The first use works and is stored.
    const first = await r.flow.predict('acme-diabetes', sample);
    expect(first.historyId).toBeGreaterThan(0);
    expect(r.vault.listHistory().entries).toHaveLength(1);
    const pins = r.vault.getSecret(TRUST_SECRET);
    // Next launch: the pin holds (no longer a first use).
    expect(trustOf(await relaunch(r).model('acme-diabetes'))).toEqual({ status: 'pinned', publisher: { fingerprint: fingerprintOf(publisher) } });

    // The same model, now signed by the attacker's key.
    proxy.serve = (real) => [...real, publish(real, 'diabetes-progression', 'acme-diabetes', attacker)];
    const err = await refusal(relaunch(r).predict('acme-diabetes', sample));
    expect(err.code).toBe('card_publisher_changed');
    expect(err.message).toBe(
      `the card of acme-diabetes is now signed by publisher ${Q}, but acme-diabetes was pinned to publisher ${P} on first use. Someone may be passing off another model as this one. Nothing was sent or stored. Ask the publisher whether its key really changed before trusting the new one.`,
    );
    // Another model of this provider signed by another key: the provider itself was pinned.
    proxy.serve = (real) => [...real, publish(real, 'diabetes-progression', 'acme-diabetes', publisher), publish(real, 'diabetes-progression', 'acme-other', attacker)];
    const other = await refusal(relaunch(r).predict('acme-other', sample));
    expect(other.code).toBe('card_publisher_changed');
    expect(other.message).toMatch(new RegExp(`^this provider's card of acme-other is signed by publisher ${Q}, but the provider was pinned to ${P} on first use\\.`));
    expect(r.vault.listHistory().entries).toHaveLength(1);
    expect(r.vault.getSecret(TRUST_SECRET)).toBe(pins);
  }, 120_000);

  it('(b) a different card under the same id and version is refused, and nothing is stored', async () => {
    const r = await rig();
    proxy.serve = (real) => [...real, publish(real, 'diabetes-progression', 'acme-diabetes', publisher)];
    await r.flow.models();
    const pins = r.vault.getSecret(TRUST_SECRET);
    // Same publisher, same id and version, a known answer dropped (the one a replay would fail).
    proxy.serve = (real) => [...real, publish(real, 'diabetes-progression', 'acme-diabetes', publisher, (e) => (e.testVectors = e.plans.single.model.testVectors = e.plans.batch.model.testVectors = e.testVectors.slice(1)))];
    const err = await refusal(relaunch(r).predict('acme-diabetes', sample));
    expect(err.code).toBe('card_changed');
    expect(err.message).toMatch(/^the provider serves a different card for acme-diabetes 1\.2\.0 than the one seen first \(card [0-9a-f]{16}…, first [0-9a-f]{16}…\): a publisher gives a changed model a new version, so this card may be altered or replayed\. Nothing was sent or stored\./);
    expect(r.vault.listHistory().entries).toHaveLength(0);
    expect(r.vault.getSecret(TRUST_SECRET)).toBe(pins);
    // A new version is a new card: accepted.
    proxy.serve = (real) => [...real, publish(real, 'diabetes-progression', 'acme-diabetes', publisher, (e) => (e.version = e.plans.single.model.version = e.plans.batch.model.version = '1.0.1'))];
    expect(trustOf(await relaunch(r).model('acme-diabetes')).status).toBe('pinned');
  }, 120_000);

  describe('(c) the tampered breast-cancer model: negated weights, recomputed weightsSha256 and test vectors, self-signed', () => {
    const bc = JSON.parse(readFileSync(join(DEFAULT_MODELS_DIR, 'breast-cancer.json'), 'utf8')) as ModelFile;
    const evil = structuredClone(bc);
    const layer = evil.layers[0] as DenseLayer;
    layer.weights = layer.weights.map((row) => row.map((w) => -w));
    evil.weightsSha256 = weightsHash(evil.layers);
    evil.testVectors = bc.testVectors.map((tv) => ({ ...tv, expected: [...referenceForward(evil, tv.input)] }));
    const tamper = (e: CatalogModel): void => {
      for (const target of [e, e.plans.single.model, e.plans.batch.model]) {
        target.weightsSha256 = evil.weightsSha256;
        target.testVectors = evil.testVectors;
      }
    };

    it('under the bundled id: refused, whatever key signed it (an attacker cannot reuse our ids)', async () => {
      const r = await rig();
      expect(Math.sign(evil.testVectors[0]!.expected[0]!)).toBe(-Math.sign(bc.testVectors[0]!.expected[0]!));
      proxy.serve = (real) => real.map((m) => (m.id === 'breast-cancer' ? publish(real, 'breast-cancer', 'breast-cancer', attacker, tamper) : m));
      const err = await refusal(r.flow.predict('breast-cancer', bc.testVectors[2]!.input, { canary: true }));
      expect(err.code).toBe('card_id_reserved');
      expect(err.message).toBe(
        `breast-cancer is a model of CipherCare bundled models (publisher ${BUNDLED}), but this provider's card for it is signed by another key (${Q}): it may be an altered copy. Nothing was sent or stored. Use another provider, or the bundled service.`,
      );
      // Served without any card: refused too.
      proxy.serve = (real) => real.map((m) => (m.id === 'breast-cancer' ? { ...m, card: undefined } : m));
      expect((await refusal(relaunch(r).predict('breast-cancer', bc.testVectors[2]!.input))).code).toBe('card_id_reserved');
      expect(r.vault.listHistory().entries).toHaveLength(0);
      expect(r.vault.getSecret(TRUST_SECRET)).toBeUndefined();
    }, 120_000);

    it('under an id of its own: shown as the attacker\'s publisher, pinned on first use; refused where the provider is pinned to another key', async () => {
      proxy.aliases.set('breast-cancer-x', 'breast-cancer');
      const fresh = await rig();
      proxy.serve = (real) => [...real, publish(real, 'breast-cancer', 'breast-cancer-x', attacker, tamper)];
      const shown = await fresh.flow.model('breast-cancer-x');
      expect(trustOf(shown)).toEqual({ status: 'pinned', publisher: { fingerprint: fingerprintOf(attacker) }, firstUse: true });
      // Its known answers are the attacker's own: they prove only that the provider runs the attacker's model.
      expect(shown.testVectors[0]!.expected).toEqual(evil.testVectors[0]!.expected);

      const pinned = await rig();
      proxy.serve = (real) => [...real, publish(real, 'diabetes-progression', 'acme-diabetes', publisher)];
      await pinned.flow.models();
      proxy.serve = (real) => [...real, publish(real, 'diabetes-progression', 'acme-diabetes', publisher), publish(real, 'breast-cancer', 'breast-cancer-x', attacker, tamper)];
      const err = await refusal(relaunch(pinned).predict('breast-cancer-x', bc.testVectors[2]!.input));
      expect(err.code).toBe('card_publisher_changed');
      expect(pinned.vault.listHistory().entries).toHaveLength(0);
    }, 120_000);
  });

  it('an entry that departs from its signed card, a forged signature, an unsigned model', async () => {
    const r = await rig();
    proxy.serve = (real) => [...real, publish(real, 'diabetes-progression', 'acme-diabetes', publisher, undefined)].map((m) => {
      if (m.id !== 'acme-diabetes') return m;
      const shifted = JSON.parse(JSON.stringify(m)) as CatalogModel;
      shifted.plans.single.model.preprocess.mean[0] = 0;
      return shifted;
    });
    const departs = await refusal(r.flow.models());
    expect(departs.code).toBe('card_mismatch');
    expect(departs.message).toMatch(/^the provider's catalog entry for acme-diabetes says something else than its signed card \(plans\.single\.model\.preprocess\)/);

    proxy.serve = (real) => [...real, publish(real, 'diabetes-progression', 'acme-diabetes', publisher)].map((m) => (m.id === 'acme-diabetes' ? { ...m, card: { ...m.card!, card: { ...m.card!.card, title: 'Something else' } } } : m));
    const forged = await refusal(relaunch(r).models());
    expect(forged.code).toBe('card_signature_invalid');
    expect(forged.message).toMatch(/^the provider's signed card for acme-diabetes was refused: the signature of the card of acme-diabetes 1\.2\.0 does not verify/);
    expect(r.vault.getSecret(TRUST_SECRET)).toBeUndefined();

    proxy.serve = (real) => [...real, { ...publish(real, 'diabetes-progression', 'acme-diabetes', publisher), card: undefined }];
    const unsigned = await relaunch(r).model('acme-diabetes');
    expect(trustOf(unsigned)).toEqual({ status: 'unverified' });
    // No known answers from an unsigned catalog.
    expect(unsigned.testVectors).toEqual([]);
    expect(loadTrustState(r.vault).models).toEqual({});
  }, 120_000);
});
