import type { Layer, ModelFile, Postprocess } from './format.js';
import { convPadding, inputShape, layerOutputShape } from './shapes.js';
import type { Shape } from './shapes.js';
import { preprocess } from './input.js';

/** Applies one layer in float64. `x` is the flattened tensor of shape `shape` (channel-major). */
export function applyLayer(layer: Layer, x: Float64Array, shape: Shape, index: number): Float64Array {
  const outShape = layerOutputShape(layer, shape, index);
  switch (layer.type) {
    case 'dense': {
      const y = new Float64Array(layer.outputs);
      for (let r = 0; r < layer.outputs; r++) {
        const row = layer.weights[r]!;
        let acc = layer.bias[r]!;
        for (let c = 0; c < layer.inputs; c++) acc += row[c]! * x[c]!;
        y[r] = acc;
      }
      return y;
    }
    case 'conv2d': {
      const [, h, w] = shape as [number, number, number];
      const [, oh, ow] = outShape as [number, number, number];
      const [kh, kw] = layer.kernel;
      const [sh, sw] = layer.stride;
      const [ph, pw] = convPadding(layer);
      const y = new Float64Array(layer.outChannels * oh * ow);
      for (let o = 0; o < layer.outChannels; o++) {
        for (let oy = 0; oy < oh; oy++) {
          for (let ox = 0; ox < ow; ox++) {
            let acc = layer.bias[o]!;
            for (let c = 0; c < layer.inChannels; c++) {
              const kernel = layer.weights[o]![c]!;
              for (let ky = 0; ky < kh; ky++) {
                const iy = oy * sh + ky - ph;
                if (iy < 0 || iy >= h) continue; // zero padding
                for (let kx = 0; kx < kw; kx++) {
                  const ix = ox * sw + kx - pw;
                  if (ix < 0 || ix >= w) continue;
                  acc += kernel[ky]![kx]! * x[c * h * w + iy * w + ix]!;
                }
              }
            }
            y[o * oh * ow + oy * ow + ox] = acc;
          }
        }
      }
      return y;
    }
    case 'avgpool2d': {
      const [c, h, w] = shape as [number, number, number];
      const [, oh, ow] = outShape as [number, number, number];
      const [kh, kw] = layer.kernel;
      const [sh, sw] = layer.stride;
      const y = new Float64Array(c * oh * ow);
      for (let ch = 0; ch < c; ch++) {
        for (let oy = 0; oy < oh; oy++) {
          for (let ox = 0; ox < ow; ox++) {
            let acc = 0;
            for (let ky = 0; ky < kh; ky++) for (let kx = 0; kx < kw; kx++) acc += x[ch * h * w + (oy * sh + ky) * w + (ox * sw + kx)]!;
            y[ch * oh * ow + oy * ow + ox] = acc / (kh * kw);
          }
        }
      }
      return y;
    }
    case 'flatten':
      return x;
    case 'activation': {
      const coeffs = layer.fn === 'square' ? [0, 0, 1] : layer.coefficients;
      return x.map((v) => {
        let acc = 0;
        for (let k = coeffs.length - 1; k >= 0; k--) acc = acc * v + coeffs[k]!;
        return acc;
      });
    }
  }
}

export interface ReferenceTrace {
  /** The network output before post-processing. */
  output: Float64Array;
  /** The value entering each layer (index i: the input of layer i), for calibration. */
  layerInputs: Float64Array[];
}

/** Runs the network in float64 on an already pre-processed input. */
export function forwardPreprocessed(model: ModelFile, z: Float64Array): ReferenceTrace {
  let shape: Shape = inputShape(model.input);
  let x = z;
  const layerInputs: Float64Array[] = [];
  model.layers.forEach((layer, i) => {
    layerInputs.push(x);
    x = applyLayer(layer, x, shape, i);
    shape = layerOutputShape(layer, shape, i);
  });
  return { output: x, layerInputs };
}

/** The plaintext reference: raw input -> network output (before post-processing), float64. */
export function referenceForward(model: ModelFile, raw: readonly number[]): Float64Array {
  return forwardPreprocessed(model, preprocess(model, raw)).output;
}

export interface Prediction {
  /** Post-processed values: a probability, class probabilities, or a regression value. */
  values: number[];
  /** Index of the predicted class (classification only). */
  classIndex?: number;
}

/** The clear, non-polynomial last step that the client applies after decryption. */
export function postprocess(post: Postprocess, output: ArrayLike<number>): Prediction {
  const values = Array.from(output);
  switch (post.fn) {
    case 'sigmoid': {
      const p = 1 / (1 + Math.exp(-values[0]!));
      return { values: [p], classIndex: p >= 0.5 ? 1 : 0 };
    }
    case 'softmax': {
      const max = Math.max(...values);
      const exps = values.map((v) => Math.exp(v - max));
      const sum = exps.reduce((a, b) => a + b, 0);
      const probs = exps.map((e) => e / sum);
      return { values: probs, classIndex: argmax(values) };
    }
    case 'argmax':
      return { values, classIndex: argmax(values) };
    case 'identity':
      return { values: values.map((v) => v * post.scale + post.offset) };
  }
}

export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}

/** Rounds to the model's declared precision (decrypted CKKS values carry noise: show and store rounded). */
export function roundTo(value: number, decimals: number): number {
  const f = 10 ** decimals;
  return Math.round(value * f) / f;
}
