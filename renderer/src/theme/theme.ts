/** Light, dark, or follow the system (prefers-color-scheme); the choice is a display preference only. */
export type ThemeChoice = 'system' | 'light' | 'dark';

const STORAGE_KEY = 'ciphercare.theme';

export function loadTheme(): ThemeChoice {
  try {
    const saved = window.localStorage.getItem(STORAGE_KEY);
    if (saved === 'light' || saved === 'dark' || saved === 'system') return saved;
  } catch {
    // Storage can be disabled; the system preference applies then.
  }
  return 'system';
}

export function applyTheme(choice: ThemeChoice): void {
  const root = document.documentElement;
  if (choice === 'system') root.removeAttribute('data-theme');
  else root.setAttribute('data-theme', choice);
  try {
    window.localStorage.setItem(STORAGE_KEY, choice);
  } catch {
    // Not persisted; it still applies for this session.
  }
}

export function effectiveTheme(choice: ThemeChoice): 'light' | 'dark' {
  if (choice !== 'system') return choice;
  return window.matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}
