import { parseNumber, readDatasetText } from './paths.js';
import { SEED, pickRows, split8020 } from './split.js';
import type { FeatureMeta, Rows, TabularDataset } from './types.js';

/**
 * The ten baseline variables of diabetes_data_raw.txt in file order (see diabetes.rst). The
 * source names the serum columns only (tc, ldl, hdl, tch, ltg, glu); the units are those the value
 * ranges match (US conventional units). The source does not say which sex code is which.
 */
export const DIABETES_FEATURES: FeatureMeta[] = [
  { name: 'age', label: 'Age', unit: 'years', type: 'integer' },
  {
    name: 'sex',
    label: 'Sex (coded 1 or 2 as in the source data)',
    unit: 'code',
    fixedRange: [1, 2],
    type: 'categorical',
    codes: [
      { value: 1, label: 'code 1' },
      { value: 2, label: 'code 2' },
    ],
  },
  { name: 'bmi', label: 'Body mass index', unit: 'kg/m²' },
  { name: 'blood_pressure', label: 'Average blood pressure', unit: 'mmHg' },
  { name: 'total_cholesterol', label: 'Total serum cholesterol', unit: 'mg/dL' },
  { name: 'ldl', label: 'LDL cholesterol', unit: 'mg/dL' },
  { name: 'hdl', label: 'HDL cholesterol', unit: 'mg/dL' },
  { name: 'tc_hdl_ratio', label: 'Total cholesterol / HDL ratio', unit: 'ratio' },
  { name: 'log_triglycerides', label: 'Serum triglycerides, natural log', unit: 'ln(mg/dL)' },
  { name: 'glucose', label: 'Blood glucose', unit: 'mg/dL' },
];

function readColumns(file: string, columns: number): number[][] {
  return readDatasetText(file)
    .trim()
    .split('\n')
    .map((line, r) => {
      const cells = line.trim().split(/\s+/).map((c) => parseNumber(c, `${file} row ${r + 1}`));
      if (cells.length !== columns) throw new Error(`${file} row ${r + 1}: expected ${columns} fields`);
      return cells;
    });
}

/** Every row: raw clinical features and the disease-progression index one year later. */
export function readDiabetesRows(): Rows {
  const x = readColumns('diabetes_data_raw.txt', DIABETES_FEATURES.length);
  const y = readColumns('diabetes_target.txt', 1).map((row) => row[0]!);
  if (x.length !== y.length) throw new Error('diabetes_data_raw.txt and diabetes_target.txt differ in row count');
  return { x, y };
}

/** Diabetes progression with its fixed 80/20 split (354 train / 88 test). */
export function loadDiabetes(): TabularDataset {
  const all = readDiabetesRows();
  const split = split8020(all.y.length, SEED, 'Diabetes progression (diabetes_data_raw.txt, diabetes_target.txt)');
  return {
    all,
    train: pickRows(all, split.trainIndices),
    test: pickRows(all, split.testIndices),
    split,
    features: DIABETES_FEATURES,
  };
}
