/**
 * A rough passphrase strength estimate for the meter: character-pool entropy with penalties for
 * the patterns guessers try first (repeats, runs, common words). It guides; it does not enforce
 * more than a floor.
 */
export interface Strength {
  /** 0 very weak … 4 very strong. */
  score: 0 | 1 | 2 | 3 | 4;
  label: string;
  bits: number;
  hints: string[];
}

const COMMON = ['password', 'passwort', 'qwerty', 'azerty', 'letmein', 'welcome', 'admin', 'iloveyou', 'monkey', 'dragon', 'secret', 'ciphercare', 'abc123', '123456', 'football', 'baseball', 'sunshine', 'princess'];
const LABELS = ['Very weak', 'Weak', 'Fair', 'Strong', 'Very strong'] as const;
const SEQUENCES = ['abcdefghijklmnopqrstuvwxyz', '0123456789', 'qwertyuiopasdfghjklzxcvbnm'];

/** The minimum the onboarding accepts: long enough that an offline guess of the vault file is costly. */
export const MIN_LENGTH = 10;
export const MIN_SCORE = 2;

function poolSize(p: string): number {
  let pool = 0;
  if (/[a-z]/.test(p)) pool += 26;
  if (/[A-Z]/.test(p)) pool += 26;
  if (/[0-9]/.test(p)) pool += 10;
  if (/[^a-zA-Z0-9\s]/.test(p)) pool += 33;
  if (/\s/.test(p)) pool += 1;
  if (/[^\x00-\x7f]/.test(p)) pool += 100;
  return Math.max(pool, 1);
}

/** Characters that add little: the same as, or one step on from, the previous one. */
function predictableChars(p: string): number {
  const lower = p.toLowerCase();
  let n = 0;
  for (let i = 1; i < lower.length; i++) {
    const prev = lower[i - 1]!;
    const cur = lower[i]!;
    if (cur === prev) n++;
    else if (SEQUENCES.some((s) => s.includes(prev + cur))) n++;
  }
  return n;
}

export function passphraseStrength(passphrase: string): Strength {
  const hints: string[] = [];
  if (passphrase.length === 0) return { score: 0, label: LABELS[0], bits: 0, hints: [`Use at least ${MIN_LENGTH} characters; several unrelated words work well.`] };
  const perChar = Math.log2(poolSize(passphrase));
  const effective = passphrase.length - predictableChars(passphrase) * 0.75;
  let bits = effective * perChar;
  const lower = passphrase.toLowerCase();
  const common = COMMON.filter((w) => lower.includes(w));
  if (common.length > 0) {
    bits -= common.reduce((sum, w) => sum + w.length, 0) * perChar * 0.8;
    hints.push('Avoid common words and passwords such as "' + common[0] + '".');
  }
  if (new Set(lower).size <= Math.max(2, passphrase.length / 4)) {
    bits *= 0.5;
    hints.push('Use more different characters.');
  }
  bits = Math.max(0, bits);
  if (passphrase.length < MIN_LENGTH) hints.push(`Use at least ${MIN_LENGTH} characters.`);
  if (passphrase.length < 16 && !/\s/.test(passphrase)) hints.push('A few unrelated words separated by spaces are easy to remember and hard to guess.');
  const raw: Strength['score'] = bits < 30 ? 0 : bits < 45 ? 1 : bits < 60 ? 2 : bits < 80 ? 3 : 4;
  // Too short is weak, however varied: the vault file can be attacked offline.
  const score: Strength['score'] = passphrase.length < MIN_LENGTH && raw > 1 ? 1 : raw;
  return { score, label: LABELS[score], bits: Math.round(bits), hints };
}

export function acceptable(strength: Strength, passphrase: string): boolean {
  return passphrase.length >= MIN_LENGTH && strength.score >= MIN_SCORE;
}
