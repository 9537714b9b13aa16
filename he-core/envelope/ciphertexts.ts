import type { Ciphertext } from 'node-seal';
import { HeError, isHeError } from '../errors.js';
import type { CiphertextShape, PublicPlan } from '../compiler/plan.js';
import type { HeContext } from '../params/context.js';
import { sealCall } from '../seal/runtime.js';
import { free } from '../seal/scope.js';
import { EvaluationKeys } from '../evaluator/evaluation-keys.js';
import { EnvelopeKind, decodeEnvelope, encodeEnvelope } from './envelope.js';
import type { EnvelopeCaps } from './envelope.js';
import { checkCiphertextLayout, checkKeySwitchingKeys, decompressSealObject, maxCiphertextBytes, maxKeyBytes, saveCompressed } from './seal-object.js';

const SCALE_TOLERANCE = 1e-9;

/** zstd level of result ciphertexts (see compressSealObject). */
const RESULT_COMPRESSION_LEVEL = 3;

/** Envelope caps for ciphertexts of a plan's parameters. */
export function ciphertextCaps(ctx: HeContext, count: number): EnvelopeCaps {
  const item = maxCiphertextBytes(ctx.params.polyModulusDegree, ctx.params.primes.length);
  return { maxCount: count, maxItemBytes: item, maxTotalBytes: 48 + count * (item + 4) };
}

export function keyCaps(ctx: HeContext, plan: PublicPlan): EnvelopeCaps {
  const item = maxKeyBytes(ctx.params.polyModulusDegree, ctx.params.primes.length, Math.max(1, plan.galoisSteps.length));
  return { maxCount: 2, maxItemBytes: item, maxTotalBytes: 56 + 2 * item };
}

/**
 * Loads ciphertexts from untrusted bytes: bounded decompression first, then SEAL's load against
 * this context, then the shape the plan promises (count, level, scale, two polynomials).
 * The returned ciphertexts are the caller's to free.
 */
export function loadCiphertexts(ctx: HeContext, items: readonly Uint8Array[], expected: CiphertextShape, indices?: readonly number[]): Ciphertext[] {
  if (items.length !== expected.count) throw new HeError('ciphertext_mismatch', `expected ${expected.count} ciphertexts, got ${items.length}`);
  const bound = maxCiphertextBytes(ctx.params.polyModulusDegree, ctx.params.primes.length);
  const out: Ciphertext[] = [];
  try {
    // `indices`: load only these items (a share of a split request; the other shares load the rest).
    for (const i of indices ?? items.keys()) {
      const item = items[i];
      if (!item) throw new RangeError(`no ciphertext ${i}`);
      const raw = decompressSealObject(item, bound);
      try {
        checkCiphertextLayout(raw, ctx.params.polyModulusDegree, ctx.topLevel + 1);
      } catch (err) {
        throw isHeError(err) ? new HeError(err.code, `loading ciphertext ${i}: ${err.message}`) : err;
      }
      const ct = new ctx.seal.Ciphertext();
      out.push(ct);
      sealCall(ctx.seal, 'seal_object_invalid', `loading ciphertext ${i}`, () => ct.loadFromArray(ctx.context, raw));
      const pid = ct.parmsId();
      const level = ctx.levelOf(pid);
      free(pid);
      if (level !== expected.level) throw new HeError('ciphertext_mismatch', `ciphertext ${i} is at level ${level}, expected ${expected.level}`);
      if (ct.size() !== 2) throw new HeError('ciphertext_mismatch', `ciphertext ${i} has ${ct.size()} polynomials, expected 2`);
      if (!ct.isNttForm()) throw new HeError('ciphertext_mismatch', `ciphertext ${i} is not in NTT form`);
      if (!(Math.abs(ct.scale() - expected.scale) <= SCALE_TOLERANCE * expected.scale)) {
        throw new HeError('ciphertext_mismatch', `ciphertext ${i} has scale 2^${Math.log2(ct.scale()).toFixed(4)}, expected 2^${Math.log2(expected.scale).toFixed(4)}`);
      }
    }
    return out;
  } catch (err) {
    free(...out);
    throw err;
  }
}

/**
 * Parses a ciphertext envelope for this context and loads its ciphertexts (see loadCiphertexts),
 * or only those at `indices`, in that order.
 */
export function openCiphertextEnvelope(ctx: HeContext, body: Uint8Array, kind: EnvelopeKind, expected: CiphertextShape, indices?: readonly number[]): Ciphertext[] {
  const envelope = decodeEnvelope(body, kind, ciphertextCaps(ctx, expected.count));
  if (envelope.fingerprint !== ctx.params.fingerprint) throw new HeError('params_mismatch', 'the ciphertexts are for another parameter set');
  return loadCiphertexts(ctx, envelope.items, expected, indices);
}

/** Serialises ciphertexts (compressed) into an envelope. */
export function sealCiphertextEnvelope(ctx: HeContext, kind: EnvelopeKind, cts: readonly Ciphertext[]): Uint8Array {
  const items = cts.map((ct) => saveCompressed(ctx.seal, ct, RESULT_COMPRESSION_LEVEL));
  return encodeEnvelope({ kind, fingerprint: ctx.params.fingerprint, items });
}

/** Evaluation keys envelope: [relinearisation key or empty, Galois keys or empty]. */
export function encodeKeyEnvelope(fingerprint: string, relin: Uint8Array | null, galois: Uint8Array | null): Uint8Array {
  return encodeEnvelope({ kind: EnvelopeKind.evaluationKeys, fingerprint, items: [relin ?? new Uint8Array(0), galois ?? new Uint8Array(0)] });
}

/** Parses and loads an evaluation-keys envelope for a plan, with bounded decompression. */
export function openKeyEnvelope(ctx: HeContext, plan: PublicPlan, body: Uint8Array): EvaluationKeys {
  if (plan.params.fingerprint !== ctx.params.fingerprint) throw new HeError('params_mismatch', 'the plan is for another parameter set than this context');
  const caps = keyCaps(ctx, plan);
  const envelope = decodeEnvelope(body, EnvelopeKind.evaluationKeys, caps);
  if (envelope.fingerprint !== ctx.params.fingerprint) throw new HeError('params_mismatch', 'the keys are for another parameter set');
  if (envelope.items.length !== 2) throw new HeError('envelope_bad_count', 'an evaluation-keys envelope holds exactly 2 items');
  const [relin, galois] = envelope.items as [Uint8Array, Uint8Array];
  const shape = { polyModulusDegree: ctx.params.polyModulusDegree, primes: ctx.params.primes.length, decomposition: ctx.params.primes.length - 1 };
  const relinBytes = relin.length ? decompressSealObject(relin, caps.maxItemBytes) : null;
  const galoisBytes = galois.length ? decompressSealObject(galois, caps.maxItemBytes) : null;
  if (relinBytes) checkKeySwitchingKeys(relinBytes, { ...shape, keys: 1, maxIndices: 1 });
  if (galoisBytes) checkKeySwitchingKeys(galoisBytes, { ...shape, keys: plan.galoisSteps.length, maxIndices: ctx.params.polyModulusDegree });
  return EvaluationKeys.load(ctx, plan, { relin: relinBytes, galois: galoisBytes });
}
