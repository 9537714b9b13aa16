import type { Ciphertext } from 'node-seal';
import { HeError } from '../errors.js';
import type { ResultPacking } from '../compiler/plan.js';
import type { HeContext } from '../params/context.js';
import { ciphertextData } from '../seal/layout.js';
import { sealCall } from '../seal/runtime.js';
import { free } from '../seal/scope.js';

// A packed answer: one level-0 ciphertext (c0, c1) with each coefficient switched from the last
// prime q0 to a few bits (the compression of Kyber's ciphertexts, Compress_q(x, d) =
// round(2^d / q · x) mod 2^d), after multiplying it by an integer that spends the headroom the
// parameters keep above the answer's accepted range (see compiler/packing.ts). breast-cancer-mlp:
// 37-bit coefficients become 19 and 26 bits (46.1 kB); mnist-cnn: c0's every 256th coefficient at
// 42 bits and c1 at 32 bits, 32.9 kB instead of 92 kB (SEAL's serialisation with zstd).
//
//   "CCPR" | version u8 (1; 2 with a stride) | bits of c0 u8 | bits of c1 u8 | log2 of c0's stride u8
//   | multiplier u32 | degree u32 | c0: N / stride values of bits0 | c1: N values of bits1
//
// c0's stride is 1 (every coefficient) unless the plan says otherwise (ResultPacking.c0Stride:
// outputs replicated by construction, whose mean needs only c0's coefficients i·stride).
//
// Little-endian; each polynomial is one continuous bit stream, values least significant bit
// first (stream bit t is bit t mod 8 of byte t / 8), padded to a whole byte (docs/protocol.md, 7). Every field must equal what the public plan says, and the length must be exact,
// so a reader allocates nothing a provider chose.

const MAGIC = [0x43, 0x43, 0x50, 0x52];
/** Version 1: every coefficient of c0 (byte 7 is 0); 2: c0 at a stride (byte 7 is its log2). */
const versionOf = (stride: number): number => (stride === 1 ? 1 : 2);
const HEADER_BYTES = 16;

/** Bytes of one packed answer for these parameters. */
export function packedResultBytes(polyModulusDegree: number, packing: ResultPacking): number {
  return HEADER_BYTES + Math.ceil((c0Count(polyModulusDegree, packing) * packing.bits[0]) / 8) + Math.ceil((polyModulusDegree * packing.bits[1]) / 8);
}

/** How many coefficients of c0 travel: N, or N / c0Stride (checkPacking has checked the stride). */
function c0Count(polyModulusDegree: number, packing: ResultPacking): number {
  return Math.max(1, Math.floor(polyModulusDegree / (packing.c0Stride ?? 1)));
}

/** The fields of a plan's packing that this format needs in range (compiler/packing.ts checkAnswerPlan checks the rest). */
export function checkPacking(packing: ResultPacking, q0Bits: number): void {
  const fail = (why: string): never => {
    throw new HeError('params_mismatch', `the plan's result packing is not usable: ${why}`);
  };
  const { multiplier, bits, bound } = packing;
  if (!Number.isInteger(multiplier) || multiplier < 1 || multiplier > 2 ** 31) fail(`multiplier ${multiplier}`);
  if (!Array.isArray(bits) || bits.length !== 2 || bits.some((b) => !Number.isInteger(b) || b < 1 || b > Math.min(60, q0Bits))) fail(`bits ${JSON.stringify(bits)}`);
  if (!(bound > 0) || !Number.isFinite(bound)) fail(`bound ${bound}`);
  const stride = packing.c0Stride;
  if (stride !== undefined && !(Number.isInteger(stride) && stride >= 2 && stride <= 2 ** 16 && (stride & (stride - 1)) === 0)) fail(`c0 stride ${stride}`);
}

/**
 * Packs one answer ciphertext (level 0, two polynomials, NTT form, at the plan's output `scale`:
 * the client rebuilds it at that scale, so any other is refused here). The ciphertext is
 * transformed out of NTT form in place; the caller still frees it. Its coefficients are read in
 * place in SEAL's heap; through SEAL's serialisation where the layout is not the expected one,
 * or with `readInPlace: false` (the benchmark's "before" and the test of that path).
 */
export function packResult(ctx: HeContext, ct: Ciphertext, packing: ResultPacking, scale: number, options: { readInPlace?: boolean } = {}): Uint8Array {
  const N = ctx.params.polyModulusDegree;
  const q = BigInt(ctx.params.primes[0]!);
  if (ct.size() !== 2 || ct.coeffModulusSize() !== 1 || !ct.isNttForm()) throw new HeError('ciphertext_mismatch', 'only a two-polynomial level-0 ciphertext in NTT form can be packed');
  if (!(Math.abs(ct.scale() - scale) <= 1e-9 * scale)) throw new HeError('ciphertext_mismatch', `the answer has scale 2^${Math.log2(ct.scale()).toFixed(4)}, the plan says 2^${Math.log2(scale).toFixed(4)}`);
  sealCall(ctx.seal, 'seal_failure', 'leaving NTT form', () => ctx.evaluator.cipherTransformFromNttInplace(ct));
  // Read in place in SEAL's heap (SEAL's own serialisation of the 131 kB cost 0.7 ms), else serialised.
  const data = options.readInPlace === false ? null : ciphertextData(ctx.runtime, ct, N, 1, false);
  const coefficients = data === null ? coefficientView(ct.saveToArray(ctx.seal.ComprModeType.none) as Uint8Array, N) : new DataView(ctx.runtime.heapBuffer(), data, 16 * N);
  const out = new Uint8Array(packedResultBytes(N, packing));
  const view = new DataView(out.buffer);
  out.set(MAGIC, 0);
  const stride = packing.c0Stride ?? 1;
  if (N % stride !== 0) throw new HeError('params_mismatch', `c0 every ${stride} coefficients does not divide degree ${N}`);
  view.setUint8(4, versionOf(stride));
  view.setUint8(5, packing.bits[0]);
  view.setUint8(6, packing.bits[1]);
  view.setUint8(7, Math.log2(stride));
  view.setUint32(8, packing.multiplier, true);
  view.setUint32(12, N, true);
  const writer = new BitWriter(out, HEADER_BYTES);
  for (let poly = 0; poly < 2; poly++) {
    const bits = packing.bits[poly]!;
    // Coefficient k of this polynomial's stream is coefficient k·step of the polynomial.
    const step = poly === 0 ? stride : 1;
    const count = N / step;
    const small = fieldPackerNumber(q, bits, packing.multiplier);
    if (small && bits <= 31) {
      // Coefficients below q < 2^53 read as Numbers (two 32-bit halves), fields written as whole words.
      writer.writeWords(count, bits, (k) => small(coefficients.getUint32(8 * (poly * N + k * step), true) + coefficients.getUint32(8 * (poly * N + k * step) + 4, true) * 2 ** 32));
      continue;
    }
    if (small) {
      // Coefficients below q < 2^53 read as Numbers (two 32-bit halves): no BigInt per coefficient.
      for (let k = 0, at = 8 * poly * N; k < count; k++, at += 8 * step) writer.writeSmall(small(coefficients.getUint32(at, true) + coefficients.getUint32(at + 4, true) * 2 ** 32), bits);
    } else {
      const field = fieldPacker(q, bits, packing.multiplier);
      for (let k = 0, at = 8 * poly * N; k < count; k++, at += 8 * step) {
        const value = field(coefficients.getBigUint64(at, true));
        if (typeof value === 'number') writer.writeSmall(value, bits);
        else writer.write(value, bits);
      }
    }
    writer.align();
  }
  return out;
}

/**
 * Rebuilds a packed answer as a SEAL ciphertext in NTT form at level 0, scale
 * `scale × multiplier`, after checking every header field against the plan and the exact length.
 * The returned ciphertext is the caller's to free.
 */
export function unpackResult(ctx: HeContext, item: Uint8Array, scale: number, packing: ResultPacking): Ciphertext {
  const N = ctx.params.polyModulusDegree;
  const q = BigInt(ctx.params.primes[0]!);
  checkPacking(packing, ctx.params.coeffModulusBits[0]!);
  const fail = (why: string): never => {
    throw new HeError('result_invalid', `the answer is not a packed result of this plan: ${why}`);
  };
  const expected = packedResultBytes(N, packing);
  if (item.length !== expected) fail(`${item.length} bytes, expected ${expected}`);
  const view = new DataView(item.buffer, item.byteOffset, item.byteLength);
  if (MAGIC.some((m, i) => item[i] !== m)) fail('bad magic');
  const stride = packing.c0Stride ?? 1;
  if (view.getUint8(4) !== versionOf(stride)) fail(`version ${view.getUint8(4)}, the plan's answers are version ${versionOf(stride)}`);
  if (view.getUint8(5) !== packing.bits[0] || view.getUint8(6) !== packing.bits[1]) fail(`coefficients of ${view.getUint8(5)} and ${view.getUint8(6)} bits, the plan says ${packing.bits[0]} and ${packing.bits[1]}`);
  if (view.getUint8(7) !== Math.log2(stride)) fail(`c0 every ${2 ** view.getUint8(7)} coefficients, the plan says ${stride}`);
  if (N % stride !== 0) fail(`c0 every ${stride} coefficients does not divide degree ${N}`);
  if (view.getUint32(8, true) !== packing.multiplier) fail(`multiplier ${view.getUint32(8, true)}, the plan says ${packing.multiplier}`);
  if (view.getUint32(12, true) !== N) fail(`degree ${view.getUint32(12, true)}, expected ${N}`);

  // SEAL's serialisation of the rebuilt ciphertext (coefficient form), then SEAL's own load and NTT.
  const body = 32 + 1 + 5 * 8;
  const arrayBytes = HEADER_BYTES + 8 + 2 * N * 8;
  // Built in this thread's kept buffer (SEAL's load copies it): fresh memory costs page faults.
  const size = HEADER_BYTES + body + arrayBytes;
  if (rebuildScratch.length < size) rebuildScratch = new Uint8Array(size);
  const raw = rebuildScratch.subarray(0, size);
  const out = new DataView(raw.buffer, 0, size);
  sealHeader(out, 0, raw.length);
  const pid = ctx.parmsId(0).values() as BigUint64Array;
  for (let i = 0; i < 4; i++) out.setBigUint64(HEADER_BYTES + 8 * i, pid[i]!, true);
  let at = HEADER_BYTES + 32;
  out.setUint8(at, 0); // not in NTT form
  out.setBigUint64(at + 1, 2n, true);
  out.setBigUint64(at + 9, BigInt(N), true);
  out.setBigUint64(at + 17, 1n, true);
  out.setFloat64(at + 25, scale * packing.multiplier, true);
  out.setBigUint64(at + 33, 1n, true); // correction factor (BGV only)
  at += 41;
  sealHeader(out, at, arrayBytes);
  out.setBigUint64(at + HEADER_BYTES, BigInt(2 * N), true);
  at += HEADER_BYTES + 8;
  const qNumber = Number(q);
  // The item again with 8 zero bytes after it, for the windowed reads below (two 32-bit words
  // from a field's first byte hold all of a field of up to 46 bits plus its offset, up to 7 bits).
  if (paddedScratch.length < item.length + 8) paddedScratch = new Uint8Array(item.length + 8);
  paddedScratch.set(item);
  paddedScratch.fill(0, item.length, item.length + 8);
  const words = new DataView(paddedScratch.buffer, 0, item.length + 8);
  for (let poly = 0, stream = HEADER_BYTES; poly < 2; poly++) {
    const bits = packing.bits[poly]!;
    // Field k of this polynomial's stream is coefficient k·step; c0's coefficients between are 0.
    const step = poly === 0 ? stride : 1;
    const count = N / step;
    const gap = 8 * (step - 1);
    if (step > 1) raw.fill(0, at, at + 8 * N);
    const b = BigInt(bits);
    const half = 1n << (b - 1n);
    const exact = (field: bigint): bigint => {
      const c = (field * q + half) >> b;
      return c === q ? 0n : c;
    };
    if (bits > SMALL_FIELD_BITS || qNumber >= 2 ** 53) {
      const reader = new BitReader(item, stream);
      for (let k = 0; k < count; k++) {
        out.setBigUint64(at, exact(reader.read(bits)), true);
        at += 8 + gap;
      }
    } else {
      // c = floor(field·q / 2^bits + 1/2) in doubles where that is exact (as fieldPacker does):
      // the double u carries a relative error below 2^-51, so its floor is the true one unless u
      // lies that close to an integer; those few go through BigInt. (BigInt for every coefficient
      // cost a breast-cancer-mlp answer 1.7 ms.)
      const ratio = qNumber / 2 ** bits;
      for (let k = 0, position = 0; k < count; k++, position += bits) {
        // Field k: bits [k·bits, (k + 1)·bits) of this polynomial's stream, least significant first.
        const byte = stream + (position >>> 3);
        const shift = position & 7;
        const low = words.getUint32(byte, true) >>> shift;
        const field = bits + shift <= 32 ? (bits === 32 ? low : low & ((1 << bits) - 1)) : low + (words.getUint32(byte + 4, true) & ((1 << (bits + shift - 32)) - 1)) * 2 ** (32 - shift);
        const u = field * ratio + 0.5;
        const floor = Math.floor(u);
        const fraction = u - floor;
        const margin = u * 2 ** -48 + 2 ** -40;
        let c: number;
        if (fraction > margin && fraction < 1 - margin) c = floor === qNumber ? 0 : floor;
        else c = Number(exact(BigInt(field)));
        const word = c >>> 0;
        out.setUint32(at, word, true);
        out.setUint32(at + 4, (c - word) / 2 ** 32, true);
        at += 8 + gap;
      }
    }
    stream += Math.ceil((count * bits) / 8);
  }
  const ct = new ctx.seal.Ciphertext();
  try {
    sealCall(ctx.seal, 'seal_object_invalid', 'loading the rebuilt answer', () => ct.loadFromArray(ctx.context, raw));
    sealCall(ctx.seal, 'seal_failure', 'returning the answer to NTT form', () => ctx.evaluator.cipherTransformToNttInplace(ct));
    return ct;
  } catch (err) {
    free(ct);
    throw err;
  }
}

let rebuildScratch = new Uint8Array(0);
let paddedScratch = new Uint8Array(0);

/** SEAL 4.1's 16-byte header of an uncompressed object of `size` bytes. */
function sealHeader(view: DataView, at: number, size: number): void {
  view.setUint16(at, 0xa15e, true);
  view.setUint8(at + 2, HEADER_BYTES);
  view.setUint8(at + 3, 4);
  view.setUint8(at + 4, 1);
  view.setUint8(at + 5, 0);
  view.setUint16(at + 6, 0, true);
  view.setBigUint64(at + 8, BigInt(size), true);
}

/** The 2N coefficients (little-endian 64-bit words) of a serialised two-polynomial, one-prime ciphertext in coefficient form. */
function coefficientView(raw: Uint8Array, N: number): DataView {
  const start = HEADER_BYTES + 32 + 1 + 5 * 8 + HEADER_BYTES + 8;
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const meta = HEADER_BYTES + 32;
  if (raw.length !== start + 16 * N || raw[meta] !== 0 || view.getBigUint64(meta + 1, true) !== 2n || view.getBigUint64(start - 8, true) !== BigInt(2 * N)) {
    throw new HeError('seal_failure', 'SEAL serialised the answer in an unexpected layout');
  }
  return new DataView(raw.buffer, raw.byteOffset + start, 16 * N);
}

/**
 * The packed field of a coefficient: round(((coefficient·multiplier) mod q)·2^bits / q) mod 2^bits,
 * exactly (q is odd, so the quotient is never a half-integer); a Number for fields of at most
 * SMALL_FIELD_BITS bits. In doubles where that is safe: with multiplier 1, q < 2^53 and a narrow
 * field, the double quotient t is within 2^-50·t of the true one, so rounding t gives the same
 * integer unless t is that close to a half-integer; those few go through BigInt.
 */
export function fieldPacker(q: bigint, bits: number, multiplier: number): (coefficient: bigint) => number | bigint {
  const b = BigInt(bits);
  const mask = (1n << b) - 1n;
  const k = BigInt(multiplier);
  const exact = (coefficient: bigint): bigint => ((((coefficient * k) % q << b) + q / 2n) / q) & mask;
  const small = bits <= SMALL_FIELD_BITS;
  const qNumber = Number(q);
  if (multiplier !== 1 || qNumber >= 2 ** 53 || !small) return (coefficient) => (small ? Number(exact(coefficient)) : exact(coefficient));
  const number = fieldPackerNumber(q, bits, multiplier)!;
  return (coefficient) => number(Number(coefficient));
}

/**
 * fieldPacker's double-precision path on Number coefficients (below q < 2^53), or null where it
 * does not apply (a multiplier, a wider q or field). Without `%` on doubles, which V8 runs as a
 * call to fmod: that and BigInt per coefficient cost a breast-cancer-mlp answer 1.8 ms to pack.
 */
export function fieldPackerNumber(q: bigint, bits: number, multiplier: number): ((coefficient: number) => number) | null {
  const qNumber = Number(q);
  if (multiplier !== 1 || qNumber >= 2 ** 53 || bits > SMALL_FIELD_BITS) return null;
  const b = BigInt(bits);
  const mask = (1n << b) - 1n;
  const exact = (coefficient: number): number => Number((((BigInt(coefficient) << b) + q / 2n) / q) & mask);
  const ratio = 2 ** bits / qNumber;
  const unit = 2 ** bits;
  return (coefficient) => {
    const t = coefficient * ratio;
    const floor = Math.floor(t);
    const fraction = t - floor;
    if (Math.abs(fraction - 0.5) > t * 2 ** -48 + 2 ** -40) {
      // round(t) ≤ 2^bits (t < 2^bits as the coefficient is below q); 2^bits is field 0.
      const rounded = fraction > 0.5 ? floor + 1 : floor;
      return rounded === unit ? 0 : rounded;
    }
    return exact(coefficient);
  };
}

/**
 * Fields of at most this many bits go through the writer's and reader's Number paths: the
 * accumulator then holds at most 46 + 7 = 53 bits, exact in a double (BigInt arithmetic per field
 * cost an mnist-cnn answer about 30 ms to unpack).
 */
const SMALL_FIELD_BITS = 46;

/**
 * Least-significant-bit-first writer of values up to 60 bits: `write` with BigInt, `writeSmall`
 * with Numbers for fields of at most SMALL_FIELD_BITS bits. The two write the same bits; one
 * stream may mix them (the pending bits, fewer than 8, are carried over as a Number).
 */
export class BitWriter {
  private acc = 0;
  private held = 0;
  constructor(
    private readonly out: Uint8Array,
    private at: number,
  ) {}
  /**
   * Writes `count` fields of `bits` ≤ 31 bits (`value(i)` for i from 0) from a byte boundary, as
   * whole little-endian 32-bit words with integer shifts (the last, partial word byte by byte),
   * and ends aligned: the bytes `writeSmall` then `align` would write, faster.
   */
  writeWords(count: number, bits: number, value: (i: number) => number): void {
    if (this.held !== 0 || bits > 31) throw new Error('writeWords: pending bits or a field over 31 bits');
    const view = new DataView(this.out.buffer, this.out.byteOffset, this.out.byteLength);
    let pending = 0;
    let held = 0;
    let to = this.at;
    for (let i = 0; i < count; i++) {
      const v = value(i);
      if (held + bits >= 32) {
        // held ≥ 1 here (bits ≤ 31): v's bits beyond the word carry over.
        view.setUint32(to, (pending | (v << held)) >>> 0, true);
        to += 4;
        pending = v >>> (32 - held);
        held += bits - 32;
      } else {
        pending |= v << held;
        held += bits;
      }
    }
    for (; held > 0; held -= 8, pending >>>= 8) this.out[to++] = pending & 0xff;
    this.at = to;
  }
  write(value: bigint, bits: number): void {
    let acc = BigInt(this.acc) | (value << BigInt(this.held));
    let held = this.held + bits;
    while (held >= 8) {
      this.out[this.at++] = Number(acc & 0xffn);
      acc >>= 8n;
      held -= 8;
    }
    this.acc = Number(acc);
    this.held = held;
  }
  writeSmall(value: number, bits: number): void {
    let acc = this.acc + value * 2 ** this.held;
    let held = this.held + bits;
    while (held >= 8) {
      // acc < 2^53: its low 32 bits by ToUint32 (exact), not `%` on a double (a call to fmod).
      const byte = (acc >>> 0) & 0xff;
      this.out[this.at++] = byte;
      acc = (acc - byte) / 256;
      held -= 8;
    }
    this.acc = acc;
    this.held = held;
  }
  align(): void {
    if (this.held > 0) this.out[this.at++] = this.acc;
    this.acc = 0;
    this.held = 0;
  }
}

/** Reader for BitWriter's format; the caller has checked the length, so it never runs past the end. */
export class BitReader {
  private acc = 0;
  private held = 0;
  constructor(
    private readonly bytes: Uint8Array,
    private at: number,
  ) {}
  read(bits: number): bigint {
    let acc = BigInt(this.acc);
    let held = this.held;
    while (held < bits) {
      acc |= BigInt(this.bytes[this.at++]!) << BigInt(held);
      held += 8;
    }
    const b = BigInt(bits);
    const value = acc & ((1n << b) - 1n);
    this.acc = Number(acc >> b);
    this.held = held - bits;
    return value;
  }
  readSmall(bits: number): number {
    let acc = this.acc;
    let held = this.held;
    while (held < bits) {
      acc += this.bytes[this.at++]! * 2 ** held;
      held += 8;
    }
    const unit = 2 ** bits;
    // acc < 2^53 and unit a power of two: the quotient, its floor and the product are exact.
    const high = Math.floor(acc / unit);
    const value = acc - high * unit;
    this.acc = high;
    this.held = held - bits;
    return value;
  }
  align(): void {
    this.acc = 0;
    this.held = 0;
  }
}
