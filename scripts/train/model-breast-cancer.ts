import type { ModelFile } from '../../he-core/model/format.js';
import type { TabularDataset } from '../datasets/types.js';
import { SEED } from '../datasets/split.js';
import { crossValidateL2, trainLogistic } from './logistic.js';
import type { ModelSpec } from './model-file.js';
import { assembleModel } from './model-file.js';
import { mulberry32, permutation } from './prng.js';
import { BREAST_CANCER_SOURCE } from './sources.js';
import { prepareTabular } from './tabular.js';

/** The parts both breast-cancer models share: same data, split, schema, preprocess and output. */
export function breastCancerCommon(data: TabularDataset): Omit<ModelSpec, 'id' | 'title' | 'description' | 'layers'> & { zTrain: number[][] } {
  const prepared = prepareTabular(data);
  return {
    task: 'binary-classification',
    input: prepared.input,
    preprocess: prepared.preprocess,
    postprocess: { fn: 'sigmoid' },
    output: { labels: ['malignant'], negativeLabel: 'benign', precision: 3 },
    singleLayout: 'vector',
    source: BREAST_CANCER_SOURCE,
    zTrain: prepared.zTrain,
  };
}

/** L2 penalties tried (on the summed log-loss; 1 is scikit-learn's default C = 1). */
const L2_CANDIDATES = [0.1, 0.3, 1, 3, 10, 30];

/** Logistic regression, 30 -> 1: the simplest encrypted model (one multiply depth). */
export function buildBreastCancer(data: TabularDataset): { model: ModelFile; epochs: string } {
  const { zTrain, ...common } = breastCancerCommon(data);
  // The data are nearly separable: unpenalised, the logits would grow without bound. The penalty is
  // chosen by seeded 5-fold cross-validation inside the training rows.
  const newton = { maxIterations: 50, tolerance: 1e-10 };
  const foldOf = new Array<number>(zTrain.length);
  permutation(zTrain.length, mulberry32(SEED + 3)).forEach((row, i) => (foldOf[row] = i % 5));
  const cv = crossValidateL2(zTrain, data.train.y, L2_CANDIDATES, foldOf, newton);
  const fit = trainLogistic(zTrain, data.train.y, { ...newton, l2: cv.l2 });
  const model = assembleModel(
    {
      ...common,
      id: 'breast-cancer',
      title: 'Breast mass: malignant or benign (logistic regression)',
      description:
        'Estimates the probability that a breast mass is malignant from 30 measurements of cell nuclei in a fine-needle aspirate image. ' +
        'A research demonstration trained on 455 cases of the Wisconsin data set; not a diagnostic device.',
      layers: [{ type: 'dense', inputs: zTrain[0]!.length, outputs: 1, weights: [fit.weights], bias: [fit.bias] }],
    },
    data,
  );
  return { model, epochs: `l2 ${cv.l2} by 5-fold CV on the training rows, ${fit.iterations} Newton iterations` };
}
