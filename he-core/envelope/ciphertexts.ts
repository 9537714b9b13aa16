import type { Ciphertext } from 'node-seal';
import { HeError, isHeError } from '../errors.js';
import type { CiphertextShape, OutputLayout, PublicPlan } from '../compiler/plan.js';
import type { HeContext } from '../params/context.js';
import { sealCall } from '../seal/runtime.js';
import { free } from '../seal/scope.js';
import { EvaluationKeys } from '../evaluator/evaluation-keys.js';
import { EnvelopeKind, decodeEnvelope, encodeEnvelope } from './envelope.js';
import type { EnvelopeCaps } from './envelope.js';
import { checkPacking, packResult, packedResultBytes, unpackResult } from './packed-result.js';
import { checkCiphertextLayout, checkKeySwitchingKeys, decompressSealObject, decompressSealObjectScratch, maxCiphertextBytes, maxKeyBytes, saveCompressed } from './seal-object.js';

const SCALE_TOLERANCE = 1e-9;

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
      // A view of this thread's kept buffer, done with once SEAL has loaded it (SEAL copies it in).
      const raw = decompressSealObjectScratch(item, bound);
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

/** Serialises ciphertexts (SEAL's format, compressed) into an envelope. */
export function sealCiphertextEnvelope(ctx: HeContext, kind: EnvelopeKind, cts: readonly Ciphertext[]): Uint8Array {
  const items = cts.map((ct) => saveCompressed(ctx.seal, ct));
  return encodeEnvelope({ kind, fingerprint: ctx.params.fingerprint, items });
}

/**
 * The answer envelope: each output ciphertext packed as the plan says (envelope/packed-result.ts).
 * The ciphertexts leave NTT form in the process; the caller still frees them.
 */
export function resultEnvelope(ctx: HeContext, output: OutputLayout, cts: readonly Ciphertext[]): Uint8Array {
  if (cts.length !== output.count) throw new HeError('ciphertext_mismatch', `the plan answers with ${output.count} ciphertexts, the evaluation made ${cts.length}`);
  const items = cts.map((ct) => packResult(ctx, ct, output.packing, output.scale));
  return encodeEnvelope({ kind: EnvelopeKind.results, fingerprint: ctx.params.fingerprint, items });
}

/**
 * Opens an answer envelope from the provider: exactly this plan's count of packed answers, each
 * rebuilt and checked (packed-result.ts). An echoed request or a SEAL serialisation is refused by
 * its kind or its length. The returned ciphertexts are the caller's to free.
 */
export function openResultEnvelope(ctx: HeContext, body: Uint8Array, output: OutputLayout): Ciphertext[] {
  checkPacking(output.packing, ctx.params.coeffModulusBits[0]!);
  const item = packedResultBytes(ctx.params.polyModulusDegree, output.packing);
  const envelope = decodeEnvelope(body, EnvelopeKind.results, { maxCount: output.count, maxItemBytes: item, maxTotalBytes: 48 + output.count * (item + 4) });
  if (envelope.fingerprint !== ctx.params.fingerprint) throw new HeError('params_mismatch', 'the answer is for another parameter set');
  if (envelope.items.length !== output.count) throw new HeError('ciphertext_mismatch', `expected ${output.count} answer ciphertexts, got ${envelope.items.length}`);
  const out: Ciphertext[] = [];
  try {
    envelope.items.forEach((bytes, i) => {
      try {
        out.push(unpackResult(ctx, bytes, output.scale, output.packing));
      } catch (err) {
        throw isHeError(err) ? new HeError(err.code, `answer ${i}: ${err.message}`) : err;
      }
    });
    return out;
  } catch (err) {
    free(...out);
    throw err;
  }
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
  // The bound holds unseeded keys of the plan's count too, so that the layout check can name what is wrong with them.
  const relinBytes = relin.length ? decompressSealObject(relin, caps.maxItemBytes) : null;
  const galoisBytes = galois.length ? decompressSealObject(galois, caps.maxItemBytes) : null;
  if (relinBytes) checkKeySwitchingKeys(relinBytes, { ...shape, keys: 1, maxIndices: 1 });
  if (galoisBytes) checkKeySwitchingKeys(galoisBytes, { ...shape, keys: plan.galoisSteps.length, maxIndices: ctx.params.polyModulusDegree });
  return EvaluationKeys.load(ctx, plan, { relin: relinBytes, galois: galoisBytes });
}
