import type { ModelOutput, ModelTask } from '../../he-core/index.js';
import type { ShownResult } from './prediction-flow.js';

/** What a result display needs of a model (a catalog entry or a bundled model file both fit). */
export interface ResultModel {
  task: ModelTask;
  output: ModelOutput;
}

/** The named result fields of a model's shown result, as the JSON output and the batch CSV carry them. */
export type ResultFields = { probability?: number; label?: string; value?: number; unit?: string };

/** The result columns of a batch CSV, by task. */
export function resultColumns(model: ResultModel): ('probability' | 'label' | 'value')[] {
  if (model.task === 'regression') return ['value'];
  if (model.task === 'binary-classification') return ['probability', 'label'];
  return ['label', 'probability'];
}

export function resultFields(model: ResultModel, shown: Partial<ShownResult>): ResultFields {
  const values = shown.values ?? [];
  if (model.task === 'regression') return { value: values[0]!, ...(model.output.unit ? { unit: model.output.unit } : {}) };
  if (model.task === 'binary-classification') return { probability: values[0]!, ...(shown.label !== undefined ? { label: shown.label } : {}) };
  return { ...(shown.label !== undefined ? { label: shown.label } : {}), probability: values[shown.classIndex ?? 0]! };
}

