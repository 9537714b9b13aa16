import { useEffect, useState } from 'react';
import type { Strength } from './strength.js';

/** How long typing must pause before the strength is announced (once, not on every keystroke). */
export const STRENGTH_PAUSE_MS = 800;

/**
 * A five-step meter; the label and hints are text too, so the meter is not colour alone. The visible
 * label follows every keystroke; a screen reader hears the strength when typing pauses, and only
 * when it changed.
 */
export function StrengthMeter({ strength, id }: { strength: Strength; id: string }) {
  const [spoken, setSpoken] = useState('');
  const { label, bits } = strength;
  const firstHint = strength.hints[0] ?? '';
  useEffect(() => {
    const timer = setTimeout(() => setSpoken(bits > 0 ? `Passphrase strength: ${label}.${firstHint ? ` ${firstHint}` : ''}` : ''), STRENGTH_PAUSE_MS);
    return () => clearTimeout(timer);
  }, [label, bits, firstHint]);
  return (
    <>
      <div className="strength" id={id} data-testid="strength">
        <meter className={`strength-meter score-${strength.score}`} min={0} max={4} low={1.5} high={2.5} optimum={4} value={strength.score} aria-label="Passphrase strength" />
        <p className="small">
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
      {/* Outside the meter, which describes the field: the announcement is not part of the description. */}
      <p className="sr-only" role="status" aria-live="polite" aria-atomic="true" data-testid="strength-announcer">
        {spoken}
      </p>
    </>
  );
}
