import type { CatalogModel } from '../../he-core/index.js';
import type { ShownResult, Stage } from '../flow/prediction-flow.js';

export { resultColumns, resultFields } from '../flow/result-fields.js';
export type { ResultFields, ResultModel } from '../flow/result-fields.js';
import type { ResultModel } from '../flow/result-fields.js';
import { resultFields } from '../flow/result-fields.js';

export function fixed(model: ResultModel, value: number): string {
  return value.toFixed(model.output.precision);
}

/** One line a person reads, e.g. "benign (probability of malignant 0.123)", "152.3 index (one year)", "7 (probability 0.982)". */
export function describeResult(model: ResultModel, shown: Partial<ShownResult>): string {
  const f = resultFields(model, shown);
  if (model.task === 'regression') return `${fixed(model, f.value!)}${f.unit ? ` ${f.unit}` : ''}`;
  if (model.task === 'binary-classification') return `${f.label ?? '?'} (probability of ${model.output.labels[0]} ${fixed(model, f.probability!)})`;
  return `${f.label ?? '?'} (probability ${fixed(model, f.probability!)})`;
}

/** The warning for a result outside the range of targets seen in training, or undefined. */
export function trainingRangeWarning(model: ResultModel, shown: Partial<ShownResult>): string | undefined {
  const r = shown.outsideTraining;
  if (!r) return undefined;
  const unit = r.unit ? ` ${r.unit}` : '';
  return `Warning: this result lies outside the results this model saw in training (${fixed(model, r.low)} to ${fixed(model, r.high)}${unit}): the model was never fitted there, so read it with extra caution.`;
}

export function ms(value: number | undefined): string {
  if (value === undefined) return '-';
  return value >= 10_000 ? `${(value / 1000).toFixed(1)} s` : `${value.toFixed(value >= 100 ? 0 : 1)} ms`;
}

/** Milliseconds for JSON: one decimal. */
export function roundMs(value: number): number {
  return Math.round(value * 10) / 10;
}

export function roundTimings(timings: Partial<Record<Stage, number>>): Partial<Record<Stage, number>> {
  return Object.fromEntries(Object.entries(timings).map(([k, v]) => [k, roundMs(v)]));
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 ** 2).toFixed(1)} MiB`;
}

/** A plain text table: columns padded to their widest cell, numbers (right) and text (left) as marked. */
export function table(header: readonly string[], rows: readonly (readonly string[])[], rightAligned: readonly number[] = []): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (rightAligned.includes(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

export function inputSummary(model: CatalogModel): string {
  return model.input.kind === 'features' ? `${model.input.features.length} values` : `image ${model.input.width}x${model.input.height}`;
}

/** Writes results to stdout and notes to stderr; in --json mode stdout carries exactly one JSON document. */
export class Output {
  constructor(readonly json: boolean) {}

  line(text = ''): void {
    process.stdout.write(`${text}\n`);
  }

  /** A note for the person at the terminal (stderr): never a secret or a decrypted value. */
  note(text: string): void {
    process.stderr.write(`${text}\n`);
  }

  warn(text: string): void {
    process.stderr.write(`ciphercare: warning: ${text}\n`);
  }

  document(value: unknown): void {
    process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  }
}
