import { useEffect, useState } from 'react';
import { applyTheme, effectiveTheme, loadTheme } from './theme.js';
import type { ThemeChoice } from './theme.js';

const NEXT: Record<ThemeChoice, ThemeChoice> = { system: 'light', light: 'dark', dark: 'system' };
const LABEL: Record<ThemeChoice, string> = { system: 'System', light: 'Light', dark: 'Dark' };

/** Cycles system → light → dark; the button says what is in effect and what a press does. */
export function ThemeToggle() {
  const [choice, setChoice] = useState<ThemeChoice>(loadTheme);
  useEffect(() => applyTheme(choice), [choice]);
  const next = NEXT[choice];
  return (
    <button type="button" className="button ghost theme-toggle" onClick={() => setChoice(next)} aria-label={`Theme: ${LABEL[choice]} (${effectiveTheme(choice)}). Switch to ${LABEL[next]}.`} data-testid="theme-toggle">
      <span aria-hidden="true">{effectiveTheme(choice) === 'dark' ? '☾' : '☀'}</span> {LABEL[choice]}
    </button>
  );
}
