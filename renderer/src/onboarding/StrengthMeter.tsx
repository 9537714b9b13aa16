import type { Strength } from './strength.js';

/** A five-step meter; the label and hints are text too, so the meter is not colour alone. */
export function StrengthMeter({ strength, id }: { strength: Strength; id: string }) {
  return (
    <div className="strength" id={id} data-testid="strength">
      <meter className={`strength-meter score-${strength.score}`} min={0} max={4} low={1.5} high={2.5} optimum={4} value={strength.score} aria-label="Passphrase strength" />
      <p className="small" aria-live="polite">
        Strength: <strong data-testid="strength-label">{strength.label}</strong> <span className="muted">(about {strength.bits} bits)</span>
      </p>
      {strength.hints.length > 0 && (
        <ul className="small muted hints">
          {strength.hints.map((h) => (
            <li key={h}>{h}</li>
          ))}
        </ul>
      )}
    </div>
  );
}
