/**
 * A small seeded PRNG (mulberry32) and the helpers built on it. Training never calls
 * Math.random: every split, initialisation and mini-batch order follows from a fixed seed, so
 * `npm run train` writes byte-identical model files on every run.
 */
export type Rng = () => number;

/** mulberry32: 32-bit state, uniform floats in [0, 1). Math.imul keeps it exact on every platform. */
export function mulberry32(seed: number): Rng {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fisher-Yates shuffle of a copy of `items`. */
export function shuffled<T>(items: readonly T[], rng: Rng): T[] {
  const out = items.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    const tmp = out[i]!;
    out[i] = out[j]!;
    out[j] = tmp;
  }
  return out;
}

/** A permutation of 0..n-1. */
export function permutation(n: number, rng: Rng): number[] {
  return shuffled(
    Array.from({ length: n }, (_, i) => i),
    rng,
  );
}

/** Standard normal samples by Box-Muller (one per call; simple beats fast at these sizes). */
export function gaussian(rng: Rng): number {
  // 1 - u keeps the logarithm's argument in (0, 1].
  const u = 1 - rng();
  const v = rng();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}
