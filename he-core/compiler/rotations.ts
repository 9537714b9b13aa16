import { HeError } from '../errors.js';

/** A rotation the evaluation performs: its amount (left, in slots), the level it runs at, how often. */
export interface RotationUse {
  amount: number;
  level: number;
  count: number;
}

export interface RotationKeyChoice {
  /** The Galois steps to make keys for. */
  steps: number[];
  /** For each amount used, the key steps that compose it (in order). */
  paths: Record<number, number[]>;
}

/** Key switching cost grows with the number of primes the ciphertext carries. */
function levelCost(level: number): number {
  return (level + 1) * (level + 2);
}

/** Shortest compositions of every amount mod `slots` from the given key steps (breadth-first). */
function compositions(keys: number[], slots: number): { dist: Int32Array; via: Int32Array } {
  const dist = new Int32Array(slots).fill(-1);
  const via = new Int32Array(slots).fill(-1);
  dist[0] = 0;
  const queue = new Int32Array(slots);
  let head = 0;
  let tail = 0;
  queue[tail++] = 0;
  while (head < tail) {
    const at = queue[head++]!;
    for (const k of keys) {
      const next = (at + k) % slots;
      if (dist[next] === -1) {
        dist[next] = dist[at]! + 1;
        via[next] = k;
        queue[tail++] = next;
      }
    }
  }
  return { dist, via };
}

function cost(uses: RotationUse[], keys: number[], slots: number): number {
  const { dist } = compositions(keys, slots);
  let total = 0;
  for (const u of uses) {
    const d = dist[u.amount]!;
    if (d < 0) return Infinity;
    total += d * u.count * levelCost(u.level);
  }
  return total;
}

/**
 * Chooses the Galois keys: exactly the amounts used when they fit in `maxKeys`; otherwise drops,
 * one at a time, the key whose loss adds the least rotation work (amounts are then composed).
 */
export function chooseRotationKeys(uses: RotationUse[], slots: number, maxKeys: number): RotationKeyChoice {
  const normalised = uses.map((u) => ({ ...u, amount: ((u.amount % slots) + slots) % slots })).filter((u) => u.amount !== 0);
  let keys = [...new Set(normalised.map((u) => u.amount))].sort((a, b) => a - b);
  while (keys.length > Math.max(1, maxKeys)) {
    let best: { keys: number[]; cost: number } | undefined;
    for (const drop of keys) {
      const candidate = keys.filter((k) => k !== drop);
      const c = cost(normalised, candidate, slots);
      if (!best || c < best.cost) best = { keys: candidate, cost: c };
    }
    if (!best || best.cost === Infinity) break;
    keys = best.keys;
  }
  const { dist, via } = compositions(keys, slots);
  const paths: Record<number, number[]> = {};
  for (const u of normalised) {
    if (paths[u.amount]) continue;
    if (dist[u.amount]! < 0) throw new HeError('params_unsatisfiable', `rotation by ${u.amount} cannot be composed from the chosen keys`);
    const path: number[] = [];
    for (let at = u.amount; at !== 0; at = (at - via[at]! + slots) % slots) path.push(via[at]!);
    paths[u.amount] = path.reverse();
  }
  return { steps: keys, paths };
}
