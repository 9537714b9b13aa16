// The probability that an attack on one prediction stays undetected by the known-answer checks
// (checks.ts), per placement of the checks. docs/SECURITY.md, "A dishonest provider", tabulates
// these for every bundled model and mode; tests/client/check-odds.test.ts compares them with
// simulated trials over the real request layouts.

/** Where a prediction's checks travel. */
export type Placement = 'replicas' | 'slots' | 'requests';

export type Attack =
  /** The provider evaluates other weights (every answer it returns is the tampered model's). */
  | 'tampered-model'
  /** An earlier answer of the same session given for a new request. */
  | 'replay-session'
  /** An answer of an earlier session (same vault, same keys) given for a new request. */
  | 'replay-earlier-session'
  /** The real answer exchanged with a check's (separate requests: two answers swapped; replicas: the answer rotated; batch: two requests' answers exchanged). */
  | 'swap'
  /** Separate requests only: one of the answers replaced (by an earlier or a wrong one), the provider's best blind guess at the real one. */
  | 'replace-one'
  /** Replicas: every slot moved except those the provider guesses hold checks; batch: one slot altered. */
  | 'alter-part';

export interface CheckShape {
  placement: Placement;
  /** Check samples: check blocks (replicas), check slots per request (slots), check requests (requests). */
  checks: number;
  /** Replicas: input blocks in the ciphertext, and the two-block runs the checks take (checks = 2 × runs). */
  blocks?: number;
  runs?: number;
  /** Slots: real rows in the request. */
  rows?: number;
}

/**
 * Collision rates of one check sample, measured on the plaintext reference over fresh check
 * inputs: `replay`, the probability that an unrelated answer (another fresh input's) lies within
 * the check's tolerance of its known answer; `tampered`, that the tampered model's answer does.
 * A rate of zero observed in n pairs is taken as its 95% upper bound 3 / n (the rule of three).
 */
export interface Collisions {
  replay: number;
  tampered: number;
}

function binomial(n: number, k: number): number {
  let r = 1;
  for (let i = 1; i <= k; i++) r = (r * (n - k + i)) / i;
  return r;
}

/** Computed probability that `attack` stays undetected in one prediction; null where the placement does not allow it. */
export function undetected(attack: Attack, shape: CheckShape, q: Collisions): number | null {
  const k = shape.checks;
  switch (shape.placement) {
    case 'replicas':
      // One ciphertext, k fresh check samples at positions the provider cannot see; each must
      // match for the answer to pass. Swap = rotating the answer (the only way to move outputs).
      if (attack === 'tampered-model') return q.tampered ** k;
      if (attack === 'replay-session' || attack === 'replay-earlier-session' || attack === 'swap') return q.replay ** k;
      // The provider must guess the check blocks exactly: runs at distinct pair positions, one common offset.
      if (attack === 'alter-part') return 1 / (2 * binomial(shape.blocks! / 2, shape.runs!));
      return null;
    case 'slots':
      if (attack === 'tampered-model') return q.tampered ** k;
      if (attack === 'replay-session' || attack === 'replay-earlier-session' || attack === 'swap') return q.replay ** k;
      // One slot of the n + k used altered: it is a real row with probability n / (n + k).
      if (attack === 'alter-part') return shape.rows! / (shape.rows! + k);
      return null;
    case 'requests':
      if (attack === 'tampered-model') return q.tampered ** k;
      // Every answer of an earlier prediction replayed: each check must collide.
      if (attack === 'replay-session' || attack === 'replay-earlier-session') return q.replay ** k;
      // Two answers exchanged: with one real request, a check always receives another's answer.
      if (attack === 'swap') return q.replay;
      // One answer replaced: undetected only if it is the real one (1 in k + 1).
      if (attack === 'replace-one') return 1 / (k + 1);
      return null;
  }
}

export const ATTACKS: readonly Attack[] = ['tampered-model', 'replay-session', 'replay-earlier-session', 'swap', 'replace-one', 'alter-part'];
