import type { FeatureSpec } from '../../he-core/model/format.js';
import type { FeatureMeta, Rows } from '../datasets/types.js';
import { column, mean, median, std } from './linalg.js';

/** Decimal places a value is written with (up to 6), e.g. 0.08474 -> 5. */
export function decimalsOf(v: number): number {
  for (let d = 0; d < 6; d++) {
    const f = 10 ** d;
    if (Math.abs(Math.round(v * f) - v * f) < 1e-6) return d;
  }
  return 6;
}

/** Rounds to `step`, a power of ten, without binary noise like 0.04000000000000001. */
function onGrid(v: number, step: number): number {
  return Number(v.toFixed(Math.max(0, -Math.round(Math.log10(step)))));
}

/**
 * The allowed input range: the observed range over the whole data set widened by 10% each side,
 * snapped outwards to a round step (a tenth of the range's order of magnitude), and never below
 * zero (every tabular input here is a non-negative measurement). Inputs outside it are refused,
 * not clamped, because the model never saw anything like them.
 */
export function allowedRange(values: readonly number[]): [number, number] {
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  const range = hi - lo;
  const step = 10 ** (Math.floor(Math.log10(range)) - 1);
  const min = Math.max(0, onGrid(Math.floor((lo - 0.1 * range) / step) * step, step));
  const max = onGrid(Math.ceil((hi + 0.1 * range) / step) * step, step);
  return [min, max];
}

/** The input schema a clinician fills in: ranges from all rows, the typical value from training rows. */
export function featureSpecs(meta: readonly FeatureMeta[], all: Rows, train: Rows): FeatureSpec[] {
  return meta.map((f, j) => {
    const values = column(all.x, j);
    const decimals = Math.max(...values.map(decimalsOf));
    const [min, max] = f.fixedRange ?? allowedRange(values);
    const typical = Number(median(column(train.x, j)).toFixed(decimals));
    const spec: FeatureSpec = { name: f.name, label: f.label, unit: f.unit, min, max, typical, decimals };
    if (f.type === 'integer') spec.type = 'integer';
    if (f.type === 'categorical') {
      const codes = f.codes ?? [];
      spec.type = 'categorical';
      spec.codes = codes.map((c) => ({ ...c }));
      // The typical value of a coded field is its most frequent code in training, never a median between codes.
      const counts = codes.map((c) => column(train.x, j).filter((v) => v === c.value).length);
      spec.typical = codes[counts.indexOf(Math.max(...counts))]!.value;
    }
    return spec;
  });
}

/** Per-feature training-set mean and (population) standard deviation: the stored preprocess. */
export function standardisation(train: Rows): { mean: number[]; scale: number[] } {
  const d = train.x[0]!.length;
  const means: number[] = [];
  const scales: number[] = [];
  for (let j = 0; j < d; j++) {
    const col = column(train.x, j);
    means.push(mean(col));
    scales.push(std(col));
  }
  return { mean: means, scale: scales };
}
