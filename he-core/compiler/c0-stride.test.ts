import { beforeAll, describe, expect, it } from 'vitest';
import type { MainModule } from 'node-seal';
import { packSample } from '../layout/pack.js';
import { preprocess } from '../model/input.js';
import { referenceForward } from '../model/reference.js';
import { loadSeal } from '../seal/runtime.js';
import { bundledModel } from '../testing/bundled-model.js';
import { mulberry32 } from '../testing/mulberry32.js';
import { compile } from './compile.js';
import { simulateSlots } from './simulate.js';

// A c0 stride (ResultPacking.c0Stride) is right only if the answer's replicas hold the same values
// whatever input the client lays out: the client reads the mean of the replicas, and the mean is
// all the answer carries. So for the plans that have one, every replica of the simulated answer
// must equal the first (to 1e-9 relative: the same products summed in another order) on random
// images, the blank and the full image, and their outputs must be the reference's; the plans
// whose replicas the client may fill with checks (vector layouts) and the batch plans have none.

describe('c0 stride: only where the outputs repeat by construction', () => {
  let seal: MainModule;
  beforeAll(async () => {
    seal = (await loadSeal()).seal;
  });

  it('mnist-cnn single (im2col): stride 256 = replicas, plan format 2; the simulated answer repeats every 16 slots for any image', () => {
    const model = bundledModel('mnist-cnn');
    const plan = compile(seal, model, { mode: 'single' });
    const { output } = plan.public;
    expect(plan.public.layout).toBe('im2col');
    expect(output.packing.c0Stride).toBe(256);
    expect(output.replicas).toBe(256);
    expect(plan.public.planFormat).toBe(2);
    const random = mulberry32(0xc0);
    const images = [new Array<number>(784).fill(0), new Array<number>(784).fill(1), ...Array.from({ length: 4 }, () => Array.from({ length: 784 }, () => random()))];
    const period = plan.public.params.polyModulusDegree / 2 / output.replicas;
    for (const image of images) {
      const slots = simulateSlots(plan, packSample(plan.public, preprocess(model, image)));
      let worst = 0;
      for (let r = 1; r < output.replicas; r++) {
        for (let j = 0; j < period; j++) worst = Math.max(worst, Math.abs(slots[r * period + j]! - slots[j]!) / (1 + Math.abs(slots[j]!)));
      }
      expect(worst).toBeLessThan(1e-9);
      const reference = referenceForward(model, image);
      reference.forEach((v, j) => expect(Math.abs(slots[j]! - v)).toBeLessThan(1e-6 * (1 + Math.abs(v))));
    }
  });

  it('no stride for the vector layouts (their replicas may hold check samples) nor for any batch plan', () => {
    for (const id of ['breast-cancer', 'breast-cancer-mlp', 'diabetes-progression', 'mnist-cnn']) {
      for (const mode of ['single', 'batch'] as const) {
        const plan = compile(seal, bundledModel(id), { mode });
        if (id === 'mnist-cnn' && mode === 'single') continue;
        expect([id, mode, plan.public.output.packing.c0Stride, plan.public.planFormat]).toEqual([id, mode, undefined, 1]);
      }
    }
  });
});
