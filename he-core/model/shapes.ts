import { HeError } from '../errors.js';
import type { Conv2dLayer, Layer, ModelInput } from './format.js';

/** Tensor shape as the layers see it: [n] for vectors, [c, h, w] for images. */
export type Shape = readonly number[];

export function inputShape(input: ModelInput): Shape {
  return input.kind === 'features' ? [input.features.length] : [input.channels, input.height, input.width];
}

export function shapeSize(shape: Shape): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** A conv2d layer's zero padding [rows, columns] on each side: [0, 0] when absent. */
export function convPadding(layer: Conv2dLayer): [number, number] {
  return layer.padding ?? [0, 0];
}

/** The output shape of a layer, or a model_invalid error naming the layer and what does not fit. */
export function layerOutputShape(layer: Layer, shape: Shape, index: number): Shape {
  const where = `layer ${index} (${layer.type})`;
  switch (layer.type) {
    case 'dense': {
      if (shapeSize(shape) !== layer.inputs) {
        throw new HeError('model_invalid', `${where} expects ${layer.inputs} inputs but receives ${shapeSize(shape)}`);
      }
      return [layer.outputs];
    }
    case 'conv2d':
    case 'avgpool2d': {
      if (shape.length !== 3) throw new HeError('model_invalid', `${where} needs a [channels, height, width] input`);
      const [c, h, w] = shape as [number, number, number];
      const [kh, kw] = layer.kernel;
      const [sh, sw] = layer.stride;
      const [ph, pw] = layer.type === 'conv2d' ? convPadding(layer) : [0, 0];
      if (kh < 1 || kw < 1 || sh < 1 || sw < 1 || kh > h + 2 * ph || kw > w + 2 * pw) {
        throw new HeError('model_invalid', `${where} has a kernel or stride that does not fit a ${h}x${w} input${ph || pw ? ` padded by ${ph}x${pw}` : ''}`);
      }
      const oh = Math.floor((h + 2 * ph - kh) / sh) + 1;
      const ow = Math.floor((w + 2 * pw - kw) / sw) + 1;
      if (layer.type === 'conv2d') {
        if (layer.inChannels !== c) throw new HeError('model_invalid', `${where} expects ${layer.inChannels} channels but receives ${c}`);
        return [layer.outChannels, oh, ow];
      }
      return [c, oh, ow];
    }
    case 'flatten':
      return [shapeSize(shape)];
    case 'activation':
      return shape;
  }
}
