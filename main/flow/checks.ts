// Known-answer checks a provider cannot tell apart, forge or replay (docs/SECURITY.md, "A dishonest
// provider"). Where the client has the model's weights (the bundled models ship with the app and
// are read from the app's own files, never from the provider's catalog), every check input is
// drawn afresh with crypto randomness and its answer computed here with the plaintext reference,
// so no earlier answer can pass. Where the layout has spare room the checks travel inside the
// real request's ciphertext at positions drawn afresh (replicas of a vector layout, slots of a
// batch), so the real answer and its checks cannot be separated, replayed or swapped.
import { existsSync, readFileSync } from 'node:fs';
import { randomFillSync, randomInt } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { answerPrecision, checkInput, compile, keyAmplification, packingNoise, parseModel, preprocess, referenceForward, simulateSlots, slotCount } from '../../he-core/index.js';
import type { CatalogModel, ModelFile, Plan, PlanMode, PublicPlan, TestVector } from '../../he-core/index.js';
import type { MainModule } from 'node-seal';

/** Where the app's own model files are (next to the app, as the service's; never downloaded). */
export const CLIENT_MODELS_DIR = fileURLToPath(new URL('../../assets/models/', import.meta.url));

// Crypto randomness drawn in blocks (one randomBytes call per 1,024 draws).
const pool = new BigUint64Array(1024);
let poolAt = pool.length;

/** A uniform double in [0, 1) from the OS's cryptographic generator (53 random bits). */
export function cryptoRandom(): number {
  if (poolAt === pool.length) {
    randomFillSync(pool);
    poolAt = 0;
  }
  return Number(pool[poolAt++]! >> 11n) / 2 ** 53;
}

/** Fisher–Yates with crypto randomness. */
export function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

/** `k` distinct integers of [0, n), uniformly at random (crypto randomness). */
export function randomPositions(n: number, k: number): number[] {
  const all = Array.from({ length: n }, (_, i) => i);
  for (let i = 0; i < k; i++) {
    const j = i + randomInt(n - i);
    [all[i], all[j]] = [all[j]!, all[i]!];
  }
  return all.slice(0, k);
}

/** The weights the client holds for some models: the app's own files, compiled on demand. */
export class ClientModels {
  private readonly files = new Map<string, ModelFile | null>();
  private readonly plans = new Map<string, Plan>();

  constructor(private readonly dir: string | null = CLIENT_MODELS_DIR) {}

  /** The app's own file for this id and version, or null (no such file, another version, invalid). */
  weights(id: string, version: string): ModelFile | null {
    if (!this.dir || !/^[a-z0-9][a-z0-9-]{0,63}$/.test(id)) return null;
    if (!this.files.has(id)) {
      const path = `${this.dir}/${id}.json`;
      let file: ModelFile | null = null;
      try {
        if (existsSync(path)) file = parseModel(readFileSync(path, 'utf8'));
      } catch {
        file = null;
      }
      this.files.set(id, file);
    }
    const file = this.files.get(id) ?? null;
    return file && file.version === version ? file : null;
  }

  /** The client's own compilation of `file` (deterministic: an honest provider's plan is the same). */
  plan(seal: MainModule, file: ModelFile, mode: PlanMode): Plan {
    const key = `${file.id}|${file.version}|${mode}`;
    let plan = this.plans.get(key);
    if (!plan) {
      plan = compile(seal, file, { mode });
      this.plans.set(key, plan);
    }
    return plan;
  }
}

/** A check: an input and the raw network output the client expects for it. */
export interface KnownAnswer {
  input: number[];
  expected: Float64Array;
  /** Largest accepted difference of one output read as the plan's answer (a mean of replicas). */
  tolerance: number;
}

/** Where check answers come from: the client's own weights (fresh inputs), or the card's test vectors. */
export type CheckSource = { kind: 'fresh'; file: ModelFile; precision: number } | { kind: 'card'; vectors: readonly TestVector[] };

/**
 * The card's known answers, for a model whose weights the client does not have. The one place
 * the flow reads `model.testVectors` (the signed-card work makes them come only from a verified
 * card).
 */
export function cardVectors(model: CatalogModel): readonly TestVector[] {
  return model.testVectors;
}

/** Fresh checks where the client has the weights, else the card's vectors, else none. */
export function checkSource(model: CatalogModel, own: ModelFile | null): CheckSource | null {
  if (own) return { kind: 'fresh', file: own, precision: answerPrecision(own) };
  const vectors = cardVectors(model);
  return vectors.length > 0 ? { kind: 'card', vectors } : null;
}

/**
 * A fresh check input: a bundled test vector or a uniform point of the input box (features), with
 * a random perturbation of up to 10% of each range (images: ±0.1 per pixel), clipped to the
 * schema's ranges and rounded to each field's decimals (whole numbers for integer fields; a
 * categorical field takes one of its codes at random).
 */
export function freshCheckInput(file: ModelFile): number[] {
  const input = file.input;
  const base = file.testVectors[randomInt(file.testVectors.length)]!.input;
  if (input.kind === 'features') {
    const uniform = cryptoRandom() < 0.5;
    const out = input.features.map((f, i) => {
      // A coded field takes one of its codes, drawn afresh: a value between codes is refused.
      if (f.type === 'categorical' && f.codes && f.codes.length > 0) return f.codes[randomInt(f.codes.length)]!.value;
      const span = f.max - f.min;
      const start = uniform ? f.min + cryptoRandom() * span : base[i]!;
      const v = Math.min(f.max, Math.max(f.min, start + (cryptoRandom() * 2 - 1) * 0.1 * span));
      const d = f.type === 'integer' ? 0 : (f.decimals ?? 6);
      const rounded = Math.round(v * 10 ** d) / 10 ** d;
      return Math.min(f.max, Math.max(f.min, rounded));
    });
    try {
      checkInput(file, out);
      return out;
    } catch {
      return [...base];
    }
  }
  return base.map((v) => Math.min(input.max, Math.max(input.min, v + (cryptoRandom() * 2 - 1) * 0.1)));
}

/**
 * The tolerance of one check answer read like the real one: the model's precision (the error
 * budget of the evaluation itself, `answerPrecision`) plus 6 standard deviations of the packed
 * answer's rounding noise for `replicas` slots averaged (the plan's packing, `packingNoise`, for
 * all but one key in a thousand).
 */
export function checkTolerance(plan: PublicPlan, precision: number, replicas: number, outputs: number): number {
  const { bits, multiplier } = plan.output.packing;
  const noise = packingNoise(plan.params, plan.output.scale * multiplier, bits, replicas, keyAmplification(replicas, outputs));
  return precision + 6 * noise;
}

/** One known answer to send as a separate request, or in a batch slot. */
export function drawKnownAnswer(source: CheckSource, plan: PublicPlan): KnownAnswer {
  if (source.kind === 'card') {
    const tv = source.vectors[randomInt(source.vectors.length)]!;
    return { input: tv.input, expected: Float64Array.from(tv.expected), tolerance: tv.tolerance };
  }
  const input = freshCheckInput(source.file);
  const replicas = plan.output.kind === 'slots' ? plan.output.replicas : 1;
  const outputs = plan.output.kind === 'slots' ? plan.output.size : plan.output.size * slotCount(plan.params);
  return { input, expected: referenceForward(source.file, input), tolerance: checkTolerance(plan, source.precision, replicas, outputs) };
}

/** Whether a decrypted output matches a known answer. */
export function matches(out: ArrayLike<number>, check: KnownAnswer): boolean {
  for (let i = 0; i < check.expected.length; i++) if (!(Math.abs(out[i]! - check.expected[i]!) <= check.tolerance)) return false;
  return true;
}

/**
 * A vector-layout request whose replicas hold the real sample and fresh checks: the input is
 * `blocks` copies of `period` slots; the checks take `runs` runs of two adjacent blocks at random
 * positions (the rotations of a layer mix a block with its neighbours), the real sample the rest.
 * The client's own plan, run on clear slots (`simulateSlots`), gives every output slot's value;
 * the slots that do not depend on the real sample are check slots, the output slots that depend
 * on no check are the real answer's replicas.
 */
export interface ReplicaChecks {
  vector: Float64Array;
  /** Per output, the slots that hold the real answer. */
  realSlots: number[][];
  checkSlots: Int32Array;
  /** Expected value of every slot (meaningful at the check slots). */
  expected: Float64Array;
  /** Largest accepted difference in one slot (check slots; real replicas from their mean). */
  slotTolerance: number;
  /** Largest accepted difference of the mean over the check slots (a shift of every slot). */
  meanTolerance: number;
  /** Check blocks (for the cost and odds). */
  checkBlocks: number[];
}

/** Number of two-block check runs for a vector layout of `blocks` blocks: an eighth of the blocks. */
export function checkRuns(blocks: number): number {
  return Math.max(1, Math.floor(blocks / 16));
}

function fill(vector: Float64Array, block: number, period: number, z: Float64Array): void {
  vector.set(z, block * period);
}

/** Whether a single-sample plan has replicas to spare for checks: a vector layout of at least 16 blocks. */
export function hasSpareReplicas(plan: PublicPlan): boolean {
  return plan.input.kind === 'vector' && plan.output.kind === 'slots' && slotCount(plan.params) / plan.input.period >= 16;
}

/**
 * Lays out the real sample with fresh checks in the replicas (see ReplicaChecks); null when the
 * layout leaves no check slot or no clean replica of an output (then checks go as separate requests).
 */
export function replicaChecks(own: Plan, file: ModelFile, precision: number, real: readonly number[]): ReplicaChecks | null {
  const plan = own.public;
  if (plan.input.kind !== 'vector' || plan.output.kind !== 'slots' || !hasSpareReplicas(plan)) return null;
  const slots = slotCount(plan.params);
  const period = plan.input.period;
  const blocks = slots / period;
  const runs = checkRuns(blocks);
  // Runs of two blocks at distinct pair positions, all shifted by one random offset (0 or 1): never overlapping.
  const offset = randomInt(2);
  const starts = randomPositions(blocks / 2, runs).map((r) => 2 * r + offset);
  const checkBlocks = starts.flatMap((s) => [s % blocks, (s + 1) % blocks]).sort((a, b) => a - b);
  const isCheck = new Set(checkBlocks);
  const z = preprocess(file, real);
  const build = (realZ: Float64Array, checkZ: (b: number) => Float64Array): Float64Array => {
    const v = new Float64Array(slots);
    for (let b = 0; b < blocks; b++) fill(v, b, period, isCheck.has(b) ? checkZ(b) : realZ);
    return v;
  };
  const checks = new Map(checkBlocks.map((b) => [b, preprocess(file, freshCheckInput(file))]));
  const vector = build(z, (b) => checks.get(b)!);
  const expected = simulateSlots(own, vector);
  // Dependencies, by running the plan again with the real sample (then the checks) moved: every
  // value shifted by the same odd constant, so that no feature keeps its value (a fresh input
  // could keep a discrete one, and a slot reading only that one would look independent).
  const moved = (v: Float64Array): Float64Array => v.map((x) => x + 0.7310585786300049);
  const withoutReal = simulateSlots(own, build(moved(z), (b) => checks.get(b)!));
  const withoutChecks = simulateSlots(own, build(z, (b) => moved(checks.get(b)!)));
  const eps = 1e-9 * (1 + plan.output.packing.bound);
  const checkSlots: number[] = [];
  for (let i = 0; i < slots; i++) if (Math.abs(expected[i]! - withoutReal[i]!) <= eps) checkSlots.push(i);
  const { size, replicas } = plan.output;
  const outPeriod = slots / replicas;
  const realSlots = Array.from({ length: size }, (_, j) => {
    const at: number[] = [];
    for (let r = 0; r < replicas; r++) {
      const i = r * outPeriod + j;
      if (Math.abs(expected[i]! - withoutChecks[i]!) <= eps && Math.abs(expected[i]! - withoutReal[i]!) > eps) at.push(i);
    }
    return at;
  });
  if (checkSlots.length === 0 || realSlots.some((at) => at.length === 0)) return null;
  const { bits, multiplier } = plan.output.packing;
  const scale = plan.output.scale * multiplier;
  const slotTolerance = precision + 6 * packingNoise(plan.params, scale, bits, 1, keyAmplification(1, slots));
  const meanTolerance = precision + 6 * packingNoise(plan.params, scale, bits, Math.max(1, checkSlots.length), keyAmplification(Math.max(1, checkSlots.length), 1));
  return { vector, realSlots, checkSlots: Int32Array.from(checkSlots), expected, slotTolerance, meanTolerance, checkBlocks };
}

/** Checks a decrypted answer against its ReplicaChecks; returns the real outputs, or why it failed. */
export function readReplicaChecks(layout: ReplicaChecks, slots: Float64Array): { ok: true; output: Float64Array } | { ok: false; why: string } {
  let sum = 0;
  for (const i of layout.checkSlots) {
    const d = slots[i]! - layout.expected[i]!;
    if (!(Math.abs(d) <= layout.slotTolerance)) return { ok: false, why: 'a check sample inside the answer did not match its known answer' };
    sum += d;
  }
  if (!(Math.abs(sum / layout.checkSlots.length) <= layout.meanTolerance)) return { ok: false, why: 'the check samples inside the answer were all shifted' };
  const output = Float64Array.from(layout.realSlots, (at) => at.reduce((a, i) => a + slots[i]!, 0) / at.length);
  for (let j = 0; j < layout.realSlots.length; j++) {
    for (const i of layout.realSlots[j]!) {
      if (!(Math.abs(slots[i]! - output[j]!) <= layout.slotTolerance)) return { ok: false, why: 'the copies of the answer inside the ciphertext disagree' };
    }
  }
  return { ok: true, output };
}

/** Whether the client's own plan has the provider's public layout (else replica checks cannot be laid out). */
export function sameLayout(own: PublicPlan, theirs: PublicPlan): boolean {
  return (
    own.params.fingerprint === theirs.params.fingerprint &&
    JSON.stringify(own.input) === JSON.stringify(theirs.input) &&
    own.output.kind === theirs.output.kind &&
    own.output.size === theirs.output.size &&
    own.output.replicas === theirs.output.replicas &&
    own.output.scale === theirs.output.scale &&
    JSON.stringify(own.output.packing) === JSON.stringify(theirs.output.packing)
  );
}
