import { HeError } from '../errors.js';
import type { PublicPlan } from '../compiler/plan.js';
import { slotCount } from '../params/parameters.js';

/**
 * Lays out one pre-processed sample (single layouts) as the slot vector the plan expects.
 * vector: repeated every `period` slots; im2col: kernel position k's window w at k * windowBlock + w.
 */
export function packSample(plan: PublicPlan, z: Float64Array): Float64Array {
  const slots = slotCount(plan.params);
  const input = plan.input;
  const out = new Float64Array(slots);
  if (input.kind === 'vector') {
    if (z.length !== input.size) throw new HeError('input_invalid', `the plan takes ${input.size} values, got ${z.length}`);
    for (let j = 0; j < slots; j++) {
      const i = j % input.period;
      if (i < input.size) out[j] = z[i]!;
    }
    return out;
  }
  if (input.kind === 'im2col') {
    const { channels, height, width, kernel, stride, outHeight, outWidth, windowBlock } = input;
    if (z.length !== channels * height * width) throw new HeError('input_invalid', `the plan takes a ${channels}x${height}x${width} image`);
    for (let c = 0; c < channels; c++) {
      for (let ky = 0; ky < kernel[0]; ky++) {
        for (let kx = 0; kx < kernel[1]; kx++) {
          const k = (c * kernel[0] + ky) * kernel[1] + kx;
          for (let oy = 0; oy < outHeight; oy++) {
            for (let ox = 0; ox < outWidth; ox++) {
              out[k * windowBlock + oy * outWidth + ox] = z[c * height * width + (oy * stride[0] + ky) * width + (ox * stride[1] + kx)]!;
            }
          }
        }
      }
    }
    return out;
  }
  throw new HeError('input_invalid', 'the batch layout packs several samples: use packBatch');
}

/** Batch layout: feature f of sample s at slot s of ciphertext f. */
export function packBatch(plan: PublicPlan, samples: readonly Float64Array[]): Float64Array[] {
  const slots = slotCount(plan.params);
  if (plan.input.kind !== 'batch') throw new HeError('input_invalid', 'this plan is not a batch plan');
  if (samples.length === 0 || samples.length > slots) throw new HeError('input_invalid', `a batch holds 1 to ${slots} samples, got ${samples.length}`);
  const features = plan.input.features;
  const out = Array.from({ length: features }, () => new Float64Array(slots));
  samples.forEach((z, s) => {
    if (z.length !== features) throw new HeError('input_invalid', `sample ${s} has ${z.length} values, the plan takes ${features}`);
    for (let f = 0; f < features; f++) out[f]![s] = z[f]!;
  });
  return out;
}

/** The mean of slot j's replicas: slots r·period + j, period = slots.length / replicas. */
export function replicaMean(slots: Float64Array, replicas: number, j: number): number {
  const period = slots.length / replicas;
  let sum = 0;
  for (let r = 0; r < replicas; r++) sum += slots[r * period + j]!;
  return sum / replicas;
}

/**
 * Reads the outputs from decoded slot vectors: one sample's outputs, each the mean of its
 * replicas (independent rounding noise: the mean of 256 has a sixteenth of one's), or one row
 * per sample for batches.
 */
export function unpackOutputs(plan: PublicPlan, decoded: readonly Float64Array[], samples = 1): Float64Array[] {
  const { size, replicas } = plan.output;
  if (plan.output.kind === 'slots') {
    const slots = decoded[0]!;
    const period = slots.length / replicas;
    if (!Number.isInteger(replicas) || replicas < 1 || !Number.isInteger(period) || period < size) {
      throw new HeError('params_mismatch', `the plan repeats ${size} outputs ${replicas} times in ${slots.length} slots`);
    }
    return [Float64Array.from({ length: size }, (_, j) => replicaMean(slots, replicas, j))];
  }
  return Array.from({ length: samples }, (_, s) => Float64Array.from({ length: size }, (_, r) => decoded[r]![s]!));
}
