// Detection rates of the known-answer checks over simulated trials, next to the computed
// probabilities (main/flow/check-odds.ts). A trial simulates the provider's choice over the real
// request layout the flow builds (replicaChecks for vector layouts, random slots for batches,
// random order for separate requests), with the answers' CKKS rounding noise drawn as Gaussian
// noise of the plan's predicted standard deviation; the full HE round trip of each attack is in
// dishonest-provider.test.ts. Agreement: the undetected count X of n = 1,000 trials must satisfy
// |X - n p| <= 4 sqrt(n p (1 - p)) + 3 (four binomial standard deviations, plus three events of
// slack for the probabilities that are essentially zero).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { answerPrecision, compile, loadSeal, packingNoise, referenceForward, simulateSlots, slotCount, weightsHash } from '../../he-core/index.js';
import type { DenseLayer, ModelFile, Plan, PublicPlan } from '../../he-core/index.js';
import { mulberry32 } from '../../he-core/testing/mulberry32.js';
import { undetected } from '../../main/flow/check-odds.js';
import type { Attack, CheckShape, Collisions } from '../../main/flow/check-odds.js';
import { checkRuns, checkTolerance, freshCheckInput, randomPositions, readReplicaChecks, replicaChecks, shuffle } from '../../main/flow/checks.js';
import type { ReplicaChecks } from '../../main/flow/checks.js';
import { BATCH_MAX_CHECKS, BATCH_MIN_CHECKS } from '../../main/flow/prediction-flow.js';
import { DEFAULT_MODELS_DIR } from '../../mock-service/config.js';

const TRIALS = 1000;
const load = (id: string): ModelFile => JSON.parse(readFileSync(join(DEFAULT_MODELS_DIR, `${id}.json`), 'utf8')) as ModelFile;
const random = mulberry32(11);
function gauss(): number {
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}
const noisy = (v: ArrayLike<number>, sigma: number): Float64Array => Float64Array.from(v, (x) => x + sigma * gauss());

/** The last dense layer negated (weights and bias), hash recomputed: the tampered model of the tests. */
function negated(model: ModelFile): ModelFile {
  const evil = structuredClone(model);
  const index = evil.layers.map((l) => l.type).lastIndexOf('dense');
  const layer = evil.layers[index] as DenseLayer;
  layer.weights = layer.weights.map((row) => row.map((w) => -w));
  layer.bias = layer.bias.map((b) => -b);
  evil.weightsSha256 = weightsHash(evil.layers);
  return evil;
}

const within = (a: ArrayLike<number>, b: ArrayLike<number>, tol: number): boolean => Array.from(a).every((v, i) => Math.abs(v - b[i]!) <= tol);

/** Collision rates of one check (see Collisions) at tolerance `tol`, over `pairs` pairs of fresh inputs. */
function collisions(file: ModelFile, evil: ModelFile, tol: number, pairs: number): Collisions {
  let replay = 0;
  let tampered = 0;
  for (let i = 0; i < pairs; i++) {
    const x = freshCheckInput(file);
    const fx = referenceForward(file, x);
    if (within(referenceForward(file, freshCheckInput(file)), fx, tol)) replay++;
    if (within(referenceForward(evil, x), fx, tol)) tampered++;
  }
  return { replay: Math.max(replay, 3) / pairs, tampered: Math.max(tampered, 3) / pairs };
}

interface Row {
  model: string;
  mode: string;
  attack: Attack;
  computed: number;
  measured: number;
}
const rows: Row[] = [];

function record(model: string, mode: string, attack: Attack, shape: CheckShape, q: Collisions, passed: number): void {
  const computed = undetected(attack, shape, q)!;
  const measured = passed / TRIALS;
  rows.push({ model, mode, attack, computed, measured });
  const slack = 4 * Math.sqrt(TRIALS * computed * (1 - computed)) + 3;
  expect(Math.abs(passed - TRIALS * computed), `${model} ${mode} ${attack}: ${passed} of ${TRIALS} undetected, computed ${computed}`).toBeLessThanOrEqual(slack);
}

function rotate(v: Float64Array, k: number): Float64Array {
  const out = new Float64Array(v.length);
  for (let i = 0; i < v.length; i++) out[i] = v[(i + k) % v.length]!;
  return out;
}

async function vectorSingle(id: string): Promise<void> {
  const { seal } = await loadSeal();
  const file = load(id);
  const evil = negated(file);
  const own: Plan = compile(seal, file, { mode: 'single' });
  const evilPlan: Plan = compile(seal, evil, { mode: 'single' });
  const plan = own.public;
  const precision = answerPrecision(file);
  const { bits, multiplier } = plan.output.packing;
  const sigma = packingNoise(plan.params, plan.output.scale * multiplier, bits, 1, 1);
  const real = (): number[] => freshCheckInput(file);
  const layouts: ReplicaChecks[] = Array.from({ length: TRIALS }, () => replicaChecks(own, file, precision, real())!);
  const earlier: ReplicaChecks[] = Array.from({ length: 50 }, () => replicaChecks(own, file, precision, real())!);
  const honest = (l: ReplicaChecks): Float64Array => noisy(l.expected, sigma);
  const passes = (l: ReplicaChecks, slots: Float64Array): number => (readReplicaChecks(l, slots).ok ? 1 : 0);
  const blocks = slotCount(plan.params) / (plan.input as { period: number }).period;
  const shape: CheckShape = { placement: 'replicas', checks: layouts[0]!.checkBlocks.length, blocks, runs: checkRuns(blocks) };
  const q = collisions(file, evil, layouts[0]!.slotTolerance, 20_000);
  let falseAlarms = 0;
  const count = { tampered: 0, session: 0, earlier: 0, swap: 0, part: 0 };
  layouts.forEach((l, i) => {
    falseAlarms += 1 - passes(l, honest(l));
    count.tampered += passes(l, noisy(simulateSlots(evilPlan, l.vector), sigma));
    count.session += passes(l, honest(layouts[(i + TRIALS - 1) % TRIALS]!));
    count.earlier += passes(l, honest(earlier[Math.floor(random() * earlier.length)]!));
    count.swap += passes(l, rotate(honest(l), 1 + Math.floor(random() * (l.vector.length - 1))));
    // The provider guesses which blocks hold checks (its best blind guess: the layout's own
    // distribution) and moves every other output slot by 1.
    const period = (plan.input as { period: number }).period;
    const offset = Math.floor(random() * 2);
    const guessed = new Set(randomPositions(blocks / 2, shape.runs!).flatMap((r) => [(2 * r + offset) % blocks, (2 * r + offset + 1) % blocks]));
    const moved = honest(l).map((v, slot) => (guessed.has(Math.floor(slot / period)) ? v : v + 1));
    count.part += passes(l, moved);
  });
  expect(falseAlarms, `${id}: honest answers refused`).toBe(0);
  record(id, 'single', 'tampered-model', shape, q, count.tampered);
  record(id, 'single', 'replay-session', shape, q, count.session);
  record(id, 'single', 'replay-earlier-session', shape, q, count.earlier);
  record(id, 'single', 'swap', shape, q, count.swap);
  record(id, 'single', 'alter-part', shape, q, count.part);
}

/** A pool of fresh checks with their true and tampered answers (drawing 512 fresh checks per trial for mnist-cnn would take minutes). */
function pool(file: ModelFile, evil: ModelFile, n: number): { f: Float64Array; evil: Float64Array }[] {
  return Array.from({ length: n }, () => {
    const x = freshCheckInput(file);
    return { f: referenceForward(file, x), evil: referenceForward(evil, x) };
  });
}

function batch(id: string, plan: PublicPlan, poolSize: number, pairs: number): void {
  const file = load(id);
  const evil = negated(file);
  const capacity = plan.samplesPerRequest;
  const checks = Math.max(BATCH_MIN_CHECKS, Math.min(BATCH_MAX_CHECKS, capacity - 1));
  const tol = checkTolerance(plan, answerPrecision(file), 1, plan.output.size * slotCount(plan.params));
  const sigma = packingNoise(plan.params, plan.output.scale * plan.output.packing.multiplier, plan.output.packing.bits, 1, 1);
  const checksPool = pool(file, evil, poolSize);
  const realPool = pool(file, evil, 64);
  type Request = { slots: { check: boolean; f: Float64Array; evil: Float64Array }[] };
  const request = (): Request => {
    const slots = [{ check: false, ...realPool[Math.floor(random() * realPool.length)]! }, ...Array.from({ length: checks }, () => ({ check: true, ...checksPool[Math.floor(random() * checksPool.length)]! }))];
    return { slots: shuffle(slots) };
  };
  const answer = (r: Request, tampered = false): Float64Array[] => r.slots.map((s) => noisy(tampered ? s.evil : s.f, sigma));
  const passes = (r: Request, out: Float64Array[]): number => (r.slots.every((s, i) => !s.check || within(out[i]!, s.f, tol)) ? 1 : 0);
  const requests = Array.from({ length: TRIALS }, request);
  const partner = Array.from({ length: TRIALS }, request);
  const earlier = Array.from({ length: 50 }, request);
  const shape: CheckShape = { placement: 'slots', checks, rows: 1 };
  const q = collisions(file, evil, tol, pairs);
  const count = { honest: 0, tampered: 0, session: 0, earlier: 0, swap: 0, part: 0 };
  requests.forEach((r, i) => {
    count.honest += passes(r, answer(r));
    count.tampered += passes(r, answer(r, true));
    count.session += passes(r, answer(requests[(i + TRIALS - 1) % TRIALS]!));
    count.earlier += passes(r, answer(earlier[Math.floor(random() * earlier.length)]!));
    // Two requests of one batch, answers exchanged.
    count.swap += passes(r, answer(partner[i]!));
    const out = answer(r);
    const at = Math.floor(random() * out.length);
    out[at] = out[at]!.map((v) => v + 1);
    count.part += passes(r, out);
  });
  expect(count.honest, `${id} batch: honest answers refused`).toBe(TRIALS);
  record(id, 'batch', 'tampered-model', shape, q, count.tampered);
  record(id, 'batch', 'replay-session', shape, q, count.session);
  record(id, 'batch', 'replay-earlier-session', shape, q, count.earlier);
  record(id, 'batch', 'swap', shape, q, count.swap);
  record(id, 'batch', 'alter-part', shape, q, count.part);
}

function separate(id: string, plan: PublicPlan, checks: number, pairs: number): void {
  const file = load(id);
  const evil = negated(file);
  const tol = checkTolerance(plan, answerPrecision(file), plan.output.replicas, plan.output.size);
  const sigma = packingNoise(plan.params, plan.output.scale * plan.output.packing.multiplier, plan.output.packing.bits, plan.output.replicas, 1);
  const checksPool = pool(file, evil, 600);
  const realPool = pool(file, evil, 64);
  type Prediction = { check: boolean; f: Float64Array; evil: Float64Array }[];
  const prediction = (): Prediction => shuffle([{ check: false, ...realPool[Math.floor(random() * realPool.length)]! }, ...Array.from({ length: checks }, () => ({ check: true, ...checksPool[Math.floor(random() * checksPool.length)]! }))]);
  const answer = (p: Prediction, tampered = false): Float64Array[] => p.map((s) => noisy(tampered ? s.evil : s.f, sigma));
  const passes = (p: Prediction, out: Float64Array[]): number => (p.every((s, i) => !s.check || within(out[i]!, s.f, tol)) ? 1 : 0);
  const predictions = Array.from({ length: TRIALS }, prediction);
  const earlier = Array.from({ length: 50 }, prediction);
  const shape: CheckShape = { placement: 'requests', checks };
  const q = collisions(file, evil, tol, pairs);
  const count = { honest: 0, tampered: 0, session: 0, earlier: 0, swap: 0, one: 0 };
  predictions.forEach((p, i) => {
    count.honest += passes(p, answer(p));
    count.tampered += passes(p, answer(p, true));
    count.session += passes(p, answer(predictions[(i + TRIALS - 1) % TRIALS]!));
    count.earlier += passes(p, answer(earlier[Math.floor(random() * earlier.length)]!));
    const out = answer(p);
    const [a, b] = randomPositions(p.length, 2) as [number, number];
    [out[a], out[b]] = [out[b]!, out[a]!];
    count.swap += passes(p, out);
    const replaced = answer(p);
    replaced[Math.floor(random() * replaced.length)] = answer(predictions[(i + 1) % TRIALS]!)[0]!;
    count.one += passes(p, replaced);
  });
  expect(count.honest, `${id} single: honest answers refused`).toBe(TRIALS);
  const mode = `single, ${checks} check request${checks > 1 ? 's' : ''}`;
  record(id, mode, 'tampered-model', shape, q, count.tampered);
  record(id, mode, 'replay-session', shape, q, count.session);
  record(id, mode, 'replay-earlier-session', shape, q, count.earlier);
  record(id, mode, 'swap', shape, q, count.swap);
  record(id, mode, 'replace-one', shape, q, count.one);
}

describe(`known-answer checks: ${TRIALS} simulated trials per attack and mode, next to the computed probability`, () => {
  it.each(['breast-cancer', 'breast-cancer-mlp', 'diabetes-progression'])('%s single: checks inside the ciphertext (replicas)', async (id) => {
    await vectorSingle(id);
  }, 300_000);

  it.each([
    ['breast-cancer', 4000, 20_000],
    ['breast-cancer-mlp', 4000, 20_000],
    ['diabetes-progression', 4000, 20_000],
    ['mnist-cnn', 1000, 1500],
  ] as const)('%s batch: checks in random slots', async (id, poolSize, pairs) => {
    const { seal } = await loadSeal();
    batch(id, compile(seal, load(id), { mode: 'batch' }).public, poolSize, pairs);
  }, 300_000);

  it('mnist-cnn single: 1 and 3 separate check requests', async () => {
    const { seal } = await loadSeal();
    const plan = compile(seal, load('mnist-cnn'), { mode: 'single' }).public;
    separate('mnist-cnn', plan, 1, 2000);
    separate('mnist-cnn', plan, 3, 2000);
  }, 300_000);

  it('prints the table', () => {
    const fmt = (p: number): string => (p === 0 ? '0' : p < 1e-4 ? p.toExponential(1) : p.toFixed(4));
    const lines = rows.map((r) => `| ${r.model} | ${r.mode} | ${r.attack} | ${fmt(r.computed)} | ${fmt(r.measured)} |`);
    console.log(['| model | mode | attack | computed P(undetected) | measured (1,000 trials) |', '|---|---|---|---|---|', ...lines].join('\n'));
    expect(rows.length).toBeGreaterThan(0);
  });
});

