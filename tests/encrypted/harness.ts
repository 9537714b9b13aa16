import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  HeContext,
  PlanEvaluator,
  argmax,
  compile,
  encodeKeyEnvelope,
  evaluateEnvelope,
  loadSeal,
  openKeyEnvelope,
  parseModel,
  postprocess,
  referenceForward,
} from '../../he-core/index.js';
import type { EvaluationKeys, ModelFile, Plan } from '../../he-core/index.js';
import { ClientKeyPair, decryptResult, encryptRequest } from '../../he-core/client/index.js';

export function loadBundledModel(id: string): ModelFile {
  return parseModel(readFileSync(fileURLToPath(new URL(`../../assets/models/${id}.json`, import.meta.url)), 'utf8'));
}

/** A client and an evaluator for one plan, wired in-process through the real envelopes. */
export interface EncryptedRig {
  plan: Plan;
  predict(samples: readonly (readonly number[])[]): Float64Array[];
  dispose(): void;
}

export async function createRig(model: ModelFile, mode: 'single' | 'batch'): Promise<EncryptedRig> {
  const rt = await loadSeal();
  const plan = compile(rt.seal, model, { mode });
  const ctx = HeContext.create(rt, plan.public.params);
  const evaluator = new PlanEvaluator(ctx, plan);
  const client = ClientKeyPair.generate(ctx);
  const generated = client.createEvaluationKeys(plan.public);
  const keys: EvaluationKeys = openKeyEnvelope(ctx, plan.public, encodeKeyEnvelope(ctx.params.fingerprint, generated.relin, generated.galois));
  return {
    plan,
    predict(samples) {
      const request = encryptRequest(client, plan.public, samples);
      const result = evaluateEnvelope(evaluator, keys, request);
      return decryptResult(client, plan.public, result, samples.length);
    },
    dispose() {
      keys.dispose();
      client.dispose();
      evaluator.dispose();
      ctx.dispose();
    },
  };
}

export interface Agreement {
  samples: number;
  /** Classification: samples whose encrypted class equals the plaintext reference's. */
  sameClass: number;
  /** Largest |encrypted - reference| over the raw network outputs. */
  maxOutputError: number;
  /** Regression: largest |encrypted - reference| after post-processing, in target units. */
  maxValueError: number;
}

export function compare(model: ModelFile, inputs: readonly (readonly number[])[], outputs: readonly Float64Array[]): Agreement {
  let sameClass = 0;
  let maxOutputError = 0;
  let maxValueError = 0;
  inputs.forEach((x, i) => {
    const reference = referenceForward(model, x);
    const encrypted = outputs[i]!;
    for (let j = 0; j < reference.length; j++) maxOutputError = Math.max(maxOutputError, Math.abs(reference[j]! - encrypted[j]!));
    if (model.task === 'regression') {
      const a = postprocess(model.postprocess, reference).values[0]!;
      const b = postprocess(model.postprocess, encrypted).values[0]!;
      maxValueError = Math.max(maxValueError, Math.abs(a - b));
    } else {
      const refClass = reference.length === 1 ? (reference[0]! >= 0 ? 1 : 0) : argmax(reference);
      const encClass = encrypted.length === 1 ? (encrypted[0]! >= 0 ? 1 : 0) : argmax(encrypted);
      if (refClass === encClass) sameClass++;
    }
  });
  return { samples: inputs.length, sameClass, maxOutputError, maxValueError };
}
