import { describe, expect, it } from 'vitest';
import { packSample } from '../layout/pack.js';
import { preprocess } from '../model/input.js';
import { referenceForward } from '../model/reference.js';
import { loadSeal } from '../seal/runtime.js';
import { bundledModel } from '../testing/bundled-model.js';
import { compile } from './compile.js';
import { simulateSlots } from './simulate.js';

// simulateSlots runs the evaluator's steps on clear slots: on a periodic input (one sample in every
// replica) every output replica must equal the plaintext reference. Tolerance 1e-9: the same
// float64 operations in another order, no CKKS noise.
describe('simulateSlots', () => {
  it.each(['breast-cancer', 'breast-cancer-mlp', 'diabetes-progression', 'mnist-cnn'])('%s: every output replica equals the reference', async (id) => {
    const { seal } = await loadSeal();
    const model = bundledModel(id);
    const plan = compile(seal, model, { mode: 'single' });
    for (const tv of model.testVectors.slice(0, 2)) {
      const out = simulateSlots(plan, packSample(plan.public, preprocess(model, tv.input)));
      const ref = referenceForward(model, tv.input);
      const { size, replicas } = plan.public.output;
      const period = out.length / replicas;
      for (let r = 0; r < replicas; r++) for (let j = 0; j < size; j++) expect(Math.abs(out[r * period + j]! - ref[j]!)).toBeLessThanOrEqual(1e-9 * (1 + Math.abs(ref[j]!)));
    }
  }, 60_000);
});
