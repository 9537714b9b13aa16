// For tests of the key-switching kernel's functions on their own: the kernel instantiated on a
// memory of its own, SEAL's NTT tables written into it, and the transforms in exact BigInt
// arithmetic, computed independently of he-core/evaluator/keyswitch.ts (only SEAL's minimal
// primitive root is taken from there; keyswitch.test.ts checks it by brute force).
import { KEYSWITCH_WASM_BASE64 } from '../evaluator/kernels/keyswitch-wasm.js';
import { minimalPrimitiveRoot } from '../evaluator/keyswitch.js';

export function modPow(b: bigint, e: bigint, q: bigint): bigint {
  let r = 1n;
  let x = b % q;
  for (let k = e; k > 0n; k >>= 1n) {
    if (k & 1n) r = (r * x) % q;
    x = (x * x) % q;
  }
  return r;
}

export function reverseBits(v: number, bits: number): number {
  let r = 0;
  for (let i = 0; i < bits; i++) r |= ((v >>> i) & 1) << (bits - 1 - i);
  return r;
}

/** A residue mod q from two 32-bit draws of `rnd`. */
export function uniformResidue(rnd: () => number, q: bigint): bigint {
  return ((BigInt(Math.floor(rnd() * 2 ** 32)) << 32n) | BigInt(Math.floor(rnd() * 2 ** 32))) % q;
}

/** The key-switching kernel on a fresh memory of `pages` 64 KiB pages, with u64 and double views of it. */
export function kernelOnOwnMemory<K>(pages: number): { kernel: K; words: BigUint64Array; doubles: Float64Array } {
  const Wasm = (globalThis as unknown as { WebAssembly: { Memory: new (d: { initial: number }) => { buffer: ArrayBuffer }; Module: new (b: Uint8Array) => object; Instance: new (m: object, i: object) => { exports: unknown } } }).WebAssembly;
  const memory = new Wasm.Memory({ initial: pages });
  const kernel = new Wasm.Instance(new Wasm.Module(Buffer.from(KEYSWITCH_WASM_BASE64, 'base64')), { env: { memory } }).exports as K;
  return { kernel, words: new BigUint64Array(memory.buffer), doubles: new Float64Array(memory.buffer) };
}

/**
 * SEAL's NTT tables for prime q and degree n = 2^logN, written into `words`: the powers of the
 * minimal primitive 2n-th root in bit-reversed order at word `roots`, and the inverse root's
 * powers in SEAL's scrambled order (1 first, then bit-reversed from index 1) at word `invRoots`.
 */
export function writeSealNttTables(words: BigUint64Array, logN: number, q: bigint, roots: number, invRoots: number): void {
  const n = 2 ** logN;
  const root = minimalPrimitiveRoot(2 * n, q);
  const invRoot = modPow(root, q - 2n, q);
  let power = 1n;
  for (let i = 0; i < n; i++) {
    words[roots + reverseBits(i, logN)] = power;
    power = (power * root) % q;
  }
  words[invRoots] = 1n;
  power = invRoot;
  for (let i = 1; i < n; i++) {
    words[invRoots + reverseBits(i - 1, logN) + 1] = power;
    power = (power * invRoot) % q;
  }
}

/** SEAL's forward negacyclic NTT (Cooley–Tukey loops, roots from `root(1)` on) in canonical BigInt arithmetic. */
export function forwardNttReference(input: readonly bigint[], q: bigint, root: (index: number) => bigint): bigint[] {
  const n = input.length;
  const ref = [...input];
  let r = 1;
  for (let m = 1, gap = n / 2; m < n; m *= 2, gap /= 2) {
    for (let i = 0; i < m; i++) {
      const w = root(r++);
      for (let j = 2 * i * gap; j < 2 * i * gap + gap; j++) {
        const u = ref[j]!;
        const v = (ref[j + gap]! * w) % q;
        ref[j] = (u + v) % q;
        ref[j + gap] = (u - v + q) % q;
      }
    }
  }
  return ref;
}
