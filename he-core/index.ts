/**
 * he-core: the CKKS engine of CipherCare. Server-safe exports only; the secret-key side lives in
 * `he-core/client` and is exported from `he-core/client/index.ts`.
 */
export { HeError, isHeError } from './errors.js';
export type { HeErrorCode } from './errors.js';
export { loadSeal, sealErrorMessage } from './seal/runtime.js';
export type { SealRuntime } from './seal/runtime.js';
export { SealScope, withScope, free } from './seal/scope.js';
export * from './model/format.js';
export { validateModel, parseModel, weightsHash } from './model/validate.js';
export * from './model/card.js';
export { BUNDLED_PUBLISHER } from './model/bundled-publisher.js';
export type { TrustedPublisher } from './model/bundled-publisher.js';
export { checkInput, preprocess } from './model/input.js';
export { referenceForward, forwardPreprocessed, postprocess, argmax, roundTo } from './model/reference.js';
export type { Prediction, ReferenceTrace } from './model/reference.js';
export type { HeParameters } from './params/parameters.js';
export { parametersFingerprint, slotCount, topLevel } from './params/parameters.js';
export { selectParameters, chainBits } from './params/select.js';
export { HeContext } from './params/context.js';
export { compile, estimatedKeyBytes } from './compiler/compile.js';
export type { CompileOptions } from './compiler/compile.js';
export type * from './compiler/plan.js';
export { explain } from './compiler/explain.js';
export { simulateSlots } from './compiler/simulate.js';
export { answerPrecision, formatBound, keyAmplification, packingNoise } from './compiler/packing.js';
export { packSample, packBatch, unpackOutputs } from './layout/pack.js';
export { EvaluationKeys } from './evaluator/evaluation-keys.js';
export type { EvaluationKeyBytes } from './evaluator/evaluation-keys.js';
export { PlanEvaluator, batchSplit } from './evaluator/evaluator.js';
export type { EvaluatorOptions } from './evaluator/evaluator.js';
export { evaluateEnvelope, evaluatePartEnvelope, mergePartsToEnvelope } from './evaluator/run.js';
export { encodeEnvelope, encodeEnvelopeParts, joinEnvelope, decodeEnvelope, EnvelopeKind, ENVELOPE_VERSION } from './envelope/envelope.js';
export type { Envelope, EnvelopeCaps, EnvelopeParts } from './envelope/envelope.js';
export { readSealHeader, decompressSealObject, compressSealObject, saveCompressed, maxCiphertextBytes, maxKeyBytes } from './envelope/seal-object.js';
export { openCiphertextEnvelope, openResultEnvelope, resultEnvelope, sealCiphertextEnvelope, encodeKeyEnvelope, openKeyEnvelope, loadCiphertexts } from './envelope/ciphertexts.js';
export { packResult, unpackResult, packedResultBytes } from './envelope/packed-result.js';
export { expectedSizes, seededCiphertextBytes, ENVELOPE_HEADER_BYTES } from './envelope/sizes.js';
export * from './protocol/api.js';
