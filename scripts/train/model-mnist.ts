import type { ModelFile } from '../../he-core/model/format.js';
import { SEED } from '../datasets/split.js';
import type { SplitDataset } from '../datasets/types.js';
import { CHANNELS, CLASSES, HIDDEN, KERNEL, SIDE, STRIDE, trainCnn } from './cnn.js';
import type { CnnOptions } from './cnn.js';
import { assembleModel, roundSig } from './model-file.js';
import { MNIST_SOURCE } from './sources.js';

/**
 * The training recipe of the bundled model. The penalties were picked among a few settings for the
 * smallest value bounds (values entering each square within about +-4, logits within about +-16 on
 * the training rows) at no cost in accuracy.
 */
export const MNIST_TRAINING: CnnOptions = {
  epochs: 30,
  batchSize: 64,
  learningRate: 0.003,
  l2: 3e-4,
  activationPenalty: 0.1,
  logitPenalty: 0.01,
  maxShift: 1,
  seed: SEED + 2,
};

/** Training-set mean and standard deviation over every pixel (one value for the whole image). */
function pixelStats(x: readonly (readonly number[])[]): { mean: number; std: number } {
  let sum = 0;
  for (const image of x) for (const v of image) sum += v;
  const count = x.length * x[0]!.length;
  const mean = sum / count;
  let sq = 0;
  for (const image of x) for (const v of image) sq += (v - mean) * (v - mean);
  return { mean, std: Math.sqrt(sq / count) };
}

export function buildMnist(
  data: SplitDataset,
  log: (line: string) => void = () => {},
  recipe: CnnOptions = MNIST_TRAINING,
): { model: ModelFile; epochs: string } {
  const stats = pixelStats(data.train.x);
  const m = roundSig(stats.mean);
  const s = roundSig(stats.std);
  const images = data.train.x.map((image) => Float64Array.from(image, (v) => (v - m) / s));
  const fit = trainCnn(images, data.train.y, (0 - m) / s, {
    ...recipe,
    onEpoch: (epoch, loss, acc) => log(`  epoch ${epoch}: loss ${loss.toFixed(4)}, train accuracy ${(acc * 100).toFixed(2)}%`),
  });
  const model = assembleModel(
    {
      id: 'mnist-cnn',
      title: 'Handwritten digit recognition (MNIST)',
      description:
        'Recognises a single handwritten digit (0 to 9) in a 28x28 grey-level image, with a small convolutional network. ' +
        'The classic encrypted-inference benchmark, included to show image models; not a medical model.',
      task: 'multiclass-classification',
      input: {
        kind: 'image',
        channels: 1,
        height: SIDE,
        width: SIDE,
        min: 0,
        max: 1,
        description: 'A 28x28 grey-level image of one centred handwritten digit, row by row: 0 = background (black), 1 = ink (white), as in MNIST.',
      },
      preprocess: { mean: [m], scale: [s] },
      layers: [
        {
          type: 'conv2d',
          inChannels: 1,
          outChannels: CHANNELS,
          kernel: [KERNEL, KERNEL],
          stride: [STRIDE, STRIDE],
          weights: fit.conv,
          bias: fit.convBias,
        },
        { type: 'activation', fn: 'square' },
        { type: 'flatten' },
        { type: 'dense', inputs: fit.dense1[0]!.length, outputs: HIDDEN, weights: fit.dense1, bias: fit.dense1Bias },
        { type: 'activation', fn: 'square' },
        { type: 'dense', inputs: HIDDEN, outputs: CLASSES, weights: fit.dense2, bias: fit.dense2Bias },
      ],
      postprocess: { fn: 'softmax' },
      output: { labels: Array.from({ length: CLASSES }, (_, i) => String(i)), precision: 3 },
      singleLayout: 'im2col',
      source: MNIST_SOURCE,
    },
    data,
  );
  return { model, epochs: `${recipe.epochs} epochs (Adam, batch ${recipe.batchSize}, +-${recipe.maxShift} px shifts)` };
}
