import type { FeatureField } from '../api/contract.js';

/** A CSV with the header the batch run expects and one row of typical values, to start from. */
export function templateCsv(features: FeatureField[]): string {
  return `${features.map((f) => f.name).join(',')}\n${features.map((f) => String(f.typical)).join(',')}\n`;
}
