import type { Plaintext } from 'node-seal';
import type { HeContext } from '../params/context.js';
import { sealCall } from '../seal/runtime.js';
import { plaintextData } from '../seal/layout.js';
import { free } from '../seal/scope.js';

/**
 * Constant plaintexts (every slot the same value) written straight into SEAL's heap.
 *
 * A batch layer multiplies every input ciphertext by one scalar weight per output: mnist-cnn's
 * batch plan does that 29,568 times per request. node-seal only encodes whole vectors (an inverse
 * FFT and one NTT per prime: about 1.1 ms at N = 8192), but in NTT form a constant is simply
 * round(value × scale) mod qᵢ in every coefficient of prime i, which is what SEAL's own scalar
 * `encode(double)` writes. This class keeps one plaintext per level and overwrites its
 * coefficients through a typed array on the WebAssembly memory (about 7 µs).
 *
 * It depends on where SEAL keeps a Plaintext's coefficient pointer (offset 64 of the object in
 * node-seal 7's 32-bit build). `create` finds and verifies that against an encoded plaintext and
 * returns null when the layout is not the expected one; the evaluator then encodes (the same
 * numbers, slower) and says so in `constantPath` (tests pin the fast path on the installed
 * node-seal).
 */
export class ConstantWriter {
  private readonly scratch = new Map<number, { pt: Plaintext; dataPtr: number }>();
  private readonly primes: bigint[];

  private constructor(private readonly ctx: HeContext) {
    this.primes = ctx.params.primes.map((p) => BigInt(p));
  }

  /** A writer for this context, or null when SEAL's plaintext layout is not the expected one. */
  static create(ctx: HeContext): ConstantWriter | null {
    const writer = new ConstantWriter(ctx);
    try {
      for (let level = 0; level <= ctx.topLevel; level++) {
        if (!writer.prepare(level)) {
          writer.dispose();
          return null;
        }
      }
      return writer;
    } catch {
      writer.dispose();
      return null;
    }
  }

  /** Encodes a probe at `level`, finds its coefficient pointer and checks it (and the sizes beside it). */
  private prepare(level: number): boolean {
    const { seal, encoder, evaluator, runtime } = this.ctx;
    const N = this.ctx.params.polyModulusDegree;
    const count = N * (level + 1);
    const probe = 0.3125;
    const scale = 2 ** 20;
    const pt = new seal.Plaintext();
    sealCall(seal, 'seal_failure', 'encoding a probe constant', () => {
      encoder.encode(new Float64Array(this.ctx.slots).fill(probe), scale, pt);
      if (level < this.ctx.topLevel) evaluator.plainModSwitchToInplace(pt, this.ctx.parmsId(level));
    });
    this.scratch.set(level, { pt, dataPtr: 0 });
    const dataPtr = pt.coeffCount() === count ? plaintextData(runtime, pt) : null;
    if (dataPtr === null) return false;
    const data = new BigUint64Array(runtime.heapBuffer(), dataPtr, count);
    const expected = this.residues(Math.round(probe * scale), level);
    for (let i = 0; i <= level; i++) {
      for (const j of [0, 1, N >> 1, N - 1]) if (data[i * N + j] !== expected[i]) return false;
    }
    this.scratch.set(level, { pt, dataPtr });
    return true;
  }

  private residues(v: number, level: number): bigint[] {
    const big = BigInt(v);
    const out: bigint[] = [];
    for (let i = 0; i <= level; i++) {
      const q = this.primes[i]!;
      const r = big % q;
      out.push(r < 0n ? r + q : r);
    }
    return out;
  }

  /**
   * The constant `value` at `scale` and `level`, or null when round(value × scale) is not a safe
   * integer (then encode). The plaintext belongs to this writer and is overwritten by the next call
   * for the same level: use it at once, do not free it.
   */
  write(value: number, scale: number, level: number): Plaintext | null {
    // std::round, as SEAL's encoder: halves away from zero (Math.round takes -2.5 to -2).
    const scaled = value * scale;
    const v = Math.sign(scaled) * Math.round(Math.abs(scaled));
    const slot = this.scratch.get(level);
    if (!slot || !Number.isSafeInteger(v)) return null;
    const N = this.ctx.params.polyModulusDegree;
    const data = new BigUint64Array(this.ctx.runtime.heapBuffer(), slot.dataPtr, N * (level + 1));
    const residues = this.residues(v, level);
    for (let i = 0; i <= level; i++) data.fill(residues[i]!, i * N, (i + 1) * N);
    slot.pt.setScale(scale);
    return slot.pt;
  }

  dispose(): void {
    free(...[...this.scratch.values()].map((s) => s.pt));
    this.scratch.clear();
  }
}
