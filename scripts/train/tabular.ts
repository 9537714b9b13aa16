import type { FeatureInput, Preprocess } from '../../he-core/model/format.js';
import type { TabularDataset } from '../datasets/types.js';
import { roundPreprocess } from './model-file.js';
import { featureSpecs, standardisation } from './schema.js';

export interface PreparedTabular {
  input: FeatureInput;
  /** Training-set mean and standard deviation per feature, rounded as stored. */
  preprocess: Preprocess;
  /** The training rows standardised with the stored preprocess, exactly what the model will see. */
  zTrain: number[][];
}

export function prepareTabular(data: TabularDataset): PreparedTabular {
  const preprocess = roundPreprocess(standardisation(data.train));
  const zTrain = data.train.x.map((row) => row.map((v, j) => (v - preprocess.mean[j]!) / preprocess.scale[j]!));
  return { input: { kind: 'features', features: featureSpecs(data.features, data.all, data.train) }, preprocess, zTrain };
}
