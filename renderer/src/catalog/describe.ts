import type { ModelSummary } from '../api/contract.js';
import { formatBytes } from '../shell/format.js';

/** What the model tells you, in plain words. */
export function predicts(model: ModelSummary): string {
  const [first] = model.outputLabels;
  switch (model.task) {
    case 'binary-classification':
      return `The chance of ${first ?? 'the outcome'}${model.negativeLabel ? ` rather than ${model.negativeLabel}` : ''}, from 0% to 100%.`;
    case 'multiclass-classification':
      return `Which of ${model.outputLabels.length} answers it is (${model.outputLabels.join(', ')}), with how likely each one is.`;
    case 'regression':
      return `An estimate of ${first ?? 'a value'}${model.unit ? `, on the scale “${model.unit}”` : ''}.`;
  }
}

/** What you give it. */
export function inputSummary(model: ModelSummary): string {
  if (model.input.kind === 'image') return `A ${model.input.width}×${model.input.height} ${model.input.channels === 1 ? 'grey-level ' : ''}picture that you draw.`;
  return `${model.input.features.length} values that you type in or take from a CSV file.`;
}

/**
 * How good it is, in plain words, from the figures measured on test cases kept out of its training.
 * Accuracy becomes "right for N of 100"; a regression's mean absolute error becomes "off by N on
 * average".
 */
export function quality(model: ModelSummary): string {
  const m = model.metrics;
  const cases = `${m.testRows.toLocaleString('en')} cases`;
  if (m.accuracy !== undefined) return `Right for ${Math.round(m.accuracy * 100)} of every 100 test cases, which it never saw while learning (${cases}).`;
  const error = m.mae ?? m.rmse;
  if (error !== undefined) return `Off by about ${Math.round(error)}${model.unit ? ` on the scale “${model.unit}”` : ''} on average, on test cases it never saw while learning (${cases}).`;
  return `Tested on ${cases} it never saw while learning.`;
}

export interface TechnicalRow {
  term: string;
  value: string;
  /** One short sentence for someone who has not met the term. */
  explain: string;
}

/** The statistics behind the plain-words figures, each with a short explanation. */
export function statisticsRows(model: ModelSummary): TechnicalRow[] {
  const m = model.metrics;
  const rows: TechnicalRow[] = [];
  if (m.accuracy !== undefined) rows.push({ term: 'Accuracy', value: `${(m.accuracy * 100).toFixed(1)}%`, explain: 'The share of test cases it classified correctly.' });
  if (m.auc !== undefined) rows.push({ term: 'ROC AUC', value: m.auc.toFixed(3), explain: 'How well it ranks a positive case above a negative one: 0.5 is guessing, 1 is perfect.' });
  if (m.rmse !== undefined) rows.push({ term: 'RMSE', value: `${m.rmse.toFixed(1)}`, explain: 'Root mean square error: the typical size of an error, large errors counting more.' });
  if (m.mae !== undefined) rows.push({ term: 'MAE', value: m.mae.toFixed(1), explain: 'Mean absolute error: the average size of an error.' });
  if (m.r2 !== undefined) rows.push({ term: 'R²', value: m.r2.toFixed(3), explain: 'The share of the differences between patients that the model explains: 0 is none, 1 is all.' });
  rows.push({ term: 'Held-out test cases', value: m.testRows.toLocaleString('en'), explain: 'Cases kept out of training and used only to measure the figures above.' });
  rows.push({ term: 'Training cases', value: m.trainRows.toLocaleString('en'), explain: 'The cases the model learned from.' });
  return rows;
}

/** The encryption parameters, each with a short explanation. */
export function encryptionRows(model: ModelSummary): TechnicalRow[] {
  const he = model.he;
  return [
    { term: 'Scheme', value: 'CKKS', explain: 'Homomorphic encryption for approximate numbers: the provider computes on your values while they stay encrypted.' },
    { term: 'Ring dimension', value: he.polyModulusDegree.toLocaleString('en'), explain: 'The size of the encryption’s underlying structure; larger allows longer computations, at the cost of size and speed.' },
    { term: 'Security', value: `${he.securityBits}-bit`, explain: `Breaking the encryption would take about 2^${he.securityBits} operations.` },
    { term: 'Multiplicative levels', value: String(he.levels), explain: 'How many multiplications in a row the encrypted computation can take.' },
    { term: 'Rotation keys', value: String(he.rotationKeys), explain: 'Public keys that let the provider move values within an encrypted list; they reveal nothing about your data.' },
    { term: 'Key upload (once)', value: formatBytes(he.evaluationKeyBytes), explain: 'The public evaluation keys sent to the provider the first time you use this model.' },
    { term: 'Per request', value: `${formatBytes(he.requestBytes)} up, ${formatBytes(he.responseBytes)} down`, explain: 'The encrypted values sent, and the encrypted answer received.' },
    { term: 'Patients per batch request', value: String(he.samplesPerBatch), explain: 'How many rows of a CSV file fit in one encrypted request.' },
  ];
}
