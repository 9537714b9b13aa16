import { parseNumber, readDatasetText } from './paths.js';
import { SEED, pickRows, split8020 } from './split.js';
import type { FeatureMeta, Rows, TabularDataset } from './types.js';

/** The ten nucleus measurements, in the column order of breast_cancer.rst. */
const MEASURES: { key: string; label: string; unit: string }[] = [
  { key: 'radius', label: 'radius', unit: 'px' },
  { key: 'texture', label: 'texture (SD of grey levels)', unit: 'grey levels' },
  { key: 'perimeter', label: 'perimeter', unit: 'px' },
  { key: 'area', label: 'area', unit: 'px²' },
  { key: 'smoothness', label: 'smoothness', unit: 'unitless' },
  { key: 'compactness', label: 'compactness', unit: 'unitless' },
  { key: 'concavity', label: 'concavity', unit: 'unitless' },
  { key: 'concave_points', label: 'concave points', unit: 'unitless' },
  { key: 'symmetry', label: 'symmetry', unit: 'unitless' },
  { key: 'fractal_dimension', label: 'fractal dimension', unit: 'unitless' },
];

/** Each measure is summarised three ways over the nuclei of one image: mean, standard error, worst. */
const SUMMARIES: { key: string; label: (m: string) => string }[] = [
  { key: 'mean', label: (m) => `Nucleus ${m}, mean` },
  { key: 'se', label: (m) => `Nucleus ${m}, standard error` },
  { key: 'worst', label: (m) => `Nucleus ${m}, worst (mean of 3 largest)` },
];

/** The 30 inputs in file order (field 0 mean radius, 10 radius SE, 20 worst radius). Lengths are image pixels. */
export const BREAST_CANCER_FEATURES: FeatureMeta[] = SUMMARIES.flatMap((s) =>
  MEASURES.map((m) => ({ name: `${m.key}_${s.key}`, label: s.label(m.label), unit: m.unit })),
);

/**
 * Every row of breast_cancer.csv. y = 1 for MALIGNANT (the file's class 0), the class the
 * models predict the probability of.
 */
export function readBreastCancerRows(): Rows {
  const lines = readDatasetText('breast_cancer.csv').trim().split('\n');
  const [rowCount, featureCount] = (lines[0] ?? '').split(',').map((v) => Number(v));
  if (rowCount !== lines.length - 1 || featureCount !== BREAST_CANCER_FEATURES.length) {
    throw new Error('breast_cancer.csv: the header does not match the rows or the 30 features');
  }
  const x: number[][] = [];
  const y: number[] = [];
  lines.slice(1).forEach((line, r) => {
    const cells = line.split(',').map((c) => parseNumber(c, `breast_cancer.csv row ${r + 1}`));
    if (cells.length !== featureCount + 1) throw new Error(`breast_cancer.csv row ${r + 1}: expected ${featureCount + 1} fields`);
    const cls = cells.pop()!;
    if (cls !== 0 && cls !== 1) throw new Error(`breast_cancer.csv row ${r + 1}: class must be 0 or 1`);
    x.push(cells);
    y.push(cls === 0 ? 1 : 0);
  });
  return { x, y };
}

/** Wisconsin Diagnostic Breast Cancer with its fixed 80/20 split (455 train / 114 test). */
export function loadBreastCancer(): TabularDataset {
  const all = readBreastCancerRows();
  const split = split8020(all.y.length, SEED, 'Wisconsin Diagnostic Breast Cancer (breast_cancer.csv)');
  return {
    all,
    train: pickRows(all, split.trainIndices),
    test: pickRows(all, split.testIndices),
    split,
    features: BREAST_CANCER_FEATURES,
  };
}
