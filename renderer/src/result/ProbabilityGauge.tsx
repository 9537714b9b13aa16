import { formatPercent, formatValue } from '../shell/format.js';

/** A half-circle gauge; the number is always shown in text beside it, so the arc is never the only carrier. */
export function ProbabilityGauge({ probability, precision, label }: { probability: number; precision: number; label: string }) {
  const p = Math.min(1, Math.max(0, probability));
  const r = 80;
  const angle = Math.PI * (1 - p);
  const x = 100 + r * Math.cos(angle);
  const y = 100 - r * Math.sin(angle);
  return (
    <div className="gauge">
      <svg viewBox="0 0 200 115" width="220" height="127" role="img" aria-label={`Probability of ${label}: ${formatPercent(p)}`}>
        <path d="M 20 100 A 80 80 0 0 1 180 100" className="gauge-track" fill="none" strokeWidth="18" strokeLinecap="round" />
        {p > 0 && <path d={`M 20 100 A 80 80 0 0 1 ${x.toFixed(2)} ${y.toFixed(2)}`} className="gauge-fill" fill="none" strokeWidth="18" strokeLinecap="round" />}
        <text x="100" y="95" textAnchor="middle" className="gauge-text">
          {formatPercent(p)}
        </text>
      </svg>
      <p className="result-number">
        Probability of {label}: <strong data-testid="result-value">{formatValue(probability, precision)}</strong>
      </p>
    </div>
  );
}
