import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadSeal } from '../seal/runtime.js';
import { free } from '../seal/scope.js';
import type { SealRuntime } from '../seal/runtime.js';
import { keyedContextWithChain } from '../testing/keyed-context.js';
import { mulberry32 } from '../testing/mulberry32.js';
import { forwardNttReference, kernelOnOwnMemory, modPow, uniformResidue, writeSealNttTables } from '../testing/ntt-reference.js';
import { KeySwitchKernel } from './keyswitch.js';

// The kernel's NTTs with a fused multiply-add (kernels/keyswitch.wat: ntt_forward_fma and
// ntt_inverse_fma, for primes from 2^26 to below 2^48), against exact BigInt arithmetic and
// against the 64-bit integer NTTs they replace, bit for bit, at degree 8192, on SEAL's primes of
// 27, 37 (breast-cancer-mlp's first prime), 44 (the largest without reductions between stages),
// 46 (mnist-cnn's special prime) and 47 bits (the largest allowed), on edge residues (0, 1,
// q − 1, q − 2, q/2), on uniform ones, and on all-(q − 1) input (the largest growth between the
// functions' reductions). keyswitch.test.ts checks whole key switches using them against SEAL.

interface NttKernel {
  ntt_forward(a: number, roots: number, quots: number, n: number, q: bigint): void;
  ntt_inverse(a: number, roots: number, quots: number, n: number, q: bigint, ninv: bigint, ninvq: number): void;
  ntt_forward_fma(a: number, roots: number, quots: number, n: number, q: bigint): void;
  ntt_inverse_fma(a: number, roots: number, quots: number, n: number, q: bigint, ninv: bigint, ninvq: number): void;
  fma_fused(): number;
}

const N = 8192;
const LOG_N = 13;
// Word offsets in the kernel's own memory.
const A = 0;
const B = N;
const ROOTS = 2 * N;
const ROOT_QUOTS = 3 * N;
const INV = 4 * N;
const INV_QUOTS = 5 * N;

/** Whether this x86-64 Linux machine's CPU says it has FMA3 (null: not such a machine). */
function cpuHasFma(): boolean | null {
  if (process.arch !== 'x64' || process.platform !== 'linux') return null;
  const flags = /^flags\s*:(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1];
  return flags === undefined ? null : flags.split(/\s+/).includes('fma');
}

describe('the key-switching kernel’s NTTs with a fused multiply-add, against BigInt and the 64-bit integer NTTs', () => {
  let rt: SealRuntime;
  let k: NttKernel;
  let words: BigUint64Array;
  let doubles: Float64Array;

  beforeAll(async () => {
    rt = await loadSeal();
    ({ kernel: k, words, doubles } = kernelOnOwnMemory<NttKernel>(8));
  });

  /** SEAL's NTT prime of `bits` bits for degree N, with its tables written as the kernel reads them. */
  function prime(bits: number): bigint {
    const moduli = rt.seal.CoeffModulus.Create(N, Int32Array.from([bits]));
    const q = (rt.seal.jsArrayFromVecModulus(moduli) as bigint[])[0]!;
    moduli.delete();
    writeSealNttTables(words, LOG_N, q, ROOTS, INV);
    for (let i = 0; i < N; i++) {
      doubles[ROOT_QUOTS + i] = Number(words[ROOTS + i]!) / Number(q);
      doubles[INV_QUOTS + i] = Number(words[INV + i]!) / Number(q);
    }
    return q;
  }

  function inputs(q: bigint, rnd: () => number): bigint[][] {
    const edges = [0n, 1n, 2n, q - 1n, q - 2n, q / 2n, q / 2n + 1n];
    const uniform = (): bigint => uniformResidue(rnd, q);
    return [
      Array.from({ length: N }, (_, i) => (i < edges.length * edges.length ? edges[i % edges.length]! : uniform())),
      Array.from({ length: N }, (_, i) => (i < edges.length * edges.length ? edges[Math.floor(i / edges.length)]! : uniform())),
      Array.from({ length: N }, () => q - 1n),
      Array.from({ length: N }, () => uniform()),
    ];
  }

  it('this machine’s relaxed multiply-add is fused where its CPU has FMA3 (fma_fused, which decides whether the kernel uses these NTTs)', () => {
    const fused = k.fma_fused();
    expect([0, 1]).toContain(fused);
    const hasFma = cpuHasFma();
    if (hasFma !== null) expect(fused).toBe(hasFma ? 1 : 0);
  });

  for (const bits of [27, 37, 44, 46, 47]) {
    it(`${bits}-bit prime: forward and inverse, the same residues as BigInt and as ntt_forward/ntt_inverse`, () => {
      // The FMA functions are exact only where the multiply-add is fused (the kernel checks that first).
      expect(k.fma_fused()).toBe(1);
      const q = prime(bits);
      expect(q >= 2n ** BigInt(bits - 1) && q < 2n ** 48n).toBe(true);
      const ninv = modPow(BigInt(N), q - 2n, q);
      const ninvq = Number(ninv) / Number(q);
      const rnd = mulberry32(0xf3a + bits);
      for (const [index, input] of inputs(q, rnd).entries()) {
        // Forward: BigInt's transform, and the 64-bit integer function's bits.
        words.set(input, A);
        words.set(input, B);
        k.ntt_forward_fma(A * 8, ROOTS * 8, ROOT_QUOTS * 8, N, q);
        k.ntt_forward(B * 8, ROOTS * 8, ROOT_QUOTS * 8, N, q);
        const ref = forwardNttReference(input, q, (r) => words[ROOTS + r]!);
        const fma = Array.from(words.subarray(A, A + N));
        expect({ bits, index, forward: fma.filter((v, i) => v !== ref[i]).length }).toEqual({ bits, index, forward: 0 });
        expect({ bits, index, asInteger: fma.filter((v, i) => v !== words[B + i]).length }).toEqual({ bits, index, asInteger: 0 });
        // Inverse of the transform: the input again, n^-1 included.
        k.ntt_inverse_fma(A * 8, INV * 8, INV_QUOTS * 8, N, q, ninv, ninvq);
        expect({ bits, index, roundTrip: Array.from(words.subarray(A, A + N)).filter((v, i) => v !== input[i]).length }).toEqual({ bits, index, roundTrip: 0 });
        // Inverse of the raw input (not a transform's output): the 64-bit integer function's bits.
        words.set(input, A);
        words.set(input, B);
        k.ntt_inverse_fma(A * 8, INV * 8, INV_QUOTS * 8, N, q, ninv, ninvq);
        k.ntt_inverse(B * 8, INV * 8, INV_QUOTS * 8, N, q, ninv, ninvq);
        expect({ bits, index, inverse: Array.from(words.subarray(A, A + N)).filter((v, i) => v !== words[B + i]).length }).toEqual({ bits, index, inverse: 0 });
      }
    });
  }
});

describe('KeySwitchKernel: which NTTs it uses', () => {
  it('the FMA NTTs where the multiply-add is fused, the 64-bit integer ones with fma: false (both SEAL’s rotation, bit for bit)', async () => {
    const k = await keyedContextWithChain(8192, [37, 26, 26, 26, 60], 26);
    const keygen = new k.ctx.seal.KeyGenerator(k.ctx.context);
    const galois = keygen.createGaloisKeysWithSteps(Int32Array.from([1]));
    const withFma = KeySwitchKernel.create(k.ctx)!;
    const without = KeySwitchKernel.create(k.ctx, { fma: false })!;
    const pt = new k.ctx.seal.Plaintext();
    const x = new k.ctx.seal.Ciphertext();
    const seals = new k.ctx.seal.Ciphertext();
    const ours = new k.ctx.seal.Ciphertext();
    const save = (ct: typeof x): Buffer => Buffer.from(ct.saveToArray(k.ctx.seal.ComprModeType.none) as Uint8Array);
    try {
      expect(withFma.fma).toBe(cpuHasFma() ?? withFma.fma);
      expect(without.fma).toBe(false);
      k.ctx.encoder.encode(Float64Array.from({ length: k.ctx.slots }, (_, i) => Math.sin(i)), 2 ** 26, pt);
      k.encryptor.encryptSymmetric(pt, x);
      k.ctx.evaluator.rotateVector(x, 1, galois, seals);
      for (const kernel of [withFma, without]) {
        kernel.rotate(x, [1], galois, ours);
        expect({ fma: kernel.fma, same: save(ours).equals(save(seals)) }).toEqual({ fma: kernel.fma, same: true });
        kernel.rescale(ours);
        k.ctx.evaluator.rescaleToNextInplace(seals);
        expect({ fma: kernel.fma, rescaled: save(ours).equals(save(seals)) }).toEqual({ fma: kernel.fma, rescaled: true });
        k.ctx.evaluator.rotateVector(x, 1, galois, seals);
      }
    } finally {
      withFma.dispose();
      without.dispose();
      free(pt, x, seals, ours, galois, keygen);
      k.dispose();
    }
  });
});
