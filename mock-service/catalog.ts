import type { MainModule } from 'node-seal';
import { batchSplit, compile, estimatedKeyBytes, packedResultBytes } from '../he-core/index.js';
import type { CatalogModel, ExpectedSizes, ModelFile, PlanMode, PublicPlan } from '../he-core/index.js';

function expectedSizes(plan: PublicPlan): ExpectedSizes {
  const p = plan.params;
  const n = p.polyModulusDegree;
  const dataBits = p.coeffModulusBits.slice(0, -1).reduce((a, b) => a + b, 0);
  const keys = (plan.relinearization ? 1 : 0) + plan.galoisSteps.length;
  // Seeded inputs carry one polynomial over every data prime; compressed to about their bit count.
  const perInput = Math.round((n * dataBits) / 8 * 1.05) + 64;
  return {
    evaluationKeyBytes: keys * estimatedKeyBytes(p),
    requestBytes: 48 + plan.input.count * (perInput + 4),
    // Packed answers have an exact size.
    responseBytes: 48 + plan.output.count * (packedResultBytes(n, plan.output.packing) + 4),
  };
}

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
