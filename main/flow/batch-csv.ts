import type { CatalogModel } from '../../he-core/index.js';
import { FlowError } from './errors.js';
import { formatCsv, parseNumber } from './csv.js';
import type { CsvTable } from './csv.js';
import type { BatchResult, BatchRowResult, PredictionFlow, PredictOptions, RawInput } from './prediction-flow.js';
import { resultColumns, resultFields } from './result-fields.js';

export interface Prepared {
  /** Per data row: the input for the flow, or the row's own error (wrong number of cells). */
  rows: ({ input: RawInput } | { error: string })[];
  ignored: string[];
}

/**
 * Maps the CSV's columns to the model's inputs by name (any order). A missing feature column is an
 * error for the whole file; extra columns are ignored (and reported). An image model takes every
 * column, in order, as its pixels.
 */
export function prepareRows(model: CatalogModel, csv: CsvTable): Prepared {
  const seen = new Set<string>();
  for (const name of csv.header) {
    if (name === '') throw new FlowError('csv_invalid', 'the CSV header has an empty column name');
    if (seen.has(name)) throw new FlowError('csv_invalid', `the CSV header has the column "${name}" twice`, name);
    seen.add(name);
  }
  const width = csv.header.length;
  const shapeError = (cells: string[]): string | undefined => (cells.length !== width ? `the row has ${cells.length} cells; the header has ${width}` : undefined);
  if (model.input.kind === 'image') {
    const n = model.input.channels * model.input.height * model.input.width;
    if (width !== n) throw new FlowError('csv_invalid', `${model.id} takes images of ${n} pixel values: the CSV needs ${n} columns (one per pixel, in order), it has ${width}`);
    return {
      ignored: [],
      rows: csv.records.map(({ cells }) => {
        const error = shapeError(cells);
        return error ? { error } : { input: cells.map(parseNumber) };
      }),
    };
  }
  const features = model.input.features;
  const missing = features.filter((f) => !seen.has(f.name));
  if (missing.length > 0) {
    // Written for every client (app and CLI): sentence case, no command names; the CLI adds its own hint.
    const names = missing.map((f) => `"${f.name}" (${f.label}, ${f.unit})`);
    throw new FlowError('csv_invalid', `The CSV file has no column ${names.slice(0, 3).join(', ')}${missing.length > 3 ? ` and ${missing.length - 3} more` : ''}: the model needs one column per input, named exactly as in its list of inputs`, missing[0]!.name);
  }
  const index = new Map(csv.header.map((h, i) => [h, i]));
  const known = new Set(features.map((f) => f.name));
  return {
    ignored: csv.header.filter((h) => !known.has(h)),
    rows: csv.records.map(({ cells }) => {
      const error = shapeError(cells);
      if (error) return { error };
      const input: Record<string, number> = {};
      for (const f of features) {
        const cell = cells[index.get(f.name)!]!;
        // An empty cell is a missing value (the flow names the field, its unit and range); other text is NaN, refused by the schema check.
        if (cell.trim() !== '') input[f.name] = parseNumber(cell);
      }
      return { input };
    }),
  };
}


export interface ScoredCsv {
  model: CatalogModel;
  /** One line per data row: [row, status, ...result columns, error]. */
  lines: (string | number | undefined)[][];
  /** The results as CSV text (row, status, result columns, error). */
  csv: string;
  /** One entry per data row (1-based row numbers as in the file). */
  rows: BatchRowResult[];
  ok: number;
  errors: number;
  ignored: string[];
  result: BatchResult;
}

/**
 * Scores a parsed CSV of patients: maps the columns, sends the well-formed rows through the batch
 * flow, and merges row-shape errors, schema errors and results into one line per input row.
 */
export async function scoreCsv(flow: PredictionFlow, modelId: string, csv: CsvTable, options: PredictOptions & { onScorable?: (rows: number) => void } = {}): Promise<ScoredCsv> {
  if (csv.records.length === 0) throw new FlowError('csv_invalid', 'the CSV file has a header but no rows');
  const model = await flow.model(modelId);
  const prepared = prepareRows(model, csv);
  const sent: { row: number; input: RawInput }[] = [];
  prepared.rows.forEach((r, row) => {
    if ('input' in r) sent.push({ row, input: r.input });
  });
  if (options.onScorable) {
    // The rows that pass the schema check: those are the ones scored (for a progress bar).
    options.onScorable(
      sent.filter((s) => {
        try {
          flow.toVector(model, s.input);
          return true;
        } catch {
          return false;
        }
      }).length,
    );
  }
  const { onScorable: _unused, ...flowOptions } = options;
  const result = await flow.predictBatch(model.id, sent.map((s) => s.input), { ...flowOptions, rowNumbers: sent.map((s) => s.row + 1) });
  const columns = resultColumns(model);
  const lines: (string | number | undefined)[][] = prepared.rows.map((r, row) => [row + 1, 'error', ...columns.map(() => undefined), 'error' in r ? r.error : '']);
  const rows: BatchRowResult[] = prepared.rows.map((r, row) => ({ row: row + 1, ok: false, ...('error' in r ? { error: r.error } : {}) }));
  sent.forEach((s, i) => {
    const r = result.rows[i]!;
    rows[s.row] = { ...r, row: s.row + 1 };
    if (r.ok) {
      const fields = resultFields(model, r);
      // A result outside the training range is scored, with the warning in the last column.
      const range = r.outsideTraining;
      lines[s.row] = [s.row + 1, 'ok', ...columns.map((c) => fields[c]), range ? `warning: outside the results seen in training (${range.low} to ${range.high})` : ''];
    } else lines[s.row] = [s.row + 1, 'error', ...columns.map(() => undefined), r.error ?? 'not scored'];
  });
  const ok = lines.filter((l) => l[1] === 'ok').length;
  return { model, lines, rows, csv: formatCsv(['row', 'status', ...columns, 'error'], lines), ok, errors: lines.length - ok, ignored: prepared.ignored, result };
}
