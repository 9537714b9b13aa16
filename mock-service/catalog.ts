import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { MainModule } from 'node-seal';
import { batchSplit, catalogDepartures, compile, expectedSizes, verifySignedCard } from '../he-core/index.js';
import type { CatalogModel, ExpectedSizes, ModelFile, PlanMode, PublicPlan, SignedCard, VerifiedCard } from '../he-core/index.js';

/** The public catalog: per model, its card and the public part of its single and batch plans. No weights. */
export function buildCatalog(seal: MainModule, models: ModelFile[]): CatalogModel[] {
  return buildCatalogAndSplits(seal, models).catalog;
}

/** The catalog, and the models whose batch plan can be split across workers (`batchSplit`). */
export function buildCatalogAndSplits(seal: MainModule, models: ModelFile[]): { catalog: CatalogModel[]; splittable: Set<string> } {
  const splittable = new Set<string>();
  const catalog = models.map((model): CatalogModel => {
    const plans = {} as Record<PlanMode, PublicPlan>;
    const sizes = {} as Record<PlanMode, ExpectedSizes>;
    for (const mode of ['single', 'batch'] as const) {
      const plan = compile(seal, model, { mode });
      if (mode === 'batch' && batchSplit(plan)) splittable.add(model.id);
      plans[mode] = plan.public;
      sizes[mode] = expectedSizes(plans[mode]);
    }
    return {
      id: model.id,
      version: model.version,
      title: model.title,
      description: model.description,
      task: model.task,
      input: model.input,
      output: model.output,
      metrics: model.metrics,
      weightsSha256: model.weightsSha256,
      testVectors: model.testVectors,
      plans,
      expectedSizes: sizes,
    };
  });
  return { catalog, splittable };
}

/**
 * Attaches each model's signed card from `cardsDir` (`<id>.card.json`, written by
 * `npm run models -- sign`). A card that does not verify or does not match its model's catalog
 * entry is not served (clients would refuse it anyway); each such problem is returned, to be
 * logged, with how to fix it. A model without a card is served unsigned.
 */
export function attachCards(catalog: CatalogModel[], cardsDir: string): string[] {
  const problems: string[] = [];
  if (!existsSync(cardsDir)) return problems;
  const byId = new Map(catalog.map((m) => [m.id, m]));
  for (const file of readdirSync(cardsDir).filter((f) => f.endsWith('.card.json')).sort()) {
    let doc: unknown;
    try {
      doc = JSON.parse(readFileSync(join(cardsDir, file), 'utf8'));
    } catch (err) {
      problems.push(`${file}: not readable JSON (${(err as Error).message}); not served`);
      continue;
    }
    let verified: VerifiedCard;
    try {
      verified = verifySignedCard(doc);
    } catch (err) {
      problems.push(`${file}: ${(err as Error).message}; not served`);
      continue;
    }
    const entry = byId.get(verified.card.id);
    if (!entry) {
      problems.push(`${file}: no model ${verified.card.id} in the catalog; not served`);
      continue;
    }
    const departures = catalogDepartures(verified.card, entry);
    if (departures.length > 0) {
      problems.push(`${file}: does not match the model ${entry.id} ${entry.version} (${departures.join(', ')}); not served. Re-sign it: npm run models -- sign MODEL.json --key KEYFILE --out ${file}`);
      continue;
    }
    entry.card = doc as SignedCard;
  }
  return problems;
}
