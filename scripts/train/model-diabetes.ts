import type { ModelFile } from '../../he-core/model/format.js';
import type { TabularDataset } from '../datasets/types.js';
import { mean, std } from './linalg.js';
import { assembleModel, roundSig } from './model-file.js';
import { trainRidge } from './ridge.js';
import { DIABETES_SOURCE } from './sources.js';
import { prepareTabular } from './tabular.js';

/** Ridge regression on standardised features; the target is standardised too and mapped back in the clear. */
export function buildDiabetes(data: TabularDataset): { model: ModelFile; epochs: string } {
  const prepared = prepareTabular(data);
  // The network predicts the standardised target, so encrypted values stay near +-3 whatever the
  // target's units; postprocess { identity, scale, offset } restores the index after decryption.
  const targetMean = roundSig(mean(data.train.y));
  const targetStd = roundSig(std(data.train.y));
  const t = data.train.y.map((y) => (y - targetMean) / targetStd);
  // A light penalty (l2 = 1 against 354 rows) only steadies the correlated serum columns s1/s2/s4.
  const fit = trainRidge(prepared.zTrain, t, 1);
  const model = assembleModel(
    {
      id: 'diabetes-progression',
      title: 'Diabetes: disease progression after one year',
      description:
        'Predicts a quantitative index of diabetes progression one year after baseline from age, sex, BMI, blood pressure and six blood serum values. ' +
        'A research demonstration trained on 354 patients of the Efron et al. (2004) data set; not for clinical decisions.',
      task: 'regression',
      input: prepared.input,
      preprocess: prepared.preprocess,
      layers: [{ type: 'dense', inputs: prepared.zTrain[0]!.length, outputs: 1, weights: [fit.weights], bias: [fit.bias] }],
      postprocess: { fn: 'identity', scale: targetStd, offset: targetMean },
      output: { labels: ['disease progression'], unit: 'index (one year)', precision: 1 },
      singleLayout: 'vector',
      source: DIABETES_SOURCE,
    },
    data,
  );
  return { model, epochs: 'closed form (one linear solve)' };
}
