import type { Ciphertext } from 'node-seal';
import { EnvelopeKind } from '../envelope/envelope.js';
import { openCiphertextEnvelope, sealCiphertextEnvelope } from '../envelope/ciphertexts.js';
import { free } from '../seal/scope.js';
import type { EvaluationKeys } from './evaluation-keys.js';
import type { PlanEvaluator } from './evaluator.js';

/** Request envelope in, result envelope out: load and check the inputs, evaluate, serialise (level 0, compressed). */
export function evaluateEnvelope(evaluator: PlanEvaluator, keys: EvaluationKeys, body: Uint8Array): Uint8Array {
  const { ctx, plan } = evaluator;
  const inputs = openCiphertextEnvelope(ctx, body, EnvelopeKind.ciphertexts, plan.public.input);
  let outputs: Ciphertext[] = [];
  try {
    outputs = evaluator.evaluate(inputs, keys);
    return sealCiphertextEnvelope(ctx, EnvelopeKind.results, outputs);
  } finally {
    free(...inputs, ...outputs);
  }
}
