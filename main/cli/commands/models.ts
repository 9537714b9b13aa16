import type { Command } from 'commander';
import type { CatalogModel } from '../../../he-core/index.js';
import { FlowError } from '../../flow/errors.js';
import { checkCatalog, trustOf } from '../../flow/trust.js';
import { inputSummary, table } from '../output.js';
import type { WithContext } from '../program.js';
import { trustJson, trustText } from '../trust.js';

function metricsText(model: CatalogModel): string {
  const m = model.metrics;
  const parts: string[] = [];
  if (m.accuracy !== undefined) parts.push(`accuracy ${m.accuracy.toFixed(3)}`);
  if (m.auc !== undefined) parts.push(`AUC ${m.auc.toFixed(3)}`);
  if (m.rmse !== undefined) parts.push(`RMSE ${m.rmse.toFixed(1)}`);
  if (m.r2 !== undefined) parts.push(`R² ${m.r2.toFixed(2)}`);
  return parts.join(', ');
}

function outputText(model: CatalogModel): string {
  if (model.task === 'regression') return `${model.output.labels[0]}${model.output.unit ? ` (${model.output.unit})` : ''}`;
  if (model.task === 'binary-classification') return `probability of ${model.output.labels[0]}`;
  return `class of ${model.output.labels.length}`;
}

/** The public model card a person needs to call predict (no weights, no plan internals), and its trust status. */
function card(model: CatalogModel): Record<string, unknown> {
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
    trust: trustJson(trustOf(model)),
  };
}

/** `models` opens no vault: cards are verified against the trusted publishers, nothing is pinned. */
const publisher = (model: CatalogModel): string => trustText(trustOf(model), { pinning: false });

export function registerModels(program: Command, withContext: WithContext): void {
  program
    .command('models')
    .description("list the provider's models, or show one model's inputs (names, units, ranges)")
    .argument('[id]', 'a model id: show its input schema')
    .action(
      withContext(async (ctx, id: string | undefined) => {
        const client = await ctx.provider();
        // Signatures and trusted publishers are checked here too; pins are checked (and set) by predict and batch.
        const models = checkCatalog(await client.catalog({ signal: ctx.abort.signal }), { providerUrl: client.config.url });
        if (id === undefined) {
          if (ctx.json) return ctx.out.document(models.map(card));
          ctx.out.line(table(['model', 'version', 'task', 'input', 'output', 'held-out', 'publisher'], models.map((m) => [m.id, m.version, m.task, inputSummary(m), outputText(m), metricsText(m), publisher(m)])));
          ctx.out.line('\n`ciphercare models <id>` shows the inputs of one model.');
          return;
        }
        const model = models.find((m) => m.id === id);
        if (!model) throw new FlowError('model_not_found', `the provider has no model "${id}" (it has: ${models.map((m) => m.id).join(', ')})`);
        if (ctx.json) return ctx.out.document(card(model));
        ctx.out.line(`${model.title} (${model.id} ${model.version})`);
        ctx.out.line(model.description);
        ctx.out.line(`output: ${outputText(model)}; held-out ${metricsText(model)}`);
        ctx.out.line(`publisher: ${publisher(model)}`);
        ctx.out.line('');
        if (model.input.kind === 'features') {
          ctx.out.line(table(['name', 'label', 'unit', 'min', 'max', 'typical'], model.input.features.map((f) => [f.name, f.label, f.unit, String(f.min), String(f.max), String(f.typical)]), [3, 4, 5]));
          ctx.out.line(`\npredict with: ciphercare predict --model ${model.id} --set ${model.input.features[0]!.name}=${model.input.features[0]!.typical} … (every field), or --input values.json`);
        } else {
          ctx.out.line(`input: ${model.input.description}`);
          ctx.out.line(`${model.input.channels * model.input.height * model.input.width} pixel values in [${model.input.min}, ${model.input.max}], row by row: pass them as a JSON array with --input.`);
        }
      }),
    );
}
