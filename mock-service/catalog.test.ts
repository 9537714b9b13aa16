import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cardFromModel, loadSeal, signCard } from '../he-core/index.js';
import { bundledModel } from '../he-core/testing/bundled-model.js';
import { attachCards, buildCatalog } from './catalog.js';

describe('the catalog serves each model with its signed card', async () => {
  const { seal } = await loadSeal();
  const model = bundledModel('diabetes-progression');
  const dir = mkdtempSync(join(tmpdir(), 'ciphercare-cards-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const key = generateKeyPairSync('ed25519').privateKey;
  const fresh = () => buildCatalog(seal, [model]);
  const card = signCard(cardFromModel(model, { single: fresh()[0]!.plans.single, batch: fresh()[0]!.plans.batch }), key);

  it('attaches a card that verifies and matches its model', () => {
    writeFileSync(join(dir, 'diabetes-progression.card.json'), JSON.stringify(card));
    const catalog = fresh();
    expect(attachCards(catalog, dir)).toEqual([]);
    expect(catalog[0]!.card).toEqual(card);
  });

  it('serves no card that does not verify, does not match, or names no model, and says how to fix it', () => {
    const altered = structuredClone(card);
    altered.card.testVectors[0]!.tolerance = 1;
    writeFileSync(join(dir, 'diabetes-progression.card.json'), JSON.stringify(altered));
    const stale = signCard({ ...structuredClone(card.card), weightsSha256: '0'.repeat(64) }, key);
    const other = signCard({ ...structuredClone(card.card), id: 'elsewhere' }, key);
    const catalog = fresh();
    writeFileSync(join(dir, 'elsewhere.card.json'), JSON.stringify(other));
    writeFileSync(join(dir, 'broken.card.json'), '{');
    expect(attachCards(catalog, dir)).toEqual([
      expect.stringMatching(/^broken\.card\.json: not readable JSON/),
      'diabetes-progression.card.json: the signature of the card of diabetes-progression 1.2.0 does not verify: the card was altered after signing, or signed by another key; not served',
      'elsewhere.card.json: no model elsewhere in the catalog; not served',
    ]);
    expect(catalog[0]!.card).toBeUndefined();
    writeFileSync(join(dir, 'diabetes-progression.card.json'), JSON.stringify(stale));
    const again = fresh();
    expect(attachCards(again, dir)).toContain(
      'diabetes-progression.card.json: does not match the model diabetes-progression 1.2.0 (weightsSha256, plans.single.model.weightsSha256, plans.batch.model.weightsSha256); not served. Re-sign it: npm run models -- sign MODEL.json --key KEYFILE --out diabetes-progression.card.json',
    );
    expect(again[0]!.card).toBeUndefined();
  });

  it('serves every model unsigned when there is no cards folder', () => {
    const catalog = fresh();
    expect(attachCards(catalog, join(dir, 'missing'))).toEqual([]);
    expect(catalog[0]!.card).toBeUndefined();
  });
});
