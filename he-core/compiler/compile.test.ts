import { beforeAll, describe, it, expect } from 'vitest';
import type { MainModule } from 'node-seal';
import type { ModelFile } from '../model/format.js';
import { topLevel } from '../params/parameters.js';
import { loadSeal } from '../seal/runtime.js';
import { referenceForward } from '../model/reference.js';
import { acceptedOutputBound, compile, estimatedKeyBytes } from './compile.js';
import { answerPrecision, checkAnswerPlan } from './packing.js';
import { explain } from './explain.js';
import type { Plan } from './plan.js';
import { bundledModel } from '../testing/bundled-model.js';
import { mulberry32 } from '../testing/mulberry32.js';

const MODEL_IDS = ['breast-cancer', 'breast-cancer-mlp', 'diabetes-progression', 'mnist-cnn'] as const;

/** Every rotation amount a single-layout plan's steps perform. */
function usedAmounts(plan: Plan): Set<number> {
  const slots = plan.public.params.polyModulusDegree / 2;
  const out = new Set<number>();
  for (const s of plan.steps) {
    if (s.op !== 'linear') continue;
    const maxBaby = Math.max(0, ...s.diagonals.map((d, i) => (d ? i % s.baby : 0)));
    if (maxBaby > 0) out.add(s.babyUnit % slots);
    for (const g of s.giantSchedule) if (g.shift) out.add(g.shift % slots);
    if (s.finalShift) out.add(s.finalShift % slots);
    for (const t of s.blockSums) out.add(t % slots);
  }
  return out;
}

/** All object keys anywhere in a JSON value. */
function allKeys(value: unknown, into = new Set<string>()): Set<string> {
  if (Array.isArray(value)) for (const v of value) allKeys(v, into);
  else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      into.add(k);
      allKeys(v, into);
    }
  }
  return into;
}

function flatWeights(model: ModelFile): number[] {
  const out: number[] = [];
  for (const layer of model.layers) {
    if (layer.type === 'dense') for (const row of layer.weights) out.push(...row);
    if (layer.type === 'conv2d') for (const o of layer.weights) for (const i of o) for (const r of i) out.push(...r);
  }
  return out;
}

describe('compile', () => {
  let seal: MainModule;
  const models = new Map<string, ModelFile>();
  const single = new Map<string, Plan>();

  beforeAll(async () => {
    seal = (await loadSeal()).seal;
    for (const id of MODEL_IDS) {
      const m = bundledModel(id);
      models.set(id, m);
      single.set(id, compile(seal, m));
    }
  });

  it('is deterministic: the same public plan, steps and diagonals twice', () => {
    for (const id of MODEL_IDS) {
      const a = single.get(id)!;
      const b = compile(seal, models.get(id)!);
      expect(JSON.stringify(b.public)).toBe(JSON.stringify(a.public));
      expect(b.public).toEqual(a.public);
      expect(b.rotationPaths).toEqual(a.rotationPaths);
      expect(b.depth).toBe(a.depth);
      expect(b.steps.length).toBe(a.steps.length);
      b.steps.forEach((s, i) => {
        const t = a.steps[i]!;
        expect(s).toEqual(t);
        if (s.op === 'linear' && t.op === 'linear') {
          expect(s.diagonals.length).toBe(t.diagonals.length);
          s.diagonals.forEach((d, k) => {
            const e = t.diagonals[k];
            if (d === null || e === null || e === undefined) expect([k, d, e]).toEqual([k, null, null]);
            else expect(Buffer.from(d.buffer, d.byteOffset, d.byteLength).equals(Buffer.from(e.buffer, e.byteOffset, e.byteLength))).toBe(true);
          });
        }
      });
    }
  });

  it('single mode: galoisSteps are exactly the key steps the rotation paths use', () => {
    for (const id of MODEL_IDS) {
      const plan = single.get(id)!;
      const slots = plan.public.params.polyModulusDegree / 2;
      const union = new Set(Object.values(plan.rotationPaths).flat());
      expect([id, [...union].sort((a, b) => a - b)]).toEqual([id, plan.public.galoisSteps]);
      expect(plan.public.galoisSteps).toEqual([...new Set(plan.public.galoisSteps)].sort((a, b) => a - b));
      // Every rotation the steps perform has a path, and every path sums to its amount.
      const used = usedAmounts(plan);
      expect(new Set(Object.keys(plan.rotationPaths).map(Number))).toEqual(used);
      for (const [amount, path] of Object.entries(plan.rotationPaths)) expect(path.reduce((a, b) => a + b, 0) % slots).toBe(Number(amount));
      expect(plan.public.galoisSteps.length).toBeGreaterThan(0);
    }
    // The bundled plans as they stand (N, steps).
    expect(single.get('breast-cancer')!.public.galoisSteps).toEqual([1, 2, 4, 8, 16]);
    expect(single.get('diabetes-progression')!.public.galoisSteps).toEqual([1, 2, 4, 8]);
  });

  it('respects the evaluation-key budget by composing rotations from fewer keys', () => {
    const m = models.get('breast-cancer')!;
    const full = single.get('breast-cancer')!;
    const key = estimatedKeyBytes(full.public.params);
    const tight = compile(seal, m, { maxEvaluationKeyBytes: 2 * key });
    expect(tight.public.galoisSteps.length).toBe(2);
    expect(new Set(Object.values(tight.rotationPaths).flat())).toEqual(new Set(tight.public.galoisSteps));
    expect(Object.keys(tight.rotationPaths).map(Number).sort((a, b) => a - b)).toEqual(full.public.galoisSteps);
  });

  it('batch plans have no Galois steps', () => {
    for (const id of MODEL_IDS) {
      const plan = compile(seal, models.get(id)!, { mode: 'batch' });
      expect([id, plan.public.galoisSteps]).toEqual([id, []]);
      expect(plan.rotationPaths).toEqual({});
      expect(plan.public.layout).toBe('batch');
      expect(plan.public.samplesPerRequest).toBe(plan.public.params.polyModulusDegree / 2);
      expect(plan.steps.every((s) => s.op !== 'linear')).toBe(true);
      expect(plan.public.relinearization).toBe(plan.steps.some((s) => s.op === 'square' || s.op === 'cube'));
    }
  });

  it('plans run from the top level to level 0, one level per linear/square step and two per cube', () => {
    for (const id of MODEL_IDS) {
      const plan = single.get(id)!;
      const p = plan.public;
      expect(p.input.level).toBe(topLevel(p.params));
      expect(p.input.scale).toBe(2 ** p.params.scaleBits);
      expect(p.output.level).toBe(0);
      expect(plan.depth).toBe(topLevel(p.params));
      let level = p.input.level;
      for (const s of plan.steps) {
        expect([s.name, s.levelIn]).toEqual([s.name, level]);
        level -= s.op === 'cube' ? 2 : 1;
      }
      expect(level).toBe(0);
      expect(p.output.scale).toBe(plan.steps[plan.steps.length - 1]!.scaleOut);
    }
  });

  it('explain mentions N, the chain and a total line', () => {
    for (const id of MODEL_IDS) {
      const plan = single.get(id)!;
      const text = explain(plan);
      const p = plan.public.params;
      expect(text).toContain(`N=${p.polyModulusDegree}`);
      expect(text).toContain(`chain ${p.coeffModulusBits.join('+')} = ${p.coeffModulusBits.reduce((a, b) => a + b, 0)} bits`);
      expect(text).toContain(p.fingerprint);
      expect(text).toMatch(/^total\s+\d+\s+\d+\s+\d+\s+\d+$/m);
      expect(text.split('\n').filter((l) => l.startsWith('total')).length).toBe(1);
    }
    expect(explain(single.get('breast-cancer')!)).toContain('parameters: N=4096, chain 35+26+48 = 109 bits, scale 2^26, depth 1');
  });

  it('the public plan carries no weights', () => {
    for (const id of MODEL_IDS) {
      const model = models.get(id)!;
      for (const mode of ['single', 'batch'] as const) {
        const plan = mode === 'single' ? single.get(id)! : compile(seal, model, { mode });
        const json = JSON.stringify(plan.public);
        const keys = allKeys(JSON.parse(json));
        for (const forbidden of ['layers', 'weights', 'diagonals', 'matrix', 'bias', 'steps']) expect([id, mode, forbidden, keys.has(forbidden)]).toEqual([id, mode, forbidden, false]);
        const weights = flatWeights(model);
        const first = String(weights[0]);
        expect(first.length).toBeGreaterThan(8);
        expect(json).not.toContain(first);
        // No weight printed at full precision appears anywhere (short ones could collide with other numbers).
        const leaked = weights.map(String).filter((w) => w.length >= 10 && json.includes(w));
        expect([id, mode, leaked]).toEqual([id, mode, []]);
        // The model card is there: the weights are identified by hash only.
        expect(plan.public.model.weightsSha256).toBe(model.weightsSha256);
      }
    }
  });

  it('answer packing: every plan passes the client\'s check, and proven bounds hold in the input box', () => {
    const random = mulberry32(11);
    for (const id of MODEL_IDS) {
      const model = models.get(id)!;
      for (const mode of ['single', 'batch'] as const) {
        const plan = mode === 'single' ? single.get(id)! : compile(seal, model, { mode });
        expect(() => checkAnswerPlan(plan.public)).not.toThrow();
      }
      const plan = single.get(id)!.public;
      const exact = Number(plan.params.primes[0]) / (2 * plan.output.scale);
      const accepted = acceptedOutputBound(model, exact);
      expect(plan.output.packing.bound).toBe(accepted.bound);
      // Tabular models have an interval bound that the parameters hold: no input in the box goes beyond it.
      if (model.input.kind !== 'features') continue;
      expect([id, accepted.basis]).toEqual([id, 'proven']);
      const features = model.input.features;
      let largest = 0;
      for (let n = 0; n < 300; n++) {
        const x = features.map((f) => (random() < 0.5 ? f.min : f.max));
        for (const v of referenceForward(model, x)) largest = Math.max(largest, Math.abs(v));
      }
      expect([id, largest <= accepted.bound, largest > accepted.bound / 10]).toEqual([id, true, true]);
    }
    // The image model's interval bound (3.9e5) fits no 128-bit parameters at its degree: its first
    // prime gets the headroom the security budget leaves (42 bits, the special prime 46), and the
    // bound is what that keeps exact with the 1.5 x margin.
    const mnist = models.get('mnist-cnn')!;
    const mnistPlan = single.get('mnist-cnn')!.public;
    expect(mnistPlan.params.coeffModulusBits).toEqual([42, 26, 26, 26, 26, 26, 46]);
    const mnistBound = acceptedOutputBound(mnist, Number(mnistPlan.params.primes[0]) / (2 * mnistPlan.output.scale));
    expect(mnistBound).toEqual({ bound: 21600, basis: 'capacity' });
    // Valid images built to push logit 9 up (coordinate ascent over the pixels from an all-white
    // image, two passes) reach about 2,000: beyond what the old bound (30.6) and the old first
    // prime (exact to 2,048) allowed, and well inside the new bound.
    const image = new Array<number>(784).fill(1);
    let logit = referenceForward(mnist, image)[9]!;
    for (let pass = 0; pass < 2; pass++) {
      for (let i = 0; i < 784; i++) {
        const old = image[i]!;
        image[i] = 1 - old;
        const v = referenceForward(mnist, image)[9]!;
        if (v > logit) logit = v;
        else image[i] = old;
      }
    }
    expect(logit).toBeGreaterThan(1000);
    expect(logit).toBeLessThan(mnistBound.bound / 5);
    // Regression shows scaled outputs: diabetes is held to one shown step (0.1 / 76.8), not the tolerance.
    expect(answerPrecision(models.get('diabetes-progression')!)).toBeCloseTo(0.1 / 76.842931, 9);
    expect(answerPrecision(models.get('mnist-cnn')!)).toBe(0.01);
  });
});
