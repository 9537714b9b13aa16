import { HeError } from '../errors.js';
import { inputSize } from './format.js';
import type { ModelFile } from './format.js';

/** What input checking and pre-processing need of a model: a public plan carries exactly this. */
export type ModelCard = Pick<ModelFile, 'id' | 'input' | 'preprocess'>;

/**
 * Checks raw inputs against the model's schema. Out-of-range values are refused, not clamped:
 * polynomial activations are only valid inside the range the model was fitted on.
 */
export function checkInput(model: ModelCard, raw: readonly number[]): void {
  const n = inputSize(model.input);
  if (raw.length !== n) {
    throw new HeError('input_invalid', `model ${model.id} takes ${n} values, got ${raw.length}`);
  }
  if (model.input.kind === 'features') {
    model.input.features.forEach((f, i) => {
      const v = raw[i];
      if (typeof v !== 'number' || !Number.isFinite(v)) {
        throw new HeError('input_invalid', `${f.label} (${f.name}) must be a number in ${f.unit}`, { field: f.name });
      }
      if (f.type === 'categorical' && !(f.codes ?? []).some((c) => c.value === v)) {
        const codes = (f.codes ?? []).map((c) => `${c.value} (${c.label})`).join(', ');
        throw new HeError('input_invalid', `${f.label} (${f.name}) is ${v}; it must be one of the codes ${codes}`, { field: f.name });
      }
      if (f.type === 'integer' && !Number.isInteger(v)) {
        throw new HeError('input_invalid', `${f.label} (${f.name}) is ${v}; it must be a whole number of ${f.unit}`, { field: f.name });
      }
      if (v < f.min || v > f.max) {
        throw new HeError(
          'input_out_of_range',
          `${f.label} (${f.name}) is ${v} ${f.unit}; the model accepts ${f.min} to ${f.max} ${f.unit}`,
          { field: f.name, min: f.min, max: f.max, unit: f.unit },
        );
      }
    });
  } else {
    const { min, max } = model.input;
    raw.forEach((v, i) => {
      if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
        throw new HeError('input_out_of_range', `pixel ${i} is ${String(v)}; pixels must lie in [${min}, ${max}]`, { field: `pixel ${i}` });
      }
    });
  }
}

/** z = (x - mean) / scale, as the model card says. */
export function preprocess(model: ModelCard, raw: readonly number[]): Float64Array {
  const { mean, scale } = model.preprocess;
  const perFeature = mean.length > 1 || model.input.kind === 'features';
  const out = new Float64Array(raw.length);
  for (let i = 0; i < raw.length; i++) {
    const m = perFeature ? mean[i]! : mean[0]!;
    const s = perFeature ? scale[i]! : scale[0]!;
    out[i] = (raw[i]! - m) / s;
  }
  return out;
}
