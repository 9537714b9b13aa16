import type { HistoryItem, ModelSummary } from '../api/contract.js';
import { formatValue } from '../shell/format.js';

/** A stored single result, as the client core writes it; anything else is shown raw. */
export interface StoredResult {
  values: number[];
  classIndex?: number;
  label?: string;
}

function isNumberArray(v: unknown): v is number[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'number');
}

export function singleResult(item: HistoryItem): StoredResult | null {
  const r = item.result as { values?: unknown; classIndex?: unknown; label?: unknown } | null;
  if (!r || typeof r !== 'object' || !isNumberArray(r.values)) return null;
  const out: StoredResult = { values: r.values };
  if (typeof r.classIndex === 'number') out.classIndex = r.classIndex;
  if (typeof r.label === 'string') out.label = r.label;
  return out;
}

export function batchRows(item: HistoryItem): { ok: boolean }[] | null {
  const r = item.result as { rows?: unknown } | null;
  if (!r || typeof r !== 'object' || !Array.isArray(r.rows)) return null;
  return r.rows.map((row: unknown) => ({ ok: typeof row === 'object' && row !== null && (row as { ok?: unknown }).ok === true }));
}

export function resultSummary(item: HistoryItem, model: ModelSummary | undefined): string {
  const rows = batchRows(item);
  if (rows) {
    const ok = rows.filter((r) => r.ok).length;
    return `Batch: ${ok} scored, ${rows.length - ok} failed`;
  }
  const r = singleResult(item);
  if (!r) return 'Unrecognised result';
  const precision = model?.precision ?? 3;
  if (model?.task === 'regression') return `${formatValue(r.values[0] ?? 0, precision)} ${model.unit ?? ''}`.trim();
  if (model?.task === 'multiclass-classification') {
    const p = r.classIndex !== undefined ? r.values[r.classIndex] : Math.max(...r.values);
    return `${r.label ?? '?'} (probability ${formatValue(p ?? 0, precision)})`;
  }
  const probability = `probability${model?.outputLabels[0] ? ` of ${model.outputLabels[0]}` : ''} ${formatValue(r.values[0] ?? 0, precision)}`;
  return r.label ? `${r.label} (${probability})` : probability;
}

export function inputSummary(item: HistoryItem, model: ModelSummary | undefined): string {
  const input = item.input as Record<string, unknown> | null;
  if (!input || typeof input !== 'object') return '–';
  if (typeof input.batch === 'number') return `${input.batch} rows from a CSV file`;
  if (Array.isArray(input.pixels)) return `${input.pixels.length}-pixel image`;
  const entries = Object.entries(input).filter(([, v]) => typeof v === 'number') as [string, number][];
  if (model?.input.kind === 'features') {
    const labels = new Map(model.input.features.map((f) => [f.name, f]));
    const shown = entries.slice(0, 3).map(([k, v]) => `${labels.get(k)?.label ?? k} ${v}${labels.get(k)?.unit ? ` ${labels.get(k)!.unit}` : ''}`);
    return `${shown.join('; ')}${entries.length > 3 ? `; and ${entries.length - 3} more` : ''}`;
  }
  return `${entries.length} values`;
}

/** The number a chart plots for one single result: the probability, or the value. */
export function chartValue(item: HistoryItem, model: ModelSummary): number | null {
  if (model.task === 'multiclass-classification') return null;
  const r = singleResult(item);
  return r && typeof r.values[0] === 'number' ? r.values[0] : null;
}
