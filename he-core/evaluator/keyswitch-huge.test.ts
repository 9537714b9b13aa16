import { beforeAll, describe, expect, it } from 'vitest';
import { loadSeal } from '../seal/runtime.js';
import { mulberry32 } from '../testing/mulberry32.js';
import { forwardNttReference, kernelOnOwnMemory, modPow, reverseBits, uniformResidue as uniform, writeSealNttTables } from '../testing/ntt-reference.js';
import { minimalPrimitiveRoot } from './keyswitch.js';

// The kernel's functions for a special prime of 2^50 or more (kernels/keyswitch.wat: Shoup's
// products with a 64×64-bit high word from 32-bit pieces, and a two-step double-precision quotient),
// each against exact BigInt arithmetic, exactly, on the edge residues (0, 1, 2, q − 1, q − 2, q/2,
// the 2^31 and 2^32 boundaries of the operand splits) and on uniform ones, at the largest 60-bit
// prime SEAL makes for the degree. keyswitch.test.ts checks the same functions inside whole key
// switches against SEAL, bit for bit.

interface HugeKernel {
  ntt_forward_huge(a: number, roots: number, shoup: number, n: number, q: bigint): void;
  ntt_inverse_huge(a: number, roots: number, shoup: number, n: number, q: bigint, ninv: bigint, ninvShoup: bigint): void;
  mac_key_huge(x: number, k0: number, k1: number, acc0: number, acc1: number, n: number, q: bigint, qinv: number): void;
  reduce_wide(src: number, dst: number, n: number, q: bigint, qinv: number): void;
}

const N = 1024;
const LOG_N = 10;

describe('the key-switching kernel’s functions for a special prime of 2^50 or more, against BigInt', () => {
  let q: bigint;
  let k: HugeKernel;
  let words: BigUint64Array;
  // Word offsets of the regions in the kernel's own memory.
  const A = 0;
  const B = N;
  const C = 2 * N;
  const ACC0 = 3 * N;
  const ACC1 = 4 * N;
  const ROOTS = 5 * N;
  const SHOUP = 6 * N;
  const INV = 7 * N;
  const INV_SHOUP = 8 * N;

  beforeAll(async () => {
    const rt = await loadSeal();
    const moduli = rt.seal.CoeffModulus.Create(N, Int32Array.from([60]));
    q = (rt.seal.jsArrayFromVecModulus(moduli) as bigint[])[0]!;
    moduli.delete();
    expect(q >= 2n ** 59n && q < 2n ** 60n).toBe(true);
    ({ kernel: k, words } = kernelOnOwnMemory<HugeKernel>(2));
    // SEAL's tables: root powers in bit-reversed order, inverse ones in SEAL's scrambled order, with Shoup's quotients.
    writeSealNttTables(words, LOG_N, q, ROOTS, INV);
    for (let i = 0; i < N; i++) {
      words[SHOUP + i] = (words[ROOTS + i]! << 64n) / q;
      words[INV_SHOUP + i] = (words[INV + i]! << 64n) / q;
    }
  });

  const edges = (): bigint[] => [0n, 1n, 2n, q - 1n, q - 2n, q / 2n, q / 2n + 1n, 2n ** 31n - 1n, 2n ** 31n, 2n ** 32n - 1n, 2n ** 32n, q - 2n ** 31n];

  /** Edge values in every pairing first, then uniform residues. */
  function fill(at: number, rnd: () => number, shift: number): void {
    const e = edges();
    for (let i = 0; i < N; i++) words[at + i] = i < e.length * e.length ? e[(shift === 0 ? i % e.length : Math.floor(i / e.length)) % e.length]! : uniform(rnd, q);
  }

  it('mac_key_huge: acc + x·k mod q, exactly, for both components', () => {
    const rnd = mulberry32(0x60b1);
    fill(A, rnd, 0);
    fill(B, rnd, 1);
    fill(C, rnd, 0);
    for (let i = 0; i < N; i++) {
      words[ACC0 + i] = i % 3 === 0 ? q - 1n : uniform(rnd, q);
      words[ACC1 + i] = i % 5 === 0 ? 0n : uniform(rnd, q);
    }
    const before = words.slice(0, 5 * N);
    k.mac_key_huge(A * 8, B * 8, C * 8, ACC0 * 8, ACC1 * 8, N, q, 1 / Number(q));
    let wrong = 0;
    for (let i = 0; i < N; i++) {
      const x = before[A + i]!;
      if (words[ACC0 + i] !== (before[ACC0 + i]! + x * before[B + i]!) % q) wrong++;
      if (words[ACC1 + i] !== (before[ACC1 + i]! + x * before[C + i]!) % q) wrong++;
    }
    expect(wrong).toBe(0);
  });

  it('reduce_wide: values below 2^61 reduced mod primes of 17 to 49 bits, exactly', async () => {
    const rt = await loadSeal();
    const moduli = rt.seal.CoeffModulus.Create(N, Int32Array.from([17, 26, 37, 49]));
    const primes = rt.seal.jsArrayFromVecModulus(moduli) as bigint[];
    moduli.delete();
    const rnd = mulberry32(0x7ed);
    for (const p of primes) {
      const values = [0n, 1n, p - 1n, p, p + 1n, 2n ** 61n - 1n, 2n ** 60n, q - 1n, (2n ** 61n / p) * p, (2n ** 61n / p) * p - 1n];
      for (let i = 0; i < N; i++) words[A + i] = i < values.length ? values[i]! : uniform(rnd, 2n ** 61n);
      const src = words.slice(A, A + N);
      k.reduce_wide(A * 8, B * 8, N, p, 1 / Number(p));
      const wrong = Array.from(src).filter((v, i) => words[B + i] !== v % p).length;
      expect({ p, wrong }).toEqual({ p, wrong: 0 });
    }
  });

  it('ntt_forward_huge and ntt_inverse_huge: SEAL’s negacyclic NTT and its inverse, exactly', () => {
    const rnd = mulberry32(0x177);
    fill(A, rnd, 0);
    const input = words.slice(A, A + N);
    // Reference: the same Cooley–Tukey loops with canonical BigInt arithmetic.
    const ref = forwardNttReference(Array.from(input), q, (r) => words[ROOTS + r]!);
    k.ntt_forward_huge(A * 8, ROOTS * 8, SHOUP * 8, N, q);
    expect(Array.from(words.slice(A, A + N)).filter((v, i) => v !== ref[i]).length).toBe(0);
    // One coefficient of the transform evaluated directly: the polynomial at ψ^(2·brv(1)+1).
    const psi = minimalPrimitiveRoot(2 * N, q);
    const at = modPow(psi, BigInt(2 * reverseBits(1, LOG_N) + 1), q);
    let value = 0n;
    for (let i = N - 1; i >= 0; i--) value = (value * at + input[i]!) % q;
    expect(words[A + 1]).toBe(value);
    // The inverse brings the input back, n^-1 included.
    const ninv = modPow(BigInt(N), q - 2n, q);
    k.ntt_inverse_huge(A * 8, INV * 8, INV_SHOUP * 8, N, q, ninv, (ninv << 64n) / q);
    expect(Array.from(words.slice(A, A + N)).filter((v, i) => v !== input[i]).length).toBe(0);
    // And the inverse of edge values (not a forward transform's output) agrees with BigInt.
    fill(A, rnd, 1);
    const edgeInput = words.slice(A, A + N);
    k.ntt_inverse_huge(A * 8, INV * 8, INV_SHOUP * 8, N, q, ninv, (ninv << 64n) / q);
    k.ntt_forward_huge(A * 8, ROOTS * 8, SHOUP * 8, N, q);
    expect(Array.from(words.slice(A, A + N)).filter((v, i) => v !== edgeInput[i]).length).toBe(0);
  });
});
