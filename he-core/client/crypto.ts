import type { Ciphertext, Plaintext } from 'node-seal';
import { HeError } from '../errors.js';
import type { PublicPlan } from '../compiler/plan.js';
import { EnvelopeKind, encodeEnvelope } from '../envelope/envelope.js';
import { checkAnswerPlan, formatBound } from '../compiler/packing.js';
import { openResultEnvelope } from '../envelope/ciphertexts.js';
import { compressSealObject, saveCompressed } from '../envelope/seal-object.js';
import { packBatch, packSample, replicaMean, unpackOutputs } from '../layout/pack.js';
import { checkInput, preprocess } from '../model/input.js';
import { sealCall } from '../seal/runtime.js';
import { free } from '../seal/scope.js';
import type { ClientKeyPair } from './client-keys.js';

/**
 * How request ciphertexts are serialised. `zstd` (the default, and what the app sends; Node's
 * native zstd, see `compressSealObject`): a seeded ciphertext's random residues only compress
 * their unused high bits (mnist-cnn: 393 → 206 kB). `none` saves about 1 ms per ciphertext where
 * bytes are free, but an uncompressed mnist-cnn batch (308 MB) is over the service's 256 MiB cap.
 */
export type RequestCompression = 'zstd' | 'none';

/**
 * Encodes (ClientKeyPair.encode: SEAL's plaintext, computed by FastEncoder) and encrypts one slot
 * vector: symmetric, seeded (half the bytes), compressed as asked. Top level. With `plan`, from
 * one of the key pair's prepared encryptions of zero when one is ready for the plan's input
 * (`PreparedZeros`: the same bytes SEAL writes, most of the work done ahead of time), else by the
 * key pair's SeededEncryptor (fast-encryption.ts), else by SEAL's Encryptor.
 */
export function encryptVector(keys: ClientKeyPair, vector: Float64Array, scale: number, compression: RequestCompression, pt?: Plaintext, plan?: PublicPlan): Uint8Array {
  const { seal } = keys.ctx;
  const plain = pt ?? new seal.Plaintext();
  try {
    return sealCall(seal, 'seal_failure', 'encrypting', () => {
      keys.encode(vector, scale, plain);
      const prepared = plan && plan.input.scale === scale ? keys.zeros.finish(plan, plain) : null;
      if (prepared) return compression === 'zstd' ? compressSealObject(prepared) : prepared.slice();
      const own = keys.encryptSeeded(plain, compression === 'zstd');
      if (own) return compression === 'zstd' ? compressSealObject(own) : own;
      const serializable = keys.encryptor.encryptSymmetricSerializable(plain);
      try {
        return compression === 'zstd' ? saveCompressed(seal, serializable) : (serializable.saveToArray(seal.ComprModeType.none) as Uint8Array);
      } finally {
        free(serializable);
      }
    });
  } finally {
    if (!pt) free(plain);
  }
}

/** Lays out and encrypts slot vectors (`encryptVector`) at the plan's input scale, on this thread. */
export function encryptVectors(keys: ClientKeyPair, plan: PublicPlan, vectors: readonly Float64Array[], compression: RequestCompression = 'zstd'): Uint8Array[] {
  if (plan.params.fingerprint !== keys.fingerprint) throw new HeError('params_mismatch', 'the key pair is for another parameter set');
  const pt = new keys.ctx.seal.Plaintext();
  try {
    return vectors.map((v) => encryptVector(keys, v, plan.input.scale, compression, pt, plan));
  } finally {
    free(pt);
  }
}

/**
 * Validates raw inputs against the schema, pre-processes, lays out and encrypts them into a
 * request envelope. Single layouts take one sample; the batch layout up to its slot count.
 */
export function encryptRequest(keys: ClientKeyPair, plan: PublicPlan, samples: readonly (readonly number[])[], compression: RequestCompression = 'zstd'): Uint8Array {
  const items = encryptVectors(keys, plan, layoutRequest(plan, samples), compression);
  return encodeEnvelope({ kind: EnvelopeKind.ciphertexts, fingerprint: plan.params.fingerprint, items });
}

/** Validates raw inputs against the schema, pre-processes them and lays them out in slot vectors. */
export function layoutRequest(plan: PublicPlan, samples: readonly (readonly number[])[]): Float64Array[] {
  const model = plan.model;
  const zs = samples.map((raw) => {
    checkInput(model, raw);
    return preprocess(model, raw);
  });
  let vectors: Float64Array[];
  if (plan.layout === 'batch') vectors = packBatch(plan, zs);
  else {
    if (zs.length !== 1) throw new HeError('input_invalid', `the ${plan.layout} layout takes one sample per request`);
    vectors = [packSample(plan, zs[0]!)];
  }
  return vectors;
}

/** Decrypts and decodes ciphertexts already checked against the plan's output shape. */
export function decryptVectors(keys: ClientKeyPair, cts: readonly Ciphertext[]): Float64Array[] {
  const { seal, encoder } = keys.ctx;
  const pt = new seal.Plaintext();
  try {
    return cts.map((ct) =>
      sealCall(seal, 'seal_failure', 'decrypting', () => {
        keys.decryptor.decrypt(ct, pt);
        return Float64Array.from(encoder.decodeFloat64(pt) as Float64Array);
      }),
    );
  } finally {
    free(pt);
  }
}

/**
 * Where the plan sends c0 only at every c0Stride-th coefficient (ResultPacking.c0Stride, with
 * c0Stride = replicas), the missing coefficients were rebuilt as 0, so each decrypted slot holds
 * its output plus terms that cancel exactly in the mean of the replicas: that mean is the
 * decoding of the plaintext's coefficients i·c0Stride alone (the polynomials those rotations of
 * the slots leave unchanged), which the answer carries in full. So every slot is replaced by the
 * mean of its replicas, before anything reads or range-checks a slot. Other plans: unchanged.
 */
export function projectReplicas(plan: PublicPlan, vectors: Float64Array[]): Float64Array[] {
  const { replicas, packing } = plan.output;
  if (packing.c0Stride === undefined) return vectors;
  return vectors.map((v) => {
    const period = v.length / replicas;
    const out = new Float64Array(v.length);
    for (let j = 0; j < period; j++) {
      const mean = replicaMean(v, replicas, j);
      for (let r = 0; r < replicas; r++) out[r * period + j] = mean;
    }
    return out;
  });
}

/**
 * Refuses decrypted answers with any slot beyond the plan's accepted bound: a true value there is
 * beyond anything the model was calibrated for, and one beyond the packing's range would have
 * wrapped around into another number. The error names the bound, never the value.
 */
export function checkAnswerRange(plan: PublicPlan, vectors: readonly Float64Array[]): void {
  const { bound } = plan.output.packing;
  vectors.forEach((v) => {
    for (let slot = 0; slot < v.length; slot++) {
      if (!(Math.abs(v[slot]!) <= bound)) {
        throw new HeError('result_out_of_range', `The model cannot give an answer for this input: the decrypted answer holds a value beyond ±${formatBound(bound)}, the range this model's answers are checked against; it is not shown, as it may not be exact`);
      }
    }
  });
}

/**
 * Where one slot of a batch answer lies: every output within the plan's accepted bound (`in`);
 * some output beyond the bound but none beyond the packing's exact range (`beyond_bound`: the
 * value came through exact, but the model was never calibrated there); some output beyond the
 * exact range (`beyond_range`: a true value there may have wrapped around, which moves every slot
 * of its ciphertext, so no slot of that answer can be trusted).
 */
export type SlotRange = 'in' | 'beyond_bound' | 'beyond_range';

/** A batch answer before any range decision: the outputs and the range of every slot. */
export interface BatchAnswer {
  /** One row of network outputs per slot of the answer (used or not), in slot order. */
  outputs: Float64Array[];
  /** Per slot, where its outputs lie (see SlotRange). */
  range: SlotRange[];
}

/** Where every sample's outputs lie (rows of `unpackOutputs`), against the plan's bound and exact range. */
export function slotRanges(plan: PublicPlan, outputs: readonly Float64Array[]): SlotRange[] {
  const { bound, range } = plan.output.packing;
  return outputs.map((row) => {
    let verdict: SlotRange = 'in';
    for (let j = 0; j < row.length; j++) {
      const v = Math.abs(row[j]!);
      if (!(v <= range)) return 'beyond_range';
      if (!(v <= bound)) verdict = 'beyond_bound';
    }
    return verdict;
  });
}

/**
 * The batch layout's answer with a range verdict per slot instead of one for the whole answer:
 * the same plan and format checks as decryptResult, then every slot's outputs (one slot per
 * sample; unused slots hold the answer for an all-zero pre-processed input) and where they lie.
 * The caller must not show or store a slot that is not `in`, and must refuse the whole answer
 * when any slot is `beyond_range` (main/flow/prediction-flow.ts predictBatch).
 */
export function decryptBatchAnswer(keys: ClientKeyPair, plan: PublicPlan, body: Uint8Array): BatchAnswer {
  if (plan.layout !== 'batch' || plan.output.kind === 'slots') throw new HeError('params_mismatch', 'per-slot range verdicts are for the batch layout');
  checkAnswerPlan(plan);
  const cts = openResultEnvelope(keys.ctx, body, plan.output);
  try {
    const vectors = decryptVectors(keys, cts);
    const outputs = unpackOutputs(plan, vectors, vectors[0]!.length);
    return { outputs, range: slotRanges(plan, outputs) };
  } finally {
    free(...cts);
  }
}

/**
 * Opens a result envelope: checks the plan's answer description (checkAnswerPlan), refuses
 * anything that is not exactly this plan's packed answer (kind,
 * count, every header field, the exact length; an echoed request is refused), decrypts, checks
 * the range (checkAnswerRange) and reads the output slots. Returns one row of network outputs
 * (before post-processing) per sample.
 */
export function decryptResult(keys: ClientKeyPair, plan: PublicPlan, body: Uint8Array, samples = 1): Float64Array[] {
  checkAnswerPlan(plan);
  const cts = openResultEnvelope(keys.ctx, body, plan.output);
  try {
    const vectors = projectReplicas(plan, decryptVectors(keys, cts));
    checkAnswerRange(plan, vectors);
    return unpackOutputs(plan, vectors, samples);
  } finally {
    free(...cts);
  }
}

/**
 * Like decryptResult, but returns every decrypted slot of every answer ciphertext (after the same
 * plan, format and range checks) instead of reading the outputs: the client's in-ciphertext
 * checks read the slots that hold check samples themselves.
 */
export function decryptSlots(keys: ClientKeyPair, plan: PublicPlan, body: Uint8Array): Float64Array[] {
  checkAnswerPlan(plan);
  const cts = openResultEnvelope(keys.ctx, body, plan.output);
  try {
    const vectors = projectReplicas(plan, decryptVectors(keys, cts));
    checkAnswerRange(plan, vectors);
    return vectors;
  } finally {
    free(...cts);
  }
}
