import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { compile } from '../compiler/compile.js';
import { loadSeal } from '../seal/runtime.js';
import { bundledModel } from '../testing/bundled-model.js';
import { BUNDLED_PUBLISHER } from './bundled-publisher.js';
import { modelDepartures, publisherFingerprint, verifySignedCard } from './card.js';

const MODELS = new URL('../../assets/models/', import.meta.url);
const CARDS = new URL('cards/', MODELS);
const RESIGN = 'The bundled cards must be re-signed by the release owner after `npm run train` (docs/SECURITY.md, "Re-signing the bundled cards"): npm run models -- sign assets/models/ID.json --key RELEASE_KEY --out assets/models/cards/ID.card.json';

describe('the committed cards of the bundled models', async () => {
  const { seal } = await loadSeal();
  const modelIds = readdirSync(MODELS).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -'.json'.length)).sort();

  it('exist for exactly the bundled models, which are the ids reserved to the bundled publisher', () => {
    const cardIds = readdirSync(CARDS).filter((f) => f.endsWith('.card.json')).map((f) => f.slice(0, -'.card.json'.length)).sort();
    expect(cardIds, RESIGN).toEqual(modelIds);
    expect([...BUNDLED_PUBLISHER.modelIds].sort()).toEqual(modelIds);
  });

  for (const id of ['breast-cancer', 'breast-cancer-mlp', 'diabetes-progression', 'mnist-cnn']) {
    it(`${id}: verifies against the shipped public key and matches its model file`, () => {
      const verified = verifySignedCard(JSON.parse(readFileSync(new URL(`${id}.card.json`, CARDS), 'utf8')));
      expect(verified.fingerprint, `${id}: signed by another key than the bundled publisher. ${RESIGN}`).toBe(publisherFingerprint(BUNDLED_PUBLISHER.publicKey));
      const model = bundledModel(id);
      const plans = { single: compile(seal, model, { mode: 'single' }).public, batch: compile(seal, model, { mode: 'batch' }).public };
      const departures = modelDepartures(verified.card, model, plans);
      expect(departures, `${id}: the committed card no longer matches assets/models/${id}.json (${departures.join(', ')}). ${RESIGN}`).toEqual([]);
    });
  }
});
