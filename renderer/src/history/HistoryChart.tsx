import type { HistoryItem, ModelSummary } from '../api/contract.js';
import { formatDate, formatValue } from '../shell/format.js';
import { chartValue } from './describe.js';

const W = 480;
const H = 160;
const PAD = { left: 44, right: 12, top: 12, bottom: 24 };

/** Results of one model over time, oldest on the left. The table below carries the same data as text. */
export function HistoryChart({ items, model }: { items: HistoryItem[]; model: ModelSummary }) {
  const points = items
    .map((item) => ({ item, value: chartValue(item, model) }))
    .filter((p): p is { item: HistoryItem; value: number } => p.value !== null)
    .sort((a, b) => a.item.createdAt.localeCompare(b.item.createdAt) || a.item.id - b.item.id);
  if (points.length === 0) return <p className="muted">No single predictions of this model to chart yet.</p>;
  const probability = model.task === 'binary-classification';
  let lo = probability ? 0 : Math.min(...points.map((p) => p.value));
  let hi = probability ? 1 : Math.max(...points.map((p) => p.value));
  if (hi - lo < 1e-9) {
    lo -= 1;
    hi += 1;
  }
  const x = (i: number) => PAD.left + (points.length === 1 ? (W - PAD.left - PAD.right) / 2 : (i * (W - PAD.left - PAD.right)) / (points.length - 1));
  const y = (v: number) => PAD.top + (1 - (v - lo) / (hi - lo)) * (H - PAD.top - PAD.bottom);
  const path = points.map((p, i) => `${i === 0 ? 'M' : 'L'} ${x(i).toFixed(1)} ${y(p.value).toFixed(1)}`).join(' ');
  const what = probability ? `probability of ${model.outputLabels[0] ?? 'the positive class'}` : `${model.outputLabels[0] ?? 'value'}${model.unit ? ` (${model.unit})` : ''}`;
  return (
    <figure className="history-chart">
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`Chart of ${points.length} results of ${model.title}: ${what}, from ${formatValue(Math.min(...points.map((p) => p.value)), model.precision)} to ${formatValue(Math.max(...points.map((p) => p.value)), model.precision)}.`} data-testid="history-chart">
        <line x1={PAD.left} y1={PAD.top} x2={PAD.left} y2={H - PAD.bottom} className="axis" />
        <line x1={PAD.left} y1={H - PAD.bottom} x2={W - PAD.right} y2={H - PAD.bottom} className="axis" />
        <text x={PAD.left - 6} y={PAD.top + 4} textAnchor="end" className="axis-label">
          {formatValue(hi, probability ? 1 : model.precision)}
        </text>
        <text x={PAD.left - 6} y={H - PAD.bottom} textAnchor="end" className="axis-label">
          {formatValue(lo, probability ? 1 : model.precision)}
        </text>
        <text x={W - PAD.right} y={H - 6} textAnchor="end" className="axis-label">
          newest →
        </text>
        <path d={path} className="chart-line" fill="none" />
        {points.map((p, i) => (
          <circle key={p.item.id} cx={x(i)} cy={y(p.value)} r="4" className="chart-point">
            <title>{`${formatDate(p.item.createdAt)}: ${formatValue(p.value, model.precision)}`}</title>
          </circle>
        ))}
      </svg>
      <figcaption className="small muted">
        {model.title}: {what}, {points.length} result{points.length === 1 ? '' : 's'}.
      </figcaption>
    </figure>
  );
}
