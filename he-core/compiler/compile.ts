import type { MainModule } from 'node-seal';
import { HeError } from '../errors.js';
import type { ModelFile } from '../model/format.js';
import { inputSize } from '../model/format.js';
import { primeAt, slotCount, topLevel } from '../params/parameters.js';
import type { HeParameters } from '../params/parameters.js';
import { selectParameters } from '../params/select.js';
import { babySteps, genericDiagonals, hybridDiagonals, nextPow2, rotateSlots } from './diagonals.js';
import type { DiagonalForm } from './diagonals.js';
import { lowerModel, opDepth } from './lower.js';
import type { IrLinear, IrOp } from './lower.js';
import type { InputLayout, LinearStep, Plan, PlanStep, PublicPlan } from './plan.js';
import { answerPrecision, chooseResultPacking } from './packing.js';
import { chooseRotationKeys } from './rotations.js';
import type { RotationUse } from './rotations.js';

export interface CompileOptions {
  /** 'single': one sample per request in the model's single layout; 'batch': one slot per sample. */
  mode?: 'single' | 'batch';
  /** Upper bound for the estimated evaluation-key bytes (relinearisation + Galois); default 9 MB. */
  maxEvaluationKeyBytes?: number;
}

/** Estimated bytes of one seeded, zstd-compressed key-switching key (measured ratio 1.25 over the raw bit count). */
export function estimatedKeyBytes(params: HeParameters): number {
  const decomposition = params.primes.length - 1;
  const bits = params.coeffModulusBits.reduce((a, b) => a + b, 0);
  return Math.round(1.25 * decomposition * (bits / 8) * params.polyModulusDegree);
}

const headroomOf = (v: number): number => Math.max(2, Math.ceil(Math.log2(2 * v + 1)) + 1);

/**
 * Bits above the scale that the first prime needs for the decrypted output: twice the largest
 * output seen in training plus a sign bit, raised towards the worst case over the declared input
 * box (interval arithmetic), but by at most 6 bits: allowed inputs may reach beyond the training
 * data, and an overflow at the last level would decrypt to garbage. Where the worst case needs
 * more, `provenHeadroomBits` asks the parameter selection for what the security budget leaves.
 */
export function outputHeadroomBits(model: ModelFile): number {
  const base = headroomOf(trainedOutputBound(model));
  return Math.min(base + 6, Math.max(base, provenHeadroomBits(model)));
}

/** Bits above the scale that hold the worst case over the declared input box (interval arithmetic). */
export function provenHeadroomBits(model: ModelFile): number {
  return headroomOf(intervalOutputBound(model));
}

function trainedOutputBound(model: ModelFile): number {
  return model.he.valueBounds[model.he.valueBounds.length - 1]!;
}

/** What the accepted bound of a model's answers rests on. */
export interface AcceptedBound {
  bound: number;
  /**
   * `proven`: the interval bound over the declared input box, which the parameters hold (no
   * allowed input can give an answer beyond it); `capacity`: no such proof fits the parameters,
   * so the bound is the largest value they keep exact with room for the range check (1.5 ×).
   */
  basis: 'proven' | 'capacity';
}

/**
 * The largest |output| a client accepts in a decrypted answer (see ResultPacking.bound), given how
 * far the parameters keep outputs exact (`exact` = q0 / (2 × output scale)): the interval bound
 * over the input box when the parameters hold 1.5 × it (a proof for every allowed input),
 * otherwise the largest value they keep exact with that margin, rounded down to three significant
 * digits (mnist-cnn: 21,800; images built to push one logit as far as possible reach 2,361).
 */
export function acceptedOutputBound(model: ModelFile, exact: number): AcceptedBound {
  const worst = Math.max(intervalOutputBound(model), trainedOutputBound(model));
  if (1.5 * worst <= exact) return { bound: worst, basis: 'proven' };
  const capacity = exact / 1.5;
  const unit = 10 ** (Math.floor(Math.log10(capacity)) - 2);
  return { bound: Math.floor(capacity / unit) * unit, basis: 'capacity' };
}

/** Largest |output| over the declared input box, by interval arithmetic on the lowered network. */
export function intervalOutputBound(model: ModelFile): number {
  const n = inputSize(model.input);
  const lo = new Float64Array(n);
  const hi = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const [min, max] = model.input.kind === 'features' ? [model.input.features[i]!.min, model.input.features[i]!.max] : [model.input.min, model.input.max];
    const m = model.preprocess.mean.length > 1 ? model.preprocess.mean[i]! : model.preprocess.mean[0]!;
    const s = model.preprocess.scale.length > 1 ? model.preprocess.scale[i]! : model.preprocess.scale[0]!;
    const a = (min - m) / s;
    const b = (max - m) / s;
    lo[i] = Math.min(a, b);
    hi[i] = Math.max(a, b);
  }
  let low: Float64Array = lo;
  let high: Float64Array = hi;
  for (const op of lowerModel(model, false)) {
    if (op.kind === 'linear') {
      const nl = new Float64Array(op.rows);
      const nh = new Float64Array(op.rows);
      for (let r = 0; r < op.rows; r++) {
        let a = op.bias[r]!;
        let b = op.bias[r]!;
        for (let c = 0; c < op.cols; c++) {
          const w = op.matrix[r * op.cols + c]!;
          a += w >= 0 ? w * low[c]! : w * high[c]!;
          b += w >= 0 ? w * high[c]! : w * low[c]!;
        }
        nl[r] = a;
        nh[r] = b;
      }
      low = nl;
      high = nh;
    } else {
      const e = op.kind === 'cube' ? op.e : 0;
      const f = (x: number): number => (op.kind === 'square' ? x * x : x * x * x + e * x);
      const m = Math.max(...low.map(Math.abs), ...high.map(Math.abs));
      const bound = Math.abs(f(m)) + Math.abs(e) * m;
      low = low.map(() => (op.kind === 'square' ? 0 : -bound));
      high = high.map(() => bound);
    }
  }
  return Math.max(...low.map(Math.abs), ...high.map(Math.abs));
}

function im2colSlots(op: IrLinear): { windowBlock: number; positions: number } {
  const g = op.im2col!;
  const windows = g.outHeight * g.outWidth;
  return { windowBlock: nextPow2(windows), positions: g.channels * g.kernel[0] * g.kernel[1] };
}

function requiredSlots(ir: IrOp[], inputCount: number, batch: boolean): number {
  if (batch) return 1;
  let slots = nextPow2(inputCount);
  for (const op of ir) {
    if (op.kind !== 'linear') continue;
    slots = Math.max(slots, nextPow2(op.rows));
    if (op.im2col) {
      const { windowBlock, positions } = im2colSlots(op);
      slots = Math.max(slots, windowBlock * positions);
    }
  }
  return slots;
}

/** Scale and level bookkeeping exactly as SEAL does it (double arithmetic in the same order). */
class LevelTracker {
  level: number;
  scale: number;
  constructor(private readonly params: HeParameters) {
    this.level = topLevel(params);
    this.scale = 2 ** params.scaleBits;
  }
  prime(): number {
    if (this.level < 1) throw new HeError('params_unsatisfiable', 'the plan ran out of levels');
    return primeAt(this.params, this.level);
  }
  /** ct x pt with the plaintext at the scale of the prime about to be dropped, then rescale. */
  linear(): { levelIn: number; scaleIn: number; scaleOut: number } {
    const q = this.prime();
    const out = { levelIn: this.level, scaleIn: this.scale, scaleOut: (this.scale * q) / q };
    this.level -= 1;
    this.scale = out.scaleOut;
    return out;
  }
  square(): { levelIn: number; scaleIn: number; scaleOut: number } {
    const q = this.prime();
    const out = { levelIn: this.level, scaleIn: this.scale, scaleOut: (this.scale * this.scale) / q };
    this.level -= 1;
    this.scale = out.scaleOut;
    return out;
  }
  cube(): { levelIn: number; scaleIn: number; scaleOut: number } {
    const q1 = this.prime();
    const squared = (this.scale * this.scale) / q1;
    this.level -= 1;
    const q2 = this.prime();
    const out = { levelIn: this.level + 1, scaleIn: this.scale, scaleOut: (squared * this.scale) / q2 };
    this.level -= 1;
    this.scale = out.scaleOut;
    return out;
  }
}

function linearStep(op: IrLinear, form: DiagonalForm, strategy: 'hybrid' | 'generic', at: { levelIn: number; scaleIn: number; scaleOut: number }, slots: number): LinearStep {
  const k = form.diagonals.length;
  const baby = babySteps(k);
  const giant = Math.ceil(k / baby);
  const diagonals: (Float64Array | null)[] = [];
  for (let g = 0; g < giant; g++) {
    for (let b = 0; b < baby; b++) {
      const d = form.diagonals[g * baby + b] ?? null;
      diagonals.push(d ? rotateSlots(d, -form.unit * g * baby) : null);
    }
  }
  const giantSchedule: { group: number; shift: number }[] = [];
  let pending = 0;
  let started = false;
  for (let g = giant - 1; g >= 0; g--) {
    if (started) pending += form.unit * baby;
    const present = diagonals.slice(g * baby, (g + 1) * baby).some((d) => d !== null);
    if (present) {
      giantSchedule.push({ group: g, shift: started ? pending % slots : 0 });
      started = true;
      pending = 0;
    }
  }
  let bias: Float64Array | null = null;
  if (op.bias.some((v) => v !== 0)) {
    bias = new Float64Array(slots);
    for (let j = 0; j < slots; j++) {
      const row = j % form.outPeriod;
      if (row < op.rows) bias[j] = op.bias[row]!;
    }
  }
  return {
    op: 'linear',
    name: op.name,
    strategy,
    rows: op.rows,
    cols: op.cols,
    ...at,
    babyUnit: form.unit,
    baby,
    giant,
    diagonals,
    giantSchedule,
    finalShift: pending % slots,
    blockSums: form.blockSums,
    bias,
    outPeriod: form.outPeriod,
  };
}

function rotationUses(steps: PlanStep[]): RotationUse[] {
  const uses: RotationUse[] = [];
  for (const s of steps) {
    if (s.op !== 'linear') continue;
    const maxBaby = Math.max(0, ...s.diagonals.map((d, i) => (d ? i % s.baby : 0)));
    if (maxBaby > 0) uses.push({ amount: s.babyUnit, level: s.levelIn, count: maxBaby });
    for (const g of s.giantSchedule) if (g.shift) uses.push({ amount: g.shift, level: s.levelIn - 1, count: 1 });
    if (s.finalShift) uses.push({ amount: s.finalShift, level: s.levelIn - 1, count: 1 });
    for (const t of s.blockSums) uses.push({ amount: t, level: s.levelIn - 1, count: 1 });
  }
  return uses;
}

/**
 * Compiles a model into a plan: the smallest 128-bit-secure parameters for its depth and precision,
 * the layout of every tensor, the operations with their levels and scales, and the exact Galois
 * steps. Deterministic: the same model and options always give the same plan.
 */
export function compile(seal: MainModule, model: ModelFile, options: CompileOptions = {}): Plan {
  const batch = options.mode === 'batch';
  const im2colFirst = !batch && model.he.singleLayout === 'im2col';
  const ir = lowerModel(model, im2colFirst);
  const depth = ir.reduce((a, op) => a + opDepth(op), 0);
  const headroomBits = outputHeadroomBits(model);
  const n0 = inputSize(model.input);
  const params = selectParameters(seal, {
    depth,
    scaleBits: model.he.precisionBits,
    headroomBits,
    wantedHeadroomBits: provenHeadroomBits(model),
    minSlots: requiredSlots(ir, n0, batch),
  });
  const slots = slotCount(params);
  const tracker = new LevelTracker(params);
  const steps: PlanStep[] = [];
  let input: InputLayout;
  let period = nextPow2(n0);

  if (batch) {
    input = { kind: 'batch', features: n0 };
  } else if (im2colFirst) {
    const first = ir[0] as IrLinear;
    const g = first.im2col!;
    const { windowBlock, positions } = im2colSlots(first);
    input = { kind: 'im2col', ...g, windowBlock, kernelPositions: positions };
  } else {
    input = { kind: 'vector', size: n0, period };
  }

  ir.forEach((op, index) => {
    if (op.kind === 'square') {
      steps.push({ op: 'square', name: op.name, ...tracker.square() });
      return;
    }
    if (op.kind === 'cube') {
      steps.push({ op: 'cube', name: op.name, e: op.e, ...tracker.cube() });
      return;
    }
    if (batch) {
      steps.push({ op: 'batch-linear', name: op.name, rows: op.rows, cols: op.cols, ...tracker.linear(), weights: op.matrix, bias: op.bias });
      return;
    }
    let form: DiagonalForm;
    let strategy: 'hybrid' | 'generic';
    if (index === 0 && op.im2col) {
      const { windowBlock } = im2colSlots(op);
      const windows = op.im2col.outHeight * op.im2col.outWidth;
      form = genericDiagonals(op, (col) => Math.floor(col / windows) * windowBlock + (col % windows), slots);
      strategy = 'generic';
    } else {
      form = hybridDiagonals(op, period, slots);
      strategy = 'hybrid';
    }
    steps.push(linearStep(op, form, strategy, tracker.linear(), slots));
    period = form.outPeriod;
  });

  if (tracker.level !== 0) throw new HeError('params_unsatisfiable', `the plan ends at level ${tracker.level}, expected 0`);
  const last = ir[ir.length - 1] as IrLinear;
  const relinearization = ir.some((op) => op.kind !== 'linear');
  const keyBytes = estimatedKeyBytes(params);
  const budget = options.maxEvaluationKeyBytes ?? 9_000_000;
  const maxKeys = Math.max(1, Math.floor((budget - (relinearization ? keyBytes : 0)) / keyBytes));
  const rotations = chooseRotationKeys(rotationUses(steps), slots, maxKeys);

  // Single layouts leave the output repeated every `period` slots; the batch layout has one sample per slot.
  const replicas = batch ? 1 : slots / period;
  // The im2col layout fills every slot with one image's windows, so its output replicas hold the same
  // outputs whatever the client sends: the answer can carry c0 only where their mean needs it
  // (ResultPacking.c0Stride). A vector layout's replicas may hold the client's check samples.
  const packingLayout = { replicas, outputs: batch ? slots : last.rows, project: !batch && im2colFirst };
  const packing = chooseResultPacking(params, tracker.scale, acceptedOutputBound(model, Number(params.primes[0]) / (2 * tracker.scale)).bound, answerPrecision(model), packingLayout);
  const publicPlan: PublicPlan = {
    planFormat: packing.c0Stride === undefined ? 1 : 2,
    model: {
      id: model.id,
      version: model.version,
      title: model.title,
      description: model.description,
      task: model.task,
      weightsSha256: model.weightsSha256,
      metrics: model.metrics,
      input: model.input,
      output: model.output,
      preprocess: model.preprocess,
      postprocess: model.postprocess,
      testVectors: model.testVectors,
    },
    layout: batch ? 'batch' : im2colFirst ? 'im2col' : 'vector',
    params,
    galoisSteps: rotations.steps,
    relinearization,
    samplesPerRequest: batch ? slots : 1,
    input: { ...input, count: batch ? n0 : 1, level: topLevel(params), scale: 2 ** params.scaleBits },
    output: {
      kind: batch ? 'batch' : 'slots',
      size: last.rows,
      count: batch ? last.rows : 1,
      level: 0,
      scale: tracker.scale,
      replicas,
      packing,
    },
  };
  return { public: publicPlan, steps, rotationPaths: rotations.paths, depth };
}
