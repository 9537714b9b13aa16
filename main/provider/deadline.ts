import { packedResultBytes } from '../../he-core/index.js';
import type { PublicPlan } from '../../he-core/index.js';

/**
 * Overall deadlines for provider calls (docs/reliability.md, "Deadlines"). A deadline covers the
 * whole call (connect, send, evaluate, receive, and any retry) and never restarts on progress:
 * a provider that sends one byte per second is cut off like one that sends nothing.
 */

/** No call gets less: a provider starting up, a slow TLS handshake, a queue of a few requests. */
export const DEADLINE_FLOOR_MS = 30_000;
/** Nor more, whatever a (provider-supplied) plan says: one hour. */
export const DEADLINE_CEILING_MS = 60 * 60_000;
/** The slowest link the deadline still serves: 256 KiB/s (about 2 Mbit/s) both ways. */
export const MIN_THROUGHPUT_BYTES_PER_S = 256 * 1024;
/**
 * Evaluation allowance per cost unit (see `evaluationCostUnits`). Calibrated on the bundled
 * models (docs/benchmarks.md): it gives 17x the measured server time for mnist-cnn single
 * (6.3 s against 377 ms) and 31x for its 4096-image batch (236 s against 7.6 s), room for a
 * slower machine or a busy provider.
 */
export const EVALUATION_MS_PER_UNIT = 25;
/** When the call's plan is unknown (a session this client did not create): ten minutes. */
export const UNKNOWN_EVALUATION_MS = 10 * 60_000;

/**
 * What the public plan says an evaluation costs, in units of one pass over one ciphertext of
 * degree 4096 at one prime: (degree / 4096) x data primes x (input ciphertexts + 4 per key-switching
 * key). Key switches (rotations, relinearisation) dominate a vector layout; plaintext products
 * over many input ciphertexts dominate a batch layout.
 */
export function evaluationCostUnits(plan: PublicPlan): number {
  const degree = plan.params.polyModulusDegree / 4096;
  const dataPrimes = Math.max(1, plan.params.primes.length - 1);
  const keys = plan.galoisSteps.length + (plan.relinearization ? 1 : 0);
  return degree * dataPrimes * (plan.input.count + 4 * keys);
}

/** The exact size of the answer envelope the plan allows (packed results, as the flow checks them). */
export function expectedResponseBytes(plan: PublicPlan): number {
  return 48 + plan.output.count * (packedResultBytes(plan.params.polyModulusDegree, plan.output.packing) + 4);
}

export interface DeadlineInputs {
  /** Bytes sent (the request body). */
  upBytes: number;
  /** Bytes expected back. */
  downBytes: number;
  /** Server-side work allowance; 0 for calls that only move data. */
  evaluationMs: number;
}

/** floor + transfer at the slowest served link + evaluation, capped at the ceiling. */
export function computeDeadlineMs(inputs: DeadlineInputs, floorMs: number = DEADLINE_FLOOR_MS): number {
  const transferMs = ((inputs.upBytes + inputs.downBytes) / MIN_THROUGHPUT_BYTES_PER_S) * 1000;
  return Math.round(Math.min(DEADLINE_CEILING_MS, Math.max(0, floorMs) + transferMs + Math.max(0, inputs.evaluationMs)));
}

/** The deadline of one prediction request under `plan`, with `requestBytes` to send. */
export function predictionDeadlineMs(plan: PublicPlan | undefined, requestBytes: number, floorMs: number = DEADLINE_FLOOR_MS): number {
  if (plan === undefined) return computeDeadlineMs({ upBytes: requestBytes, downBytes: requestBytes, evaluationMs: UNKNOWN_EVALUATION_MS }, floorMs);
  return computeDeadlineMs({ upBytes: requestBytes, downBytes: expectedResponseBytes(plan), evaluationMs: EVALUATION_MS_PER_UNIT * evaluationCostUnits(plan) }, floorMs);
}

/** Checks a deadline given by a person or a setting (milliseconds). */
export function validDeadlineMs(value: number): boolean {
  return Number.isFinite(value) && value >= 1 && value <= DEADLINE_CEILING_MS * 24;
}

/** The vault setting (clear, readable while locked) that gives every provider call a fixed deadline, in seconds. */
export const DEADLINE_SETTING = 'provider.deadline_seconds';

/** A deadline in seconds, as a person writes it (`--deadline`, the setting), in ms; undefined if not a positive number. */
export function secondsToDeadlineMs(value: string): number | undefined {
  const text = value.trim();
  const ms = Math.round(Number(text) * 1000);
  return text === '' || !validDeadlineMs(ms) ? undefined : ms;
}
