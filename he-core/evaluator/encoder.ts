import type { Plaintext } from 'node-seal';
import type { HeContext } from '../params/context.js';
import { plaintextData, sameParmsId } from '../seal/layout.js';
import { sealCall } from '../seal/runtime.js';
import { free } from '../seal/scope.js';
import { KeySwitchKernel } from './keyswitch.js';

// SEAL 4.1's CKKS encoding of a real vector at the top level (CKKSEncoder::encode_internal for
// doubles), computed here instead of in SEAL's WebAssembly: the same complex roots, the same
// transform (DWTHandler::transform_from_rev) with the same operations in the same order, the same
// rounding and reductions, and the forward NTT of every limb by he-core's key-switching kernel
// (bit-exact to SEAL's ntt_negacyclic_harvey). So the plaintext is SEAL's, bit for bit; the
// first encoding at each scale is checked against SEAL's, and any difference sends this encoder
// back to SEAL for good (`problem` says why).
//
// SEAL's roots come from std::polar, that is musl's cos and sin in node-seal's build; every
// argument is in [0, π/4], where musl calls its kernels __cos and __sin directly. They are
// ported below, operation for operation (JavaScript's Math.cos and Math.sin differ from them in
// the last bit for some arguments).

const S1 = -1.66666666666666324348e-1;
const S2 = 8.33333333332248946124e-3;
const S3 = -1.98412698298579493134e-4;
const S4 = 2.75573137070700676789e-6;
const S5 = -2.50507602534068634195e-8;
const S6 = 1.58969099521155010221e-10;
const C1 = 4.16666666666666019037e-2;
const C2 = -1.38888888888741095749e-3;
const C3 = 2.48015872894767294178e-5;
const C4 = -2.75573143513906633035e-7;
const C5 = 2.08757232129817482790e-9;
const C6 = -1.13596475577881948265e-11;

/** musl's sin(x) for 0 ≤ x ≤ π/4. */
export function muslSin(x: number): number {
  if (x < 2 ** -26) return x;
  const z = x * x;
  const w = z * z;
  const r = S2 + z * (S3 + z * S4) + z * w * (S5 + z * S6);
  const v = z * x;
  return x + v * (S1 + z * r);
}

/** musl's cos(x) for 0 ≤ x ≤ π/4. */
export function muslCos(x: number): number {
  if (x < 1.0536709282860102e-8) return 1; // high word below 0x3e46a09e (about 2^-27·√2)
  const z = x * x;
  const w = z * z;
  const r = z * (C1 + z * (C2 + z * C3)) + w * w * (C4 + z * (C5 + z * C6));
  const hz = 0.5 * z;
  const w1 = 1.0 - hz;
  return w1 + (((1.0 - w1) - hz) + (z * r - x * 0));
}

function reverseBits(value: number, bits: number): number {
  let r = 0;
  for (let i = 0; i < bits; i++) r |= ((value >>> i) & 1) << (bits - 1 - i);
  return r >>> 0;
}

/** SEAL's ComplexRoots(m).get_root(index): the 8-fold symmetry over the first eighth, as (re, im). */
function complexRoot(table: { re: Float64Array; im: Float64Array }, m: number, index: number): [number, number] {
  const i = index & (m - 1);
  if (i <= m / 8) return [table.re[i]!, table.im[i]!];
  if (i <= m / 4) return [table.im[m / 4 - i]!, table.re[m / 4 - i]!];
  if (i <= m / 2) {
    const [re, im] = complexRoot(table, m, m / 2 - i);
    return [-re, im]; // −conj
  }
  if (i <= (3 * m) / 4) {
    const [re, im] = complexRoot(table, m, i - m / 2);
    return [-re, -im];
  }
  const [re, im] = complexRoot(table, m, m - i);
  return [re, -im]; // conj
}

/** Largest |coefficient| handled here: exact in doubles with room for the reductions; larger ones go to SEAL. */
const MAX_COEFF = 2 ** 51;

/**
 * CKKS encoding (see the top of this file): `encode` writes SEAL's plaintext of a real vector at
 * the top level and a given scale. Null from `create` when the kernel cannot serve these primes.
 */
export class FastEncoder {
  private readonly N: number;
  private readonly slots: number;
  private readonly limbs: number;
  private readonly indexMap: Int32Array;
  private readonly rootRe: Float64Array;
  private readonly rootIm: Float64Array;
  private readonly re: Float64Array;
  private readonly im: Float64Array;
  private readonly primes: number[];
  private readonly dataBits: number;
  /** A plaintext of SEAL's encoding at the top level, whose metadata a fresh plaintext takes. */
  private template: Plaintext | null = null;
  private readonly checked = new Set<number>();
  /** Why this encoder now leaves every encoding to SEAL (its first result at some scale differed from SEAL's), or null. */
  problem: string | null = null;
  /** Encodings computed here, and by SEAL (first checks, fallbacks). */
  readonly counts = { here: 0, seal: 0 };

  private constructor(
    private readonly ctx: HeContext,
    private readonly kernel: KeySwitchKernel,
    private readonly ownsKernel: boolean,
  ) {
    const N = ctx.params.polyModulusDegree;
    this.N = N;
    this.slots = N / 2;
    this.limbs = ctx.params.primes.length - 1;
    this.primes = ctx.params.primes.slice(0, -1).map((p) => Number(p));
    this.dataBits = ctx.params.coeffModulusBits.slice(0, -1).reduce((a, b) => a + b, 0);
    const logN = Math.log2(N);
    const m = 2 * N;
    // CKKSEncoder's constructor: matrix_reps_index_map_ and inv_root_powers_.
    this.indexMap = new Int32Array(N);
    let pos = 1;
    for (let i = 0; i < this.slots; i++) {
      this.indexMap[i] = reverseBits((pos - 1) >>> 1, logN);
      this.indexMap[this.slots + i] = reverseBits((m - pos - 1) >>> 1, logN);
      pos = (pos * 3) & (m - 1);
    }
    const eighth = { re: new Float64Array(m / 8 + 1), im: new Float64Array(m / 8 + 1) };
    for (let i = 0; i <= m / 8; i++) {
      const theta = (2 * Math.PI * i) / m;
      eighth.re[i] = muslCos(theta);
      eighth.im[i] = muslSin(theta);
    }
    this.rootRe = new Float64Array(N);
    this.rootIm = new Float64Array(N);
    for (let i = 1; i < N; i++) {
      const [re, im] = complexRoot(eighth, m, reverseBits(i - 1, logN) + 1);
      this.rootRe[i] = re;
      this.rootIm[i] = -im; // conj
    }
    this.re = new Float64Array(N);
    this.im = new Float64Array(N);
  }

  /** An encoder for this context, with its own kernel unless one is given (and kept by the caller); null when the kernel cannot serve these primes. */
  static create(ctx: HeContext, kernel?: KeySwitchKernel): FastEncoder | null {
    if (kernel) return new FastEncoder(ctx, kernel, false);
    const own = KeySwitchKernel.create(ctx);
    return own ? new FastEncoder(ctx, own, true) : null;
  }

  /**
   * `pt` = SEAL's encoding of `values` (at most N/2 real numbers, the rest zero) at the top level
   * and `scale`. Values SEAL would refuse, or too large to handle here, are left to SEAL's encoder
   * (which throws its own errors).
   */
  encode(values: Float64Array, scale: number, pt: Plaintext): void {
    if (this.problem || values.length > this.slots || !(scale > 0 && scale < 2 ** 50) || this.dataBits <= 52) return this.viaSeal(values, scale, pt);
    if (!this.transform(values, scale)) return this.viaSeal(values, scale, pt);
    // The first encoding at each scale is also SEAL's, to compare (the first of all becomes the template).
    const check = this.checked.has(scale) ? null : this.sealEncoding(values, scale);
    try {
      if (check && !this.template) this.template = check;
      this.shape(pt, scale);
      const data = plaintextData(this.ctx.runtime, pt);
      if (data === null) return this.viaSeal(values, scale, pt);
      this.reduceInto(data);
      for (let j = 0; j < this.limbs; j++) this.kernel.forwardNtt(data + j * this.N * 8, j);
      if (check) {
        const theirs = plaintextData(this.ctx.runtime, check);
        const heap = new Uint32Array(this.ctx.runtime.heapBuffer());
        let same = theirs !== null && sameParmsId(this.ctx.runtime, pt, check) && check.scale() === pt.scale() && check.coeffCount() === pt.coeffCount();
        for (let i = 0, words = 2 * this.N * this.limbs; same && i < words; i++) same = heap[data / 4 + i] === heap[theirs! / 4 + i];
        if (!same) {
          this.problem = `the encoding at scale 2^${Math.log2(scale).toFixed(1)} differed from SEAL's`;
          sealCall(this.ctx.seal, 'seal_failure', 'encoding', () => pt.assign(check));
          this.counts.seal++;
          return;
        }
        this.checked.add(scale);
      }
      this.counts.here++;
    } finally {
      // The template keeps SEAL's metadata, never an input's encoding.
      if (check && check === this.template) check.setZero();
      else free(check);
    }
  }

  /** A new plaintext with SEAL's encoding (the caller frees it). */
  private sealEncoding(values: Float64Array, scale: number): Plaintext {
    const pt = new this.ctx.seal.Plaintext();
    try {
      sealCall(this.ctx.seal, 'seal_failure', 'encoding', () => this.ctx.encoder.encode(values, scale, pt));
      return pt;
    } catch (err) {
      free(pt);
      throw err;
    }
  }

  private viaSeal(values: Float64Array, scale: number, pt: Plaintext): void {
    sealCall(this.ctx.seal, 'seal_failure', 'encoding', () => this.ctx.encoder.encode(values, scale, pt));
    this.counts.seal++;
  }

  /** SEAL's conj_values after transform_from_rev with fix = scale / N, real parts in `re`; false if a coefficient is too large (or not finite) for this path. */
  private transform(values: Float64Array, scale: number): boolean {
    const { N, slots, re, im, rootRe, rootIm, indexMap } = this;
    re.fill(0);
    im.fill(0);
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      re[indexMap[i]!] = v;
      re[indexMap[slots + i]!] = v;
      im[indexMap[slots + i]!] = -0;
    }
    let root = 0;
    let gap = 1;
    for (let m = N >> 1; m > 1; m >>= 1) {
      let offset = 0;
      for (let i = 0; i < m; i++) {
        root++;
        const wr = rootRe[root]!;
        const wi = rootIm[root]!;
        for (let x = offset, end = offset + gap; x < end; x++) {
          const y = x + gap;
          const ur = re[x]!;
          const ui = im[x]!;
          const vr = re[y]!;
          const vi = im[y]!;
          re[x] = ur + vr;
          im[x] = ui + vi;
          const dr = ur - vr;
          const di = ui - vi;
          re[y] = dr * wr - di * wi;
          im[y] = dr * wi + di * wr;
        }
        offset += gap << 1;
      }
      gap <<= 1;
    }
    const fix = scale / N;
    root++;
    const sr = rootRe[root]! * fix;
    const si = rootIm[root]! * fix;
    let max = 0;
    for (let x = 0; x < gap; x++) {
      const y = x + gap;
      const ur = re[x]!;
      const ui = im[x]!;
      const vr = re[y]!;
      const vi = im[y]!;
      const a = (ur + vr) * fix;
      const b = (ur - vr) * sr - (ui - vi) * si;
      re[x] = a;
      re[y] = b;
      max = Math.max(max, Math.abs(a), Math.abs(b));
    }
    return max < MAX_COEFF;
  }

  /** Gives `pt` the top level's parms_id, N × L coefficients and `scale`, copying the template's metadata if it has another shape. */
  private shape(pt: Plaintext, scale: number): void {
    this.template ??= this.sealEncoding(new Float64Array(this.slots), scale);
    const template = this.template;
    if (pt !== template && (pt.coeffCount() !== this.N * this.limbs || !pt.isNttForm() || !sameParmsId(this.ctx.runtime, pt, template))) {
      sealCall(this.ctx.seal, 'seal_failure', 'encoding', () => pt.assign(template));
    }
    if (pt.scale() !== scale) pt.setScale(scale);
  }

  /** SEAL's rounding (half away from zero) and reduction of each coefficient modulo each data prime, written as u64 limbs at `data`. */
  private reduceInto(data: number): void {
    const { N, re, im } = this;
    // The rounded coefficients, signed, into `im` (free after the transform).
    for (let i = 0; i < N; i++) {
      const x = re[i]!;
      const a = Math.abs(x);
      let c = Math.floor(a);
      if (a - c >= 0.5) c += 1;
      im[i] = x < 0 ? -c : c;
    }
    const heap = new Uint32Array(this.ctx.runtime.heapBuffer(), data, 2 * N * this.limbs);
    for (let j = 0; j < this.limbs; j++) {
      const q = this.primes[j]!;
      const qinv = 1 / q;
      const base = 2 * j * N;
      for (let i = 0; i < N; i++) {
        const c = im[i]!;
        // |c| < 2^51 and q < 2^50: the quotient estimate is off by at most one and every product
        // is exact; a negative c gives q − (|c| mod q), SEAL's negate_uint_mod, or 0.
        let t = c - Math.floor(c * qinv) * q;
        if (t < 0) t += q;
        else if (t >= q) t -= q;
        const low = t >>> 0;
        heap[base + 2 * i] = low;
        heap[base + 2 * i + 1] = (t - low) / 4294967296;
      }
    }
  }

  dispose(): void {
    free(this.template);
    this.template = null;
    if (this.ownsKernel) this.kernel.dispose();
  }
}
