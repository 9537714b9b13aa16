import type { Ciphertext, Plaintext } from 'node-seal';
import { HeError } from '../errors.js';
import type { BatchLinearStep, CubeStep, LinearStep, Plan, PlanStep } from '../compiler/plan.js';
import type { HeContext } from '../params/context.js';
import { primeAt } from '../params/parameters.js';
import { sealCall } from '../seal/runtime.js';
import { free } from '../seal/scope.js';
import { ConstantWriter } from './constants.js';
import { ScalarMac } from './mac.js';
import { KeySwitchKernel } from './keyswitch.js';
import { ciphertextData } from '../seal/layout.js';
import type { EvaluationKeys } from './evaluation-keys.js';

interface PreparedLinear {
  diagonals: (Plaintext | null)[];
  bias: Plaintext | null;
}

/** Heap budget for cached constant plaintexts (batch layers), per evaluator. */
const CONSTANT_CACHE_BYTES = 256 * 2 ** 20;

/**
 * Where a batch plan can be split across workers: its first step is a batch layer, then only
 * element-wise steps (square, cube) up to a second batch layer, whose index is returned. The
 * first layer's rows are independent; the second layer's sums are split by the first's rows.
 */
export function batchSplit(plan: Plan): { second: number } | null {
  if (plan.steps[0]?.op !== 'batch-linear') return null;
  for (let i = 1; i < plan.steps.length; i++) {
    const op = plan.steps[i]!.op;
    if (op === 'batch-linear') return { second: i };
    if (op !== 'square' && op !== 'cube') return null;
  }
  return null;
}

/** How a `PlanEvaluator` computes; the defaults are the fastest paths that verify. */
export interface EvaluatorOptions {
  /**
   * Whether he-core's WebAssembly kernels may be used (default true): the multiply-accumulate
   * kernel (`ScalarMac`) for the products of batch layers and of the linear layers' diagonals, and
   * the key-switching kernel (`KeySwitchKernel`) for rotations, squares and rescales. Off: SEAL's
   * own operations everywhere, the same bits (the benchmark measures both in one run).
   */
  kernels?: boolean;
  /** With `kernels` on, whether the key-switching kernel may be used too (default true; the benchmark turns it off to measure it alone). */
  keySwitch?: boolean;
  /** Threads for the kernel's key switches at first (default 1; see `keySwitchThreads`). */
  keySwitchThreads?: 1 | 2;
  /**
   * Whether the key-switching kernel's NTTs for primes from 2^26 to below 2^48 may use the fused
   * multiply-add (default true; used only where the machine's is fused, see `KeySwitchKernel.fma`).
   * Off: the 64-bit integer NTTs, the same bits (the benchmark measures both).
   */
  keySwitchFma?: boolean;
  /** With two threads: asked before every key switch; false means one thread for this one (e.g. the other cores are busy). */
  keySwitchThreadsWhile?: () => boolean;
  /**
   * Whether a batch row after the first verified one starts from a copy of its first input, the
   * kernel writing every coefficient (default true; see `kernelRowSum`). Off: every row starts
   * from SEAL's multiply_plain of its first term, the same bits (the benchmark measures both).
   */
  rowFrames?: boolean;
}

/** Relative tolerance when comparing a ciphertext's scale with the plan's. */
const SCALE_TOLERANCE = 1e-9;

/**
 * Runs a plan on ciphertexts with evaluation keys only. The weights are encoded once per model
 * and level, at construction; `evaluate` then only multiplies, rotates, rescales and adds.
 */
export class PlanEvaluator {
  private readonly prepared = new Map<PlanStep, PreparedLinear | Plaintext | null>();
  private readonly constants = new Map<string, Plaintext>();
  private readonly cached = new Set<Plaintext>();
  private constantBytes = 0;
  private readonly writer: ConstantWriter | null;
  /**
   * How batch layers get their scalar weights: written straight into SEAL's heap ('direct'), or
   * encoded as vectors ('encoder', when the installed SEAL build's plaintext layout is not the
   * one `ConstantWriter` knows). The same numbers either way.
   */
  readonly constantPath: 'direct' | 'encoder';
  /** Multiply-accumulate kernel of batch layers (null: SEAL does it; see `macPath`). */
  private mac: ScalarMac | null;
  private macVerified = false;
  /** The product scale of the row that verified the kernel in this evaluation (see kernelRowSum). */
  private macVerifiedScale = 0;
  /** EvaluatorOptions.rowFrames. */
  private readonly rowFrames: boolean;
  /** Why the kernel was turned off, if it was. */
  private macFailure: string | null = null;
  /** Multiply-accumulate kernel of the linear layers' diagonal products (null: SEAL does them; see `diagonalPath`). */
  private diagonalMac: ScalarMac | null;
  /** Per linear step, the product scale whose first kernel product matched SEAL’s in this evaluator. */
  private readonly diagonalVerified = new Map<LinearStep, number>();
  private diagonalFailure: string | null = null;
  /** Rotations, squares (with relinearisation) and rescales by he-core's kernel (null: SEAL's; see `keySwitchPath`). */
  private keySwitch: KeySwitchKernel | null = null;
  /** The operations, by kind, level, path and scale, whose first kernel result matched SEAL's, bit for bit, in this evaluator. */
  private readonly keySwitchVerified = new Set<string>();
  private keySwitchFailure: string | null = null;
  private readonly shares = new Map<string, { rows: number[]; columns: number[] }>();
  private disposed = false;

  constructor(
    readonly ctx: HeContext,
    readonly plan: Plan,
    options: EvaluatorOptions = {},
  ) {
    const kernels = options.kernels ?? true;
    this.rowFrames = options.rowFrames ?? true;
    if (plan.public.params.fingerprint !== ctx.params.fingerprint) throw new HeError('params_mismatch', 'the plan is for another parameter set');
    this.writer = plan.steps.some((s) => s.op === 'batch-linear') ? ConstantWriter.create(ctx) : null;
    this.constantPath = this.writer ? 'direct' : 'encoder';
    this.mac = kernels && plan.steps.some((s) => s.op === 'batch-linear') ? ScalarMac.create(ctx) : null;
    this.diagonalMac = null;
    try {
      this.diagonalMac = kernels && plan.steps.some((s) => s.op === 'linear') ? ScalarMac.create(ctx) : null;
      this.keySwitch = kernels && (options.keySwitch ?? true) ? KeySwitchKernel.create(ctx, { fma: options.keySwitchFma ?? true }) : null;
      this.keySlots = new Set(Object.values(plan.rotationPaths).flat()).size + 1;
      this.keySwitchThreads = options.keySwitchThreads ?? 1;
      if (options.keySwitchThreadsWhile) this.keySwitch?.setThreadsWhile(options.keySwitchThreadsWhile);
      for (const step of plan.steps) {
        if (step.op === 'linear') this.prepared.set(step, this.prepareLinear(step));
        else if (step.op === 'cube') this.prepared.set(step, step.e === 0 ? null : this.constant(step.e, (step.scaleIn * step.scaleIn) / primeAt(ctx.params, step.levelIn), step.levelIn - 1));
      }
    } catch (err) {
      this.dispose();
      throw err;
    }
  }

  /** Encodes values at the given scale, then drops the plaintext to `level`. Caller frees. */
  private encode(values: Float64Array, scale: number, level: number): Plaintext {
    const { seal, encoder, evaluator } = this.ctx;
    const pt = new seal.Plaintext();
    try {
      sealCall(seal, 'seal_failure', 'encoding weights', () => {
        encoder.encode(values, scale, pt);
        if (level < this.ctx.topLevel) evaluator.plainModSwitchToInplace(pt, this.ctx.parmsId(level));
      });
      return pt;
    } catch (err) {
      free(pt);
      throw err;
    }
  }

  /** A constant plaintext (every slot `value`), cached by value, scale and level. */
  private constant(value: number, scale: number, level: number): Plaintext {
    const key = `${value}|${scale}|${level}`;
    let pt = this.constants.get(key);
    if (!pt) {
      pt = this.encode(new Float64Array(this.ctx.slots).fill(value), scale, level);
      // Bounded cache (bytes of WebAssembly heap): the conv layer's few distinct weights stay
      // encoded; a large dense layer's thousands re-encode instead of filling the 4 GiB heap.
      const bytes = this.ctx.params.polyModulusDegree * (level + 1) * 8;
      if (this.constantBytes + bytes <= CONSTANT_CACHE_BYTES) {
        this.constants.set(key, pt);
        this.cached.add(pt);
        this.constantBytes += bytes;
      }
    }
    return pt;
  }

  private releaseConstant(pt: Plaintext): void {
    if (!this.cached.has(pt)) free(pt);
  }

  /**
   * How batch layers accumulate their products: 'kernel' (ScalarMac on SEAL's memory) or 'seal'
   * (multiply_plain and add; when the plan has no batch layer, when the kernel cannot be used,
   * or after it failed its self-check, see `macProblem`).
   */
  get macPath(): 'kernel' | 'seal' {
    return this.mac ? 'kernel' : 'seal';
  }

  /** Why the kernel was turned off during an evaluation, or null. */
  get macProblem(): string | null {
    return this.macFailure;
  }

  /**
   * How linear layers sum their diagonal products within a giant-step group: 'kernel' (ScalarMac
   * with plaintext weights, on SEAL's memory) or 'seal' (multiply_plain and add; when the plan has
   * no linear layer, when the kernel cannot be used, or after it failed its self-check, see
   * `diagonalProblem`). The same bits either way.
   */
  get diagonalPath(): 'kernel' | 'seal' {
    return this.diagonalMac ? 'kernel' : 'seal';
  }

  /** Why the diagonal kernel was turned off during an evaluation, or null. */
  get diagonalProblem(): string | null {
    return this.diagonalFailure;
  }

  /**
   * How rotations, squares (with relinearisation) and rescales are computed: 'kernel' (he-core's
   * WebAssembly key switching, NTTs and modulus switching, on SEAL's memory) or 'seal' (SEAL's
   * rotate_vector, square, relinearize, rescale_to_next; when the kernel cannot be used, e.g. a
   * data prime of 2^50 or more, or after it failed its self-check, see `keySwitchProblem`). The same
   * bits either way.
   */
  get keySwitchPath(): 'kernel' | 'seal' {
    return this.keySwitch ? 'kernel' : 'seal';
  }

  /** Keys the plan switches with: its Galois steps and the relinearisation key. */
  private keySlots = 1;

  /**
   * Threads for the kernel's key switches (rotations, relinearisation): 2 puts a helper thread on
   * the second core (he-core/evaluator/keyswitch-threads.ts), for a request on an otherwise idle
   * service; 1 when other requests keep that core busy. The same bits either way.
   */
  get keySwitchThreads(): 1 | 2 {
    return this.keySwitch?.threads ?? 1;
  }

  /** Whether the key-switching kernel's NTTs use the fused multiply-add (see `EvaluatorOptions.keySwitchFma`). */
  get keySwitchFma(): boolean {
    return this.keySwitch?.fma ?? false;
  }

  /** Key-switching tasks the kernel's helper thread has run, in all (0 on one thread). */
  get keySwitchHelperTasks(): number {
    return this.keySwitch?.helperTasks ?? 0;
  }

  /** Bytes of the helper thread's shared memory (NTT tables, the keys in use, buffers; 0 until first used). */
  get keySwitchSharedBytes(): number {
    return this.keySwitch?.sharedBytes ?? 0;
  }

  set keySwitchThreads(threads: 1 | 2) {
    this.keySwitch?.setThreads(threads, this.keySlots);
  }

  /** Why the key-switching kernel was turned off, or null. */
  get keySwitchProblem(): string | null {
    return this.keySwitchFailure;
  }

  /** The kernel is turned off for this evaluator; SEAL does its operations from now on. */
  private keySwitchFailed(err: unknown): void {
    this.keySwitchFailure = err instanceof Error ? err.message : String(err);
    this.keySwitch?.dispose();
    this.keySwitch = null;
  }

  /**
   * Rescales `ct` in place (SEAL's rescale_to_next_inplace), by the kernel when there is one: its
   * first rescale at each level is also done by SEAL and must equal it bit for bit. The kernel
   * checks the ciphertext before it changes anything, so SEAL can take over after a refusal.
   */
  private rescaleInplace(ct: Ciphertext): void {
    const { evaluator } = this.ctx;
    const kernel = this.keySwitch;
    if (kernel) {
      const key = `rescale|${ct.coeffModulusSize()}|${ct.scale()}`;
      const reference = this.keySwitchVerified.has(key) ? null : ct.copy();
      try {
        if (reference) evaluator.rescaleToNextInplace(reference);
        try {
          kernel.rescale(ct);
        } catch (err) {
          this.keySwitchFailed(err);
          if (reference) ct.assign(reference);
          else evaluator.rescaleToNextInplace(ct);
          return;
        }
        if (reference) {
          if (sameCoefficients(this.ctx, ct, reference)) this.keySwitchVerified.add(key);
          else {
            this.keySwitchFailed(new Error('its rescale differs from SEAL’s'));
            ct.assign(reference);
          }
        }
        return;
      } finally {
        free(reference);
      }
    }
    evaluator.rescaleToNextInplace(ct);
  }

  /**
   * Multiplies by the scalar `value` encoded at `scale` (a new ciphertext): through the constant
   * writer when there is one, else through the (bounded) cache of encoded constants.
   */
  private multiplyScalar(x: Ciphertext, value: number, scale: number, level: number): Ciphertext {
    const { seal, evaluator } = this.ctx;
    const direct = this.writer?.write(value, scale, level) ?? null;
    const pt = direct ?? this.constant(value, scale, level);
    const out = new seal.Ciphertext();
    try {
      evaluator.multiplyPlain(x, pt, out);
      return out;
    } catch (err) {
      free(out);
      throw err;
    } finally {
      if (!direct) this.releaseConstant(pt);
    }
  }

  /** Adds the scalar `value` encoded at `scale` in place. */
  private addScalar(x: Ciphertext, value: number, scale: number, level: number): void {
    const direct = this.writer?.write(value, scale, level) ?? null;
    const pt = direct ?? this.constant(value, scale, level);
    try {
      this.ctx.evaluator.addPlainInplace(x, pt);
    } finally {
      if (!direct) this.releaseConstant(pt);
    }
  }

  private prepareLinear(step: LinearStep): PreparedLinear {
    const q = primeAt(this.ctx.params, step.levelIn);
    const prepared: PreparedLinear = { diagonals: [], bias: null };
    this.prepared.set(step, prepared);
    for (const d of step.diagonals) {
      const pt = d ? this.encode(d, q, step.levelIn) : null;
      // Weights below the scale's resolution encode to zero; SEAL refuses a product that is zero.
      if (pt?.isZero()) {
        free(pt);
        prepared.diagonals.push(null);
      } else prepared.diagonals.push(pt);
    }
    if (step.bias) prepared.bias = this.encode(step.bias, step.scaleOut, step.levelIn - 1);
    return prepared;
  }

  private rotate(ct: Ciphertext, amount: number, keys: EvaluationKeys): Ciphertext {
    const { seal, evaluator } = this.ctx;
    const path = this.plan.rotationPaths[amount];
    if (!path || !keys.galois) throw new HeError('keys_missing', `no Galois key path for a rotation by ${amount}`);
    const galois = keys.galois;
    if (this.keySwitch) {
      const rotated = this.kernelRotate(this.keySwitch, ct, path, keys);
      if (rotated) return rotated;
    }
    const out = new seal.Ciphertext();
    try {
      sealCall(seal, 'seal_failure', 'rotating', () => {
        evaluator.rotateVector(ct, path[0]!, galois, out);
        for (const s of path.slice(1)) evaluator.rotateVectorInplace(out, s, galois);
      });
    } catch (err) {
      free(out);
      throw err;
    }
    return out;
  }

  /**
   * A rotation by the kernel, or null (and the kernel stops being used) if anything about it is
   * off. The first rotation of each level and path in this evaluator is also computed by SEAL and
   * must equal it bit for bit (one SEAL rotation per level and path, in the first evaluations).
   * SEAL's own errors (in that check) propagate as they would without the kernel.
   */
  private kernelRotate(kernel: KeySwitchKernel, ct: Ciphertext, path: readonly number[], keys: EvaluationKeys): Ciphertext | null {
    const { seal, evaluator } = this.ctx;
    const galois = keys.galois!;
    const key = `rotate|${ct.coeffModulusSize()}|${path.join(',')}`;
    const out = new seal.Ciphertext();
    let check: Ciphertext | null = null;
    try {
      kernel.rotate(ct, path, galois, out);
      if (!this.keySwitchVerified.has(key)) {
        check = new seal.Ciphertext();
        const reference = check;
        sealCall(seal, 'seal_failure', 'rotating', () => {
          evaluator.rotateVector(ct, path[0]!, galois, reference);
          for (const s of path.slice(1)) evaluator.rotateVectorInplace(reference, s, galois);
        });
        if (!sameCoefficients(this.ctx, out, reference)) throw new Error('its rotation differs from SEAL’s');
        this.keySwitchVerified.add(key);
      }
      return out;
    } catch (err) {
      free(out);
      this.keySwitchFailed(err);
      return null;
    } finally {
      free(check);
    }
  }

  private rotateInplace(ct: Ciphertext, amount: number, keys: EvaluationKeys): void {
    const rotated = this.rotate(ct, amount, keys);
    ct.assign(rotated);
    free(rotated);
  }

  private linear(step: LinearStep, x: Ciphertext, keys: EvaluationKeys): Ciphertext {
    const { evaluator } = this.ctx;
    const prepared = this.prepared.get(step) as PreparedLinear;
    const maxBaby = Math.max(0, ...step.diagonals.map((d, i) => (d ? i % step.baby : 0)));
    const babies: Ciphertext[] = [x];
    let acc: Ciphertext | null = null;
    try {
      for (let b = 1; b <= maxBaby; b++) babies.push(this.rotate(babies[b - 1]!, step.babyUnit, keys));
      for (const { group, shift } of step.giantSchedule) {
        const terms: { x: Ciphertext; pt: Plaintext }[] = [];
        for (let b = 0; b < step.baby; b++) {
          const pt = prepared.diagonals[group * step.baby + b];
          if (pt) terms.push({ x: babies[b]!, pt });
        }
        const groupSum = this.diagonalSum(step, terms, step.levelIn);
        this.rescaleInplace(groupSum);
        if (acc) {
          if (shift) this.rotateInplace(acc, shift, keys);
          evaluator.addInplace(acc, groupSum);
          free(groupSum);
        } else acc = groupSum;
      }
      if (!acc) throw new HeError('model_unsupported', `layer ${step.name} has no non-zero weights`);
      if (step.finalShift) this.rotateInplace(acc, step.finalShift, keys);
      for (const t of step.blockSums) {
        const rotated = this.rotate(acc, t, keys);
        evaluator.addInplace(acc, rotated);
        free(rotated);
      }
      if (prepared.bias) evaluator.addPlainInplace(acc, prepared.bias);
      const out = acc;
      acc = null;
      return out;
    } finally {
      free(acc, ...babies.slice(1));
    }
  }

  /**
   * Σ pt·x over a giant-step group's terms (at least one, all at `level`, all of `step`): a new
   * ciphertext. Through the diagonal kernel when there is one, else SEAL's multiply_plain and add.
   */
  private diagonalSum(step: LinearStep, terms: readonly { x: Ciphertext; pt: Plaintext }[], level: number): Ciphertext {
    const mac = this.diagonalMac;
    if (mac && terms.length <= ScalarMac.maxTerms) {
      const sum = this.diagonalKernelSum(mac, step, terms, level);
      if (sum) return sum;
    }
    const { seal, evaluator } = this.ctx;
    const acc = new seal.Ciphertext();
    try {
      evaluator.multiplyPlain(terms[0]!.x, terms[0]!.pt, acc);
      for (const { x, pt } of terms.slice(1)) {
        const term = new seal.Ciphertext();
        try {
          evaluator.multiplyPlain(x, pt, term);
          evaluator.addInplace(acc, term);
        } finally {
          free(term);
        }
      }
      return acc;
    } catch (err) {
      free(acc);
      throw err;
    }
  }

  /**
   * The group's sum through the kernel, or null (and the kernel stops being used) if anything
   * about it is off; SEAL's own errors propagate. The first group of each layer in this evaluator
   * (per scale) starts from SEAL's product of its first term (SEAL checks the scale and sets the
   * metadata), and the kernel's product of that term must equal it bit for bit, as the first
   * rotation of each level and path must (`kernelRotate`). Every later group starts from a copy of
   * its first input with the scale SEAL would give the product (the same double product, checked
   * equal to the verified one), and the kernel overwrites its coefficients.
   */
  private diagonalKernelSum(mac: ScalarMac, step: LinearStep, terms: readonly { x: Ciphertext; pt: Plaintext }[], level: number): Ciphertext | null {
    const { seal, evaluator } = this.ctx;
    const first = terms[0]!;
    const scale = first.x.scale() * first.pt.scale();
    const verify = this.diagonalVerified.get(step) !== scale;
    let acc: Ciphertext;
    if (verify) {
      acc = new seal.Ciphertext();
      try {
        evaluator.multiplyPlain(first.x, first.pt, acc);
      } catch (err) {
        free(acc);
        throw err;
      }
    } else {
      acc = first.x.copy();
      acc.setScale(scale);
    }
    try {
      mac.begin(level);
      mac.addPlain(first.x, first.pt);
      if (verify) {
        if (!mac.equals(acc)) throw new Error('its product differs from SEAL’s');
        if (acc.scale() !== scale) throw new Error('SEAL’s product has another scale');
        this.diagonalVerified.set(step, scale);
      }
      for (const { x, pt } of terms.slice(1)) mac.addPlain(x, pt);
      mac.storeInto(acc);
      return acc;
    } catch (err) {
      free(acc);
      this.diagonalFailure = err instanceof Error ? err.message : String(err);
      this.diagonalMac?.dispose();
      this.diagonalMac = null;
      return null;
    }
  }

  /**
   * One batch layer (one sample per slot): out_r = Σ_c w_rc·x_c for the given rows, then one
   * rescale per row. `input(c)` is the ciphertext of column c, or undefined for a column another
   * worker holds (a partial sum; a row with nothing here is null). The bias is added unless
   * `partial`. The first product of a row comes from SEAL (the result's metadata: level, scale);
   * the rest are accumulated by the ScalarMac kernel when there is one, else by SEAL.
   */
  private batchLinear(step: BatchLinearStep, input: (c: number) => Ciphertext | undefined, rows: readonly number[], partial: boolean): (Ciphertext | null)[] {
    const q = primeAt(this.ctx.params, step.levelIn);
    const out: (Ciphertext | null)[] = [];
    try {
      for (const r of rows) {
        const terms: { x: Ciphertext; w: number }[] = [];
        for (let c = 0; c < step.cols; c++) {
          const w = step.weights[r * step.cols + c]!;
          const x = input(c);
          // Below the scale's resolution a weight encodes to zero, and SEAL refuses a zero product.
          if (x && Math.abs(w * q) >= 1) terms.push({ x, w });
        }
        if (terms.length === 0) {
          if (!partial) throw new HeError('model_unsupported', `row ${r} of layer ${step.name} has no non-zero weight`);
          out.push(null);
          continue;
        }
        const acc = this.rowSum(terms, q, step.levelIn);
        try {
          this.rescaleInplace(acc);
          if (!partial) this.addBias(step, r, acc);
        } catch (err) {
          free(acc);
          throw err;
        }
        out.push(acc);
      }
      return out;
    } catch (err) {
      free(...out);
      throw err;
    }
  }

  /** Σ w·x over the terms (at least one), each weight encoded at `scale`: a new ciphertext. */
  private rowSum(terms: readonly { x: Ciphertext; w: number }[], scale: number, level: number): Ciphertext {
    const verified = this.kernelRowSum(terms, scale, level);
    if (verified) return verified;
    const acc = this.multiplyScalar(terms[0]!.x, terms[0]!.w, scale, level);
    try {
      if (terms.length > 1 && terms.length <= ScalarMac.maxTerms && this.mac && this.kernelSum(this.mac, terms, scale, level, acc)) return acc;
      for (const { x, w } of terms.slice(1)) {
        const term = this.multiplyScalar(x, w, scale, level);
        try {
          this.ctx.evaluator.addInplace(acc, term);
        } finally {
          free(term);
        }
      }
      return acc;
    } catch (err) {
      free(acc);
      throw err;
    }
  }

  /**
   * After the first row of an evaluation (whose kernel product was checked against SEAL's, see
   * `kernelSum`), a row's sum starts from a copy of its first input with the scale SEAL would give
   * the product (the same double product as the verified row's, checked equal), and the kernel
   * overwrites the coefficients: SEAL's multiply_plain of the first term (3.3 ms for a mnist-cnn
   * pixel, about a quarter of a batch evaluation) only served as the frame. Null when this does
   * not apply or the kernel fails (the caller then goes SEAL's way from the start).
   */
  private kernelRowSum(terms: readonly { x: Ciphertext; w: number }[], scale: number, level: number): Ciphertext | null {
    const mac = this.mac;
    if (!mac || !this.rowFrames || !this.macVerified || terms.length < 2 || terms.length > ScalarMac.maxTerms) return null;
    const first = terms[0]!.x;
    const productScale = first.scale() * scale;
    if (productScale !== this.macVerifiedScale) return null;
    const acc = first.copy();
    try {
      acc.setScale(productScale);
      mac.begin(level);
      for (const { x, w } of terms) mac.add(x, w, scale);
      mac.storeInto(acc);
      return acc;
    } catch (err) {
      free(acc);
      this.macFailed(err);
      return null;
    }
  }

  /**
   * The row's sum through the kernel, written into `acc` (which holds SEAL's product of the first
   * term). The first time in an evaluation, the kernel's first product must equal SEAL's bit for
   * bit. Returns false (and stops using the kernel) if anything about it is off; `acc` is then
   * untouched and the caller continues with SEAL.
   */
  private kernelSum(mac: ScalarMac, terms: readonly { x: Ciphertext; w: number }[], scale: number, level: number, acc: Ciphertext): boolean {
    try {
      mac.begin(level);
      mac.add(terms[0]!.x, terms[0]!.w, scale);
      if (!this.macVerified) {
        if (!mac.equals(acc)) throw new Error('its product differs from SEAL’s');
        this.macVerified = true;
        this.macVerifiedScale = acc.scale();
      }
      for (const { x, w } of terms.slice(1)) mac.add(x, w, scale);
      mac.storeInto(acc);
      return true;
    } catch (err) {
      this.macFailed(err);
      return false;
    }
  }

  /** Stops using the multiply-accumulate kernel (SEAL does the rest) and keeps why. */
  private macFailed(err: unknown): void {
    this.macFailure = err instanceof Error ? err.message : String(err);
    this.mac?.dispose();
    this.mac = null;
  }

  private addBias(step: BatchLinearStep, row: number, acc: Ciphertext): void {
    if (step.bias[row] !== 0) this.addScalar(acc, step.bias[row]!, step.scaleOut, step.levelIn - 1);
  }

  private square(x: Ciphertext, keys: EvaluationKeys): Ciphertext {
    const { seal, evaluator } = this.ctx;
    if (!keys.relin) throw new HeError('keys_missing', 'this plan needs a relinearisation key');
    const relin = keys.relin;
    const kernel = this.keySwitch;
    if (kernel) {
      // The kernel's square + relinearisation, checked against SEAL's the first time at each level and scale.
      const key = `square|${x.coeffModulusSize()}|${x.scale()}`;
      const out = new seal.Ciphertext();
      let reference: Ciphertext | null = null;
      try {
        kernel.squareRelinearize(x, relin, out);
        if (!this.keySwitchVerified.has(key)) {
          reference = new seal.Ciphertext();
          evaluator.square(x, reference);
          evaluator.relinearizeInplace(reference, relin);
          if (!sameCoefficients(this.ctx, out, reference)) throw new Error('its square differs from SEAL’s');
          this.keySwitchVerified.add(key);
        }
        this.rescaleInplace(out);
        return out;
      } catch (err) {
        free(out);
        this.keySwitchFailed(err);
      } finally {
        free(reference);
      }
    }
    const out = new seal.Ciphertext();
    try {
      evaluator.square(x, out);
      evaluator.relinearizeInplace(out, relin);
      this.rescaleInplace(out);
    } catch (err) {
      free(out);
      throw err;
    }
    return out;
  }

  private cube(step: CubeStep, x: Ciphertext, keys: EvaluationKeys): Ciphertext {
    const { seal, evaluator } = this.ctx;
    const squared = this.square(x, keys);
    const lowered = new seal.Ciphertext();
    try {
      const e = this.prepared.get(step) as Plaintext | null;
      if (e) evaluator.addPlainInplace(squared, e);
      evaluator.cipherModSwitchToNext(x, lowered);
      evaluator.multiplyInplace(squared, lowered);
      evaluator.relinearizeInplace(squared, keys.relin!);
      this.rescaleInplace(squared);
      return squared;
    } catch (err) {
      free(squared);
      throw err;
    } finally {
      free(lowered);
    }
  }

  /** Checks that inputs have the count, level, scale and size the plan expects. */
  private checkInputs(inputs: Ciphertext[]): void {
    const expected = this.plan.public.input;
    if (inputs.length !== expected.count) throw new HeError('ciphertext_mismatch', `expected ${expected.count} input ciphertexts, got ${inputs.length}`);
    for (const ct of inputs) this.checkLevelScale(ct, expected.level, expected.scale, 'an input ciphertext');
  }

  private checkLevelScale(ct: Ciphertext, expectedLevel: number, expectedScale: number, what: string): void {
    const pid = ct.parmsId();
    const level = this.ctx.levelOf(pid);
    free(pid);
    if (level !== expectedLevel) throw new HeError('ciphertext_mismatch', `${what} is at level ${level}, expected ${expectedLevel}`);
    if (ct.size() !== 2) throw new HeError('ciphertext_mismatch', `${what} has ${ct.size()} polynomials, expected 2`);
    if (Math.abs(ct.scale() - expectedScale) > SCALE_TOLERANCE * expectedScale) {
      throw new HeError('ciphertext_mismatch', `${what} has scale 2^${Math.log2(ct.scale()).toFixed(3)}, expected 2^${Math.log2(expectedScale).toFixed(3)}`);
    }
  }

  /**
   * Runs the plan. Inputs stay owned by the caller; the returned ciphertexts (at level 0, at the
   * plan's output scale) are the caller's to free.
   */
  evaluate(inputs: Ciphertext[], keys: EvaluationKeys): Ciphertext[] {
    this.checkUsable();
    this.macVerified = false;
    this.checkInputs(inputs);
    return this.runSteps(this.plan.steps, inputs, keys, false);
  }

  /**
   * The first batch layer's rows of share `part` of `parts`, and the input columns it loads. Rows
   * are ordered by their first input column and cut into contiguous blocks, so that a share of a
   * convolution needs only the pixels under its windows (mnist-cnn: about 60% of them each).
   * Every column is loaded by some share: a column no row uses goes to share (column mod parts),
   * so every input of the request is still checked.
   */
  shareOf(part: number, parts: number): { rows: number[]; columns: number[] } {
    const key = `${part}/${parts}`;
    const known = this.shares.get(key);
    if (known) return known;
    const share = this.computeShare(part, parts);
    this.shares.set(key, share);
    return share;
  }

  private computeShare(part: number, parts: number): { rows: number[]; columns: number[] } {
    const split = batchSplit(this.plan);
    if (!split) throw new HeError('model_unsupported', 'this plan cannot be split across workers');
    if (!(Number.isInteger(parts) && parts >= 1 && Number.isInteger(part) && part >= 0 && part < parts)) throw new RangeError(`part ${part} of ${parts}`);
    const first = this.plan.steps[0] as BatchLinearStep;
    const q = primeAt(this.ctx.params, first.levelIn);
    const used = (r: number, c: number): boolean => Math.abs(first.weights[r * first.cols + c]! * q) >= 1;
    const firstColumn = (r: number): number => {
      for (let c = 0; c < first.cols; c++) if (used(r, c)) return c;
      return first.cols;
    };
    const order = Array.from({ length: first.rows }, (_, r) => r).sort((a, b) => firstColumn(a) - firstColumn(b) || a - b);
    const from = Math.floor((part * first.rows) / parts);
    const to = Math.floor(((part + 1) * first.rows) / parts);
    const rows = order.slice(from, to).sort((a, b) => a - b);
    const columns: number[] = [];
    for (let c = 0; c < first.cols; c++) {
      const mine = rows.some((r) => used(r, c));
      const anyone = mine || Array.from({ length: first.rows }, (_, r) => r).some((r) => used(r, c));
      if (mine || (!anyone && c % parts === part)) columns.push(c);
    }
    return { rows, columns };
  }

  /**
   * One of `parts` shares of a batch request (see `batchSplit`, `shareOf`): its rows of the first
   * batch layer, the element-wise steps after it on those rows, and the second batch layer's sums
   * over those rows only (rescaled, without bias; null where this share has no weight). `inputs`
   * holds the share's columns (`shareOf(...).columns`), in that order. Inputs stay the caller's;
   * the partial sums are the caller's to free.
   */
  evaluatePart(inputs: readonly Ciphertext[], keys: EvaluationKeys, part: number, parts: number): (Ciphertext | null)[] {
    this.checkUsable();
    this.macVerified = false;
    const split = batchSplit(this.plan)!;
    const { rows, columns } = this.shareOf(part, parts);
    if (inputs.length !== columns.length) throw new HeError('ciphertext_mismatch', `share ${part} of ${parts} takes ${columns.length} input ciphertexts, got ${inputs.length}`);
    const expected = this.plan.public.input;
    for (const ct of inputs) this.checkLevelScale(ct, expected.level, expected.scale, 'an input ciphertext');
    const byInput = new Map(columns.map((c, i) => [c, inputs[i]!]));
    const first = this.plan.steps[0] as BatchLinearStep;
    const second = this.plan.steps[split.second] as BatchLinearStep;
    const mine = this.guard(first, () => this.batchLinear(first, (c) => byInput.get(c), rows, false)) as Ciphertext[];
    let current: Ciphertext[] = mine;
    try {
      current = this.runSteps(this.plan.steps.slice(1, split.second), current, keys, true);
      const byColumn = new Map(rows.map((r, i) => [r, current[i]!]));
      return this.guard(second, () => this.batchLinear(second, (c) => byColumn.get(c), Array.from({ length: second.rows }, (_, r) => r), true));
    } finally {
      free(...current);
    }
  }

  /**
   * Joins the shares of `evaluatePart`: sums the partial sums of each row of the second batch
   * layer, adds its bias, and runs the rest of the plan. The partial sums stay the caller's.
   */
  evaluateMerge(partials: (Ciphertext | null)[][], keys: EvaluationKeys): Ciphertext[] {
    this.checkUsable();
    this.macVerified = false;
    const split = batchSplit(this.plan);
    if (!split) throw new HeError('model_unsupported', 'this plan cannot be split across workers');
    const second = this.plan.steps[split.second] as BatchLinearStep;
    const merged: Ciphertext[] = [];
    try {
      for (let r = 0; r < second.rows; r++) {
        const terms = partials.map((p) => p[r]).filter((ct): ct is Ciphertext => ct !== null && ct !== undefined);
        if (terms.length === 0) throw new HeError('model_unsupported', `row ${r} of layer ${second.name} has no non-zero weight`);
        for (const ct of terms) this.checkLevelScale(ct, second.levelIn - 1, second.scaleOut, `a partial sum of ${second.name}`);
        const acc = terms[0]!.copy();
        merged.push(acc);
        this.guard(second, () => {
          for (const ct of terms.slice(1)) this.ctx.evaluator.addInplace(acc, ct);
          this.addBias(second, r, acc);
        });
      }
    } catch (err) {
      free(...merged);
      throw err;
    }
    return this.runSteps(this.plan.steps.slice(split.second + 1), merged, keys, true);
  }

  private checkUsable(): void {
    if (this.disposed) throw new HeError('seal_failure', 'this evaluator was disposed');
  }

  /** Runs `fn` for a step; SEAL's exceptions become HeErrors that name the step. */
  private guard<T>(step: PlanStep, fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      if (err instanceof HeError) throw err;
      throw new HeError('seal_failure', `evaluating ${step.name}: ${sealMessage(this.ctx, err)}`);
    }
  }

  /** Every ciphertext made by `make`, or none (those made are freed when one fails). */
  private mapAll(cts: Ciphertext[], make: (ct: Ciphertext) => Ciphertext): Ciphertext[] {
    const out: Ciphertext[] = [];
    try {
      for (const ct of cts) out.push(make(ct));
      return out;
    } catch (err) {
      free(...out);
      throw err;
    }
  }

  /**
   * Runs `steps` from `inputs`. With `consume`, the inputs are this call's to free (also on
   * failure); otherwise they stay the caller's. The result is the caller's.
   */
  private runSteps(steps: readonly PlanStep[], inputs: Ciphertext[], keys: EvaluationKeys, consume: boolean): Ciphertext[] {
    let current: Ciphertext[] = inputs;
    const owned = (cts: Ciphertext[]): boolean => consume || cts !== inputs;
    try {
      for (const step of steps) {
        const next = this.guard(step, (): Ciphertext[] => {
          switch (step.op) {
            case 'linear':
              return [this.linear(step, current[0]!, keys)];
            case 'batch-linear':
              return this.batchLinear(step, (c) => current[c], Array.from({ length: step.rows }, (_, r) => r), false) as Ciphertext[];
            case 'square':
              return this.mapAll(current, (ct) => this.square(ct, keys));
            case 'cube':
              return this.mapAll(current, (ct) => this.cube(step, ct, keys));
          }
        });
        if (owned(current)) free(...current);
        current = next;
      }
      const result = current;
      current = [];
      return result;
    } finally {
      if (owned(current)) free(...current);
    }
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const p of this.prepared.values()) {
      if (!p) continue;
      if ('diagonals' in p) free(...p.diagonals, p.bias);
      else free(p);
    }
    free(...this.constants.values());
    this.writer?.dispose();
    this.mac?.dispose();
    this.mac = null;
    this.diagonalMac?.dispose();
    this.diagonalMac = null;
    this.keySwitch?.dispose();
    this.keySwitch = null;
    this.prepared.clear();
    this.constants.clear();
    this.cached.clear();
  }
}

function levelOf(ctx: HeContext, ct: Ciphertext): number {
  const pid = ct.parmsId();
  try {
    return ctx.levelOf(pid);
  } finally {
    free(pid);
  }
}

/** Whether two two-polynomial NTT ciphertexts at one level have the same metadata and coefficients, bit for bit. */
function sameCoefficients(ctx: HeContext, a: Ciphertext, b: Ciphertext): boolean {
  const primes = a.coeffModulusSize();
  if (b.coeffModulusSize() !== primes || a.scale() !== b.scale() || a.isNttForm() !== b.isNttForm() || levelOf(ctx, a) !== levelOf(ctx, b)) return false;
  const N = ctx.params.polyModulusDegree;
  const pa = ciphertextData(ctx.runtime, a, N, primes);
  const pb = ciphertextData(ctx.runtime, b, N, primes);
  if (pa === null || pb === null) return false;
  const heap = ctx.runtime.heapBuffer();
  return Buffer.from(heap, pa, 2 * N * primes * 8).equals(Buffer.from(heap, pb, 2 * N * primes * 8));
}

function sealMessage(ctx: HeContext, err: unknown): string {
  try {
    return sealCall(ctx.seal, 'seal_failure', 'seal', () => {
      throw err;
    });
  } catch (e) {
    return (e as Error).message;
  }
}
