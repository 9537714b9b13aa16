import type { IrLinear } from './lower.js';

export function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/** Baby-step count for k diagonals: the power of two nearest above sqrt(k). */
export function babySteps(k: number): number {
  return Math.min(nextPow2(Math.ceil(Math.sqrt(k))), nextPow2(k));
}

export interface DiagonalForm {
  unit: number;
  /** Diagonal d at index d (rotation by unit * d), full slot vectors; null when zero. */
  diagonals: (Float64Array | null)[];
  blockSums: number[];
  outPeriod: number;
}

/**
 * Hybrid diagonal method (Halevi-Shoup) for a rows x cols matrix on an input repeated with period
 * `inPeriod`: M = nextPow2(rows) diagonals, then log2(P/M) rotate-and-adds. The output repeats with
 * period M in every slot, so the next layer can rotate it cyclically without repacking.
 */
export function hybridDiagonals(op: IrLinear, inPeriod: number, slots: number): DiagonalForm {
  const m = nextPow2(op.rows);
  const period = Math.max(inPeriod, m);
  const diagonals: (Float64Array | null)[] = [];
  for (let i = 0; i < m; i++) {
    const d = new Float64Array(slots);
    let nonzero = false;
    for (let j = 0; j < period; j++) {
      const row = j % m;
      const col = (j + i) % period;
      // Columns beyond the input's first copy are zero: the input is only `inPeriod`-periodic.
      if (row < op.rows && col < op.cols && col < inPeriod) {
        const v = op.matrix[row * op.cols + col]!;
        if (v !== 0) {
          nonzero = true;
          for (let rep = j; rep < slots; rep += period) d[rep] = v;
        }
      }
    }
    diagonals.push(nonzero ? d : null);
  }
  const blockSums: number[] = [];
  for (let t = m; t < period; t *= 2) blockSums.push(t);
  return { unit: 1, diagonals, blockSums, outPeriod: m };
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/**
 * Generic diagonal method for an input laid out by an explicit slot map (each logical input at one
 * slot): the output repeats with period nextPow2(rows) across all slots. Only the non-zero
 * diagonals count; they are indexed in units of their greatest common divisor.
 */
export function genericDiagonals(op: IrLinear, inputSlot: (col: number) => number, slots: number): DiagonalForm {
  const outPeriod = nextPow2(op.rows);
  const byIndex = new Map<number, Float64Array>();
  for (let j = 0; j < slots; j++) {
    const row = j % outPeriod;
    if (row >= op.rows) continue;
    for (let col = 0; col < op.cols; col++) {
      const v = op.matrix[row * op.cols + col]!;
      if (v === 0) continue;
      const i = (((inputSlot(col) - j) % slots) + slots) % slots;
      let d = byIndex.get(i);
      if (!d) {
        d = new Float64Array(slots);
        byIndex.set(i, d);
      }
      d[j]! += v;
    }
  }
  let unit = slots;
  for (const i of byIndex.keys()) unit = gcd(unit, i);
  const count = Math.max(0, ...[...byIndex.keys()].map((i) => i / unit)) + 1;
  const diagonals: (Float64Array | null)[] = Array.from({ length: count }, (_, k) => byIndex.get(k * unit) ?? null);
  return { unit, diagonals, blockSums: [], outPeriod };
}

/** rot(v, -shift): what a diagonal must be pre-rotated by for the giant step that will rotate it by `shift`. */
export function rotateSlots(v: Float64Array, shift: number): Float64Array {
  const n = v.length;
  const out = new Float64Array(n);
  const s = ((shift % n) + n) % n;
  // rot(v, s)[j] = v[j + s]: a left rotation, as SEAL's rotate_vector with a positive step.
  for (let j = 0; j < n; j++) out[j] = v[(j + s) % n]!;
  return out;
}
