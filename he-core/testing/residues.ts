// Tests only: coefficients overwritten with residues (edge values first, then uniform ones), so
// that kernels are compared with SEAL at the edges of their arithmetic, not only on typical data.
import type { HeContext } from '../params/context.js';

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
