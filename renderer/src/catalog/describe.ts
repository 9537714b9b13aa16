import type { ModelSummary } from '../api/contract.js';

export const TASK_LABEL: Record<ModelSummary['task'], string> = {
  'binary-classification': 'Probability (two classes)',
  'multiclass-classification': 'Class probabilities',
  regression: 'A value',
};

export function inputSummary(model: ModelSummary): string {
  if (model.input.kind === 'image') return `${model.input.width}×${model.input.height} image, ${model.input.channels} channel${model.input.channels === 1 ? '' : 's'}`;
  return `${model.input.features.length} measurements`;
}

/** The held-out metrics that the model file declares, in the order a reader expects. */
export function metricRows(model: ModelSummary): { label: string; value: string }[] {
  const m = model.metrics;
  const rows: { label: string; value: string }[] = [];
  if (m.accuracy !== undefined) rows.push({ label: 'Accuracy', value: `${(m.accuracy * 100).toFixed(1)}%` });
  if (m.auc !== undefined) rows.push({ label: 'ROC AUC', value: m.auc.toFixed(3) });
  if (m.rmse !== undefined) rows.push({ label: 'RMSE', value: `${m.rmse.toFixed(1)}${model.unit ? ` (${model.unit})` : ''}` });
  if (m.mae !== undefined) rows.push({ label: 'MAE', value: m.mae.toFixed(1) });
  if (m.r2 !== undefined) rows.push({ label: 'R²', value: m.r2.toFixed(3) });
  rows.push({ label: 'Held-out cases', value: `${m.testRows} (trained on ${m.trainRows})` });
  return rows;
}
