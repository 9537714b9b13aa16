import type { CatalogModel } from '../../he-core/index.js';
import { FlowError } from '../flow/errors.js';
import type { BatchResult, RawInput } from '../flow/prediction-flow.js';
import { formatCsv, parseCsv } from './csv.js';

export interface ParsedBatch {
  rows: RawInput[];
  /** Header columns that are not inputs of the model (ignored). */
  ignoredColumns: string[];
}

/**
 * Reads a CSV of patients for a model: a header of feature names (any order, extra columns
 * ignored and reported); a missing feature column is a whole-file error naming it. A cell that is
 * not a number becomes NaN, which the flow reports as a row-level error naming the field.
 */
export function readBatchCsv(model: CatalogModel, text: string): ParsedBatch {
  if (model.input.kind !== 'features') throw new FlowError('csv_invalid', `${model.id} takes images; batch CSV scoring is for tabular models`);
  const table = parseCsv(text);
  const header = table[0]?.map((h) => h.trim());
  if (!header || header.length === 0) throw new FlowError('csv_invalid', 'the CSV file is empty: it needs a header row of feature names');
  const features = model.input.features;
  const index = new Map(header.map((h, i) => [h, i]));
  const missing = features.filter((f) => !index.has(f.name));
  if (missing.length > 0) throw new FlowError('csv_invalid', `the CSV has no column "${missing[0]!.name}" (${missing[0]!.label}); the header must name every input of ${model.id}`, missing[0]!.name);
  const known = new Set(features.map((f) => f.name));
  const rows = table.slice(1).map((cells) =>
    Object.fromEntries(
      features.map((f) => {
        const cell = (cells[index.get(f.name)!] ?? '').trim();
        return [f.name, cell === '' ? Number.NaN : Number(cell)];
      }),
    ),
  );
  return { rows, ignoredColumns: header.filter((h) => !known.has(h)) };
}

/** The results as CSV: row (1-based, as in the input file), status, result columns, error. */
export function writeBatchCsv(model: CatalogModel, result: BatchResult): string {
  const resultColumns =
    model.task === 'regression'
      ? [model.output.labels[0] ?? 'value']
      : model.task === 'binary-classification'
        ? [`probability_${model.output.labels[0]}`, 'label']
        : [...model.output.labels.map((l) => `probability_${l}`), 'label'];
  const lines: (string | number | undefined)[][] = [['row', 'status', ...resultColumns, 'error']];
  for (const r of result.rows) {
    const values = r.ok ? (model.task === 'regression' ? r.values! : [...r.values!, r.label]) : resultColumns.map(() => undefined);
    lines.push([r.row + 1, r.ok ? 'ok' : 'error', ...values, r.error]);
  }
  return formatCsv(lines);
}
