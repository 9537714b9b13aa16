import type { Ciphertext } from 'node-seal';
import { EnvelopeKind } from '../envelope/envelope.js';
import { openCiphertextEnvelope, resultEnvelope } from '../envelope/ciphertexts.js';
import { sealCall } from '../seal/runtime.js';
import { free } from '../seal/scope.js';
import type { EvaluationKeys } from './evaluation-keys.js';
import type { PlanEvaluator } from './evaluator.js';

/** Request envelope in, result envelope out: load and check the inputs, evaluate, pack the answers (level 0, see packed-result.ts). */
export function evaluateEnvelope(evaluator: PlanEvaluator, keys: EvaluationKeys, body: Uint8Array): Uint8Array {
  const { ctx, plan } = evaluator;
  const inputs = openCiphertextEnvelope(ctx, body, EnvelopeKind.ciphertexts, plan.public.input);
  let outputs: Ciphertext[] = [];
  try {
    outputs = evaluator.evaluate(inputs, keys);
    return resultEnvelope(ctx, plan.public.output, outputs);
  } finally {
    free(...inputs, ...outputs);
  }
}

/**
 * One share of a batch request split across workers (`PlanEvaluator.evaluatePart`): the request
 * envelope in (checked as a whole request is), this share's partial sums out, serialised
 * uncompressed (they go to another thread of the same service, never over the network).
 */
export function evaluatePartEnvelope(evaluator: PlanEvaluator, keys: EvaluationKeys, body: Uint8Array, part: number, parts: number): (Uint8Array | null)[] {
  const { ctx, plan } = evaluator;
  const inputs = openCiphertextEnvelope(ctx, body, EnvelopeKind.ciphertexts, plan.public.input, evaluator.shareOf(part, parts).columns);
  let partials: (Ciphertext | null)[] = [];
  try {
    partials = evaluator.evaluatePart(inputs, keys, part, parts);
    return partials.map((ct) => (ct ? sealCall(ctx.seal, 'seal_failure', 'serialising a partial sum', () => new Uint8Array(ct.saveToArray(ctx.seal.ComprModeType.none) as Uint8Array)) : null));
  } finally {
    free(...inputs, ...partials);
  }
}

/** Joins the shares of `evaluatePartEnvelope` and finishes the plan: the result envelope. */
export function mergePartsToEnvelope(evaluator: PlanEvaluator, keys: EvaluationKeys, shares: readonly (readonly (Uint8Array | null)[])[]): Uint8Array {
  const { ctx, plan } = evaluator;
  const loaded: (Ciphertext | null)[][] = [];
  let outputs: Ciphertext[] = [];
  try {
    for (const share of shares) {
      const row: (Ciphertext | null)[] = [];
      loaded.push(row);
      for (const bytes of share) {
        if (!bytes) {
          row.push(null);
          continue;
        }
        const ct = new ctx.seal.Ciphertext();
        row.push(ct);
        sealCall(ctx.seal, 'seal_failure', 'loading a partial sum', () => ct.loadFromArray(ctx.context, bytes));
      }
    }
    outputs = evaluator.evaluateMerge(loaded, keys);
    return resultEnvelope(ctx, plan.public.output, outputs);
  } finally {
    free(...loaded.flat(), ...outputs);
  }
}
