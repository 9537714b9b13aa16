// Tests only: coefficients overwritten with residues (edge values first, then uniform ones), so
// that kernels are compared with SEAL at the edges of their arithmetic, not only on typical data.
import type { Ciphertext } from 'node-seal';
import type { HeContext } from '../params/context.js';
import { ciphertextData } from '../seal/layout.js';
import { free } from '../seal/scope.js';
import type { KeyedContext } from './keyed-context.js';

/** Overwrites coefficients with residues mod each prime: edge values first, then uniform ones. */
export function fillResidues(ctx: HeContext, data: number, primes: number, polys: number, rnd: () => number): void {
  const N = ctx.params.polyModulusDegree;
  const words = new BigUint64Array(ctx.runtime.heapBuffer(), data, polys * primes * N);
  for (let poly = 0; poly < polys; poly++) {
    for (let j = 0; j < primes; j++) {
      const q = BigInt(ctx.params.primes[j]!);
      const base = (poly * primes + j) * N;
      const edges = [0n, 1n, q - 1n, q - 2n, q / 2n, q / 2n + 1n];
      for (let i = 0; i < N; i++) {
        const hi = BigInt(Math.floor(rnd() * 2 ** 26));
        const lo = BigInt(Math.floor(rnd() * 2 ** 26));
        words[base + i] = i < edges.length * 4 ? edges[(i + poly + j) % edges.length]! : ((hi << 26n) | lo) % q;
      }
    }
  }
}

/** A fresh two-polynomial ciphertext at `level` (NTT form) whose coefficients are then overwritten by `fillResidues`. Caller frees. */
export function residueCiphertext(k: KeyedContext, level: number, rnd: () => number): Ciphertext {
  const { ctx } = k;
  const pt = new ctx.seal.Plaintext();
  const ct = new ctx.seal.Ciphertext();
  try {
    ctx.encoder.encode(Float64Array.from({ length: ctx.slots }, () => rnd() - 0.5), 2 ** 20, pt);
    k.encryptor.encryptSymmetric(pt, ct);
    if (level < ctx.topLevel) ctx.evaluator.cipherModSwitchToInplace(ct, ctx.parmsId(level));
    fillResidues(ctx, ciphertextData(ctx.runtime, ct, ctx.params.polyModulusDegree, level + 1)!, level + 1, 2, rnd);
    return ct;
  } catch (err) {
    free(ct);
    throw err;
  } finally {
    free(pt);
  }
}
