import type { Ciphertext, Plaintext } from 'node-seal';
import type { HeContext } from '../params/context.js';
import { sealCall } from '../seal/runtime.js';
import { ciphertextData, plaintextData } from '../seal/layout.js';
import { free } from '../seal/scope.js';
import { MAC_WASM_BASE64 } from './kernels/mac-wasm.js';

/** The kernel's exports (kernels/mac.wat). Pointers are byte offsets in SEAL's memory. */
interface MacKernel {
  mac(x: number, acc: number, n: number, w: bigint, q: bigint, winv: number): void;
  store(acc: number, out: number, n: number, q: bigint): void;
  mac_small(x: number, acc: number, n: number, w: number, q: number, inv: number): void;
  store_small(acc: number, out: number, n: number, q: number, inv: number): void;
  mac_vec(x: number, d: number, acc: number, n: number, q: bigint, inv: number): void;
  mac_vec_small(x: number, d: number, acc: number, n: number, q: number, inv: number): void;
}

/** The few WebAssembly APIs used here (the DOM lib that declares them is not loaded for Node code). */
interface WasmSync {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: Record<string, Record<string, unknown>>) => { exports: Record<string, unknown> };
}
const Wasm = (globalThis as unknown as { WebAssembly: WasmSync }).WebAssembly;

/** Primes below this keep the kernel's intermediate values exact (see kernels/mac.wat). */
const MAX_PRIME = 2 ** 50;
/** Primes below this use the double-precision SIMD path (x·w < 2^52 is exact). */
const SMALL_PRIME = 2 ** 26;

/**
 * Σ_c w_c·x_c over ciphertexts x_c (all at one level, NTT form, two polynomials) and weights that
 * are scalars (`add`, batch layers) or plaintexts in NTT form (`addPlain`, the diagonals of
 * linear layers: SEAL's multiply_plain), computed by a small WebAssembly kernel (kernels/mac.wat) working directly on SEAL's
 * memory: for each coefficient of each prime, a multiply-accumulate with a floating-point
 * quotient estimate (two at a time in SIMD doubles for primes below 2^26, 64-bit integers
 * otherwise), reduced once at the end. The arithmetic is exact: the same residues as SEAL's.
 *
 * It reads and writes ciphertext coefficients through the layout of SEAL's `Ciphertext` in
 * node-seal 7's 32-bit build (size, degree and prime count at bytes 36–47, the coefficient
 * pointer at byte 80), checked on every access; `PlanEvaluator` also compares its first product
 * of each evaluation with SEAL's, bit for bit, and falls back to SEAL if anything differs.
 */
export class ScalarMac {
  private readonly kernel: MacKernel;
  private readonly primes: bigint[];
  private readonly primeValues: number[];
  /** Accumulator (int64) and a scratch region in SEAL's heap: the data of two plaintexts we own. */
  private readonly accPt: Plaintext;
  private readonly scratchPt: Plaintext;
  private level = -1;
  private terms = 0;
  /**
   * Most terms in one sum: each adds less than 2q in magnitude to an accumulator that must stay
   * exact (below 2^63 for the integer path, 2^53 for the double one): 2^12 either way.
   */
  static readonly maxTerms = 2 ** 12;

  private constructor(
    private readonly ctx: HeContext,
    kernel: MacKernel,
  ) {
    this.kernel = kernel;
    this.primes = ctx.params.primes.map((p) => BigInt(p));
    this.primeValues = ctx.params.primes.map((p) => Number(p));
    const N = ctx.params.polyModulusDegree;
    this.accPt = new ctx.seal.Plaintext();
    this.scratchPt = new ctx.seal.Plaintext();
    const words = 2 * (ctx.topLevel + 1) * N;
    sealCall(ctx.seal, 'seal_failure', 'allocating the accumulator', () => {
      this.accPt.resize(words);
      this.scratchPt.resize(words);
    });
  }

  /** A multiply-accumulate unit for this context, or null when its primes are too large for the kernel. */
  static create(ctx: HeContext): ScalarMac | null {
    // The data primes only (the special prime is never in a ciphertext).
    if (ctx.params.primes.slice(0, ctx.topLevel + 1).some((p) => Number(p) >= MAX_PRIME)) return null;
    const module = new Wasm.Module(Buffer.from(MAC_WASM_BASE64, 'base64'));
    const instance = new Wasm.Instance(module, { env: { memory: ctx.runtime.heapMemory() } });
    const kernel = instance.exports as unknown as MacKernel;
    if ([kernel.mac, kernel.store, kernel.mac_small, kernel.store_small, kernel.mac_vec, kernel.mac_vec_small].some((f) => typeof f !== 'function')) return null;
    return new ScalarMac(ctx, kernel);
  }

  /** The coefficient pointer of a plaintext we own. */
  private plainData(pt: Plaintext): number {
    const data = plaintextData(this.ctx.runtime, pt);
    if (data === null) throw new Error('unexpected plaintext layout');
    return data;
  }

  /** The coefficient pointer of a two-polynomial NTT ciphertext at `level`, its header checked. */
  private cipherData(ct: Ciphertext, level: number): number {
    const data = ciphertextData(this.ctx.runtime, ct, this.ctx.params.polyModulusDegree, level + 1);
    if (data === null) throw new Error('unexpected ciphertext layout or shape');
    return data;
  }

  /** Starts a sum at `level`. */
  begin(level: number): void {
    const count = 2 * (level + 1) * this.ctx.params.polyModulusDegree;
    // All-zero bytes are 0 both as int64 and as a double.
    new Uint8Array(this.ctx.runtime.heapBuffer(), this.plainData(this.accPt), count * 8).fill(0);
    this.level = level;
    this.terms = 0;
  }

  /** Adds round(value × scale)·x (the integer SEAL's encoder would make of the weight, halves away from zero). */
  add(x: Ciphertext, value: number, scale: number): void {
    if (this.terms >= ScalarMac.maxTerms) throw new Error(`more than ${ScalarMac.maxTerms} terms in one sum`);
    const scaled = value * scale;
    const v = Math.sign(scaled) * Math.round(Math.abs(scaled));
    if (!Number.isSafeInteger(v)) throw new Error(`weight ${value} × scale ${scale} is not an exact integer`);
    const N = this.ctx.params.polyModulusDegree;
    const L = this.level + 1;
    const xData = this.cipherData(x, this.level);
    const acc = this.plainData(this.accPt);
    const big = BigInt(v);
    for (let j = 0; j < L; j++) {
      const q = this.primes[j]!;
      let w = big % q;
      if (w < 0n) w += q;
      const qv = this.primeValues[j]!;
      for (let poly = 0; poly < 2; poly++) {
        const offset = (poly * L + j) * N * 8;
        if (qv < SMALL_PRIME) this.kernel.mac_small(xData + offset, acc + offset, N, Number(w), qv, 1 / qv);
        else this.kernel.mac(xData + offset, acc + offset, N, w, q, Number(w) / qv);
      }
    }
    this.terms++;
  }

  /**
   * Adds d·x for a plaintext d in NTT form at the sum's level (what SEAL's multiply_plain computes,
   * coefficient by coefficient: each limb of each polynomial of x times the same limb of d).
   */
  addPlain(x: Ciphertext, d: Plaintext): void {
    if (this.terms >= ScalarMac.maxTerms) throw new Error(`more than ${ScalarMac.maxTerms} terms in one sum`);
    const N = this.ctx.params.polyModulusDegree;
    const L = this.level + 1;
    if (!d.isNttForm() || d.coeffCount() !== N * L) throw new Error('the plaintext is not in NTT form at the sum’s level');
    const xData = this.cipherData(x, this.level);
    const dData = this.plainData(d);
    const acc = this.plainData(this.accPt);
    for (let j = 0; j < L; j++) {
      const qv = this.primeValues[j]!;
      for (let poly = 0; poly < 2; poly++) {
        const offset = (poly * L + j) * N * 8;
        if (qv < SMALL_PRIME) this.kernel.mac_vec_small(xData + offset, dData + j * N * 8, acc + offset, N, qv, 1 / qv);
        else this.kernel.mac_vec(xData + offset, dData + j * N * 8, acc + offset, N, this.primes[j]!, 1 / qv);
      }
    }
    this.terms++;
  }

  /** Writes the sum, reduced, into `target`'s coefficients (a ciphertext at the sum's level). */
  storeInto(target: Ciphertext): void {
    this.reduceTo(this.cipherData(target, this.level));
  }

  /** Whether the sum so far equals `target`'s coefficients, bit for bit (the self-check). */
  equals(target: Ciphertext): boolean {
    const scratch = this.plainData(this.scratchPt);
    this.reduceTo(scratch);
    const bytes = 2 * (this.level + 1) * this.ctx.params.polyModulusDegree * 8;
    const heap = this.ctx.runtime.heapBuffer();
    return Buffer.from(heap, scratch, bytes).equals(Buffer.from(heap, this.cipherData(target, this.level), bytes));
  }

  private reduceTo(out: number): void {
    const N = this.ctx.params.polyModulusDegree;
    const L = this.level + 1;
    const acc = this.plainData(this.accPt);
    for (let j = 0; j < L; j++) {
      const qv = this.primeValues[j]!;
      for (let poly = 0; poly < 2; poly++) {
        const offset = (poly * L + j) * N * 8;
        if (qv < SMALL_PRIME) this.kernel.store_small(acc + offset, out + offset, N, qv, 1 / qv);
        else this.kernel.store(acc + offset, out + offset, N, this.primes[j]!);
      }
    }
  }

  dispose(): void {
    free(this.accPt, this.scratchPt);
  }
}
