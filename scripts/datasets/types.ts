/** The shapes every dataset loader returns, so that trainers and tests treat them alike. */

/** Rows of raw inputs (in the units the model's users type) and their targets. */
export interface Rows {
  x: number[][];
  y: number[];
}

/** How the fixed train/test split was made, as written into each model file's `metrics`. */
export interface SplitInfo {
  seed: number;
  description: string;
  /** Row numbers in the source file order; disjoint, together covering every row. */
  trainIndices: number[];
  testIndices: number[];
}

/** One tabular input column: what a clinician sees. Ranges are derived from the data by the trainer. */
export interface FeatureMeta {
  /** snake_case identifier. */
  name: string;
  label: string;
  unit: string;
  /** A fixed allowed range for coded values (e.g. sex 1/2) instead of one derived from the data. */
  fixedRange?: [number, number];
  /** 'integer' for whole-number fields (age in years); 'categorical' with `codes` for coded ones. */
  type?: 'integer' | 'categorical';
  /** The codes of a categorical field and what each means. */
  codes?: { value: number; label: string }[];
}

export interface SplitDataset {
  /** Every row in the source file order (for input ranges: the whole data set). */
  all: Rows;
  train: Rows;
  test: Rows;
  split: SplitInfo;
}

export interface TabularDataset extends SplitDataset {
  features: FeatureMeta[];
}
