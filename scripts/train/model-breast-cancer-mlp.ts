import type { ModelFile } from '../../he-core/model/format.js';
import type { TabularDataset } from '../datasets/types.js';
import { assembleModel } from './model-file.js';
import { breastCancerCommon } from './model-breast-cancer.js';
import { trainSquareMlp } from './mlp.js';
import type { MlpOptions } from './mlp.js';
import { SEED } from '../datasets/split.js';

/**
 * The training recipe of the bundled model. The penalties were picked among a few settings for the
 * smallest value bounds (values entering the square within about +-4, logits within about +-20 on
 * the training rows) without losing accuracy; weaker ones fit the 455 rows perfectly and overfit.
 */
export const BREAST_CANCER_MLP_TRAINING: MlpOptions = {
  hidden: 16,
  epochs: 150,
  batchSize: 32,
  learningRate: 0.01,
  l2: 1e-2,
  activationPenalty: 0.3,
  seed: SEED + 1,
};

/** 30 -> dense 16 -> square -> dense 1: a small network with one encrypted non-linearity. */
export function buildBreastCancerMlp(data: TabularDataset, recipe: MlpOptions = BREAST_CANCER_MLP_TRAINING): { model: ModelFile; epochs: string } {
  const { zTrain, ...common } = breastCancerCommon(data);
  const d = zTrain[0]!.length;
  const fit = trainSquareMlp(zTrain, data.train.y, recipe);
  const model = assembleModel(
    {
      ...common,
      id: 'breast-cancer-mlp',
      title: 'Breast mass: malignant or benign (small neural network)',
      description:
        'Estimates the probability that a breast mass is malignant from 30 measurements of cell nuclei in a fine-needle aspirate image, ' +
        'with a small neural network. A research demonstration trained on 455 cases of the Wisconsin data set; not a diagnostic device.',
      layers: [
        { type: 'dense', inputs: d, outputs: recipe.hidden, weights: fit.w1, bias: fit.b1 },
        { type: 'activation', fn: 'square' },
        { type: 'dense', inputs: recipe.hidden, outputs: 1, weights: [fit.w2], bias: [fit.b2] },
      ],
    },
    data,
  );
  return { model, epochs: `${recipe.epochs} epochs (Adam, batch ${recipe.batchSize})` };
}
