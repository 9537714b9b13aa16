/**
 * The service API, shared by the provider client and the service so the two cannot drift.
 * HTTP/1.1; JSON for metadata; binary envelopes (he-core/envelope) for keys and ciphertexts;
 * errors are RFC 9457 problem documents with a stable `code`. See docs/openapi.yaml, and
 * docs/protocol.md for the bytes of every body, the error codes and the versioning policy.
 */
import type { HeldOutMetrics, ModelInput, ModelOutput, ModelTask, TestVector } from '../model/format.js';
import type { PublicPlan } from '../compiler/plan.js';
import type { SignedCard } from '../model/card.js';

export const API_PREFIX = '/v1';

export const Routes = {
  health: '/v1/health',
  models: '/v1/models',
  metrics: '/v1/metrics',
  sessions: '/v1/sessions',
  /** `/v1/sessions/{id}` */
  session: (id: string): string => `/v1/sessions/${encodeURIComponent(id)}`,
  /** `/v1/sessions/{id}/predictions` */
  predictions: (id: string): string => `/v1/sessions/${encodeURIComponent(id)}/predictions`,
} as const;

export const ContentTypes = {
  json: 'application/json',
  problem: 'application/problem+json',
  envelope: 'application/vnd.ciphercare.envelope',
  prometheus: 'text/plain; version=0.0.4; charset=utf-8',
} as const;

export const REQUEST_ID_HEADER = 'x-request-id';

export type PlanMode = 'single' | 'batch';

/** Stable error codes of the service API. */
export type ApiErrorCode =
  | 'unauthorized'
  | 'not_found'
  | 'method_not_allowed'
  | 'model_not_found'
  | 'session_not_found'
  | 'bad_request'
  | 'unsupported_media_type'
  | 'payload_too_large'
  | 'invalid_envelope'
  | 'invalid_keys'
  | 'invalid_ciphertext'
  | 'parameter_mismatch'
  | 'overloaded'
  | 'evaluation_timeout'
  | 'shutting_down'
  | 'internal_error';

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ApiErrorCode;
  requestId?: string;
}

export interface HealthResponse {
  status: 'ok' | 'starting' | 'draining';
  version: string;
  workers: { total: number; ready: number; busy: number };
  queue: { depth: number; limit: number };
}

/** Sizes of whole HTTP bodies (envelopes), per plan (he-core/envelope/sizes.ts, docs/protocol.md). */
export interface ExpectedSizes {
  /** Upper estimate of the key envelope (seeded keys, zstd-compressed); real bodies are 0.75 to 1 of it. */
  evaluationKeyBytes: number;
  /** Upper estimate of one request envelope (seeded ciphertexts, zstd-compressed); real bodies are 0.75 to 1 of it. */
  requestBytes: number;
  /** Exactly the bytes of one response envelope (packed answers have a fixed size). */
  responseBytes: number;
}

export interface CatalogModel {
  id: string;
  version: string;
  title: string;
  description: string;
  task: ModelTask;
  input: ModelInput;
  output: ModelOutput;
  metrics: HeldOutMetrics;
  weightsSha256: string;
  testVectors: TestVector[];
  /** The public part of each plan: what a client needs to encrypt, check and decrypt. */
  plans: Record<PlanMode, PublicPlan>;
  expectedSizes: Record<PlanMode, ExpectedSizes>;
  /**
   * The model's card signed by its publisher (he-core/model/card.ts). Absent when the provider has
   * none: clients then show the model as unverified and take no known answers from it.
   */
  card?: SignedCard;
}

export interface CatalogResponse {
  models: CatalogModel[];
}

export interface SessionResponse {
  sessionId: string;
  modelId: string;
  mode: PlanMode;
  fingerprint: string;
  /** ISO 8601; the expiry slides forward with use. */
  expiresAt: string;
  keyBytes: number;
  /** True when the same keys were already uploaded: the existing session is returned. */
  reused: boolean;
}
