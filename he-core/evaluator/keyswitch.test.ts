import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Ciphertext, GaloisKeys, KeyGenerator } from 'node-seal';
import { keyedContext, keyedContextWithChain } from '../testing/keyed-context.js';
import type { KeyedContext } from '../testing/keyed-context.js';
import { mulberry32 } from '../testing/mulberry32.js';
import { residueCiphertext } from '../testing/residues.js';
import { free } from '../seal/scope.js';
import { KeySwitchKernel, minimalPrimitiveRoot } from './keyswitch.js';
import { TASK_LAYOUT, taskSource } from './keyswitch-threads.js';

// KeySwitchKernel: CKKS rotations (Galois automorphism in NTT form + key switching + modulus switch
// down) in our WebAssembly kernel. The rotated ciphertexts must be SEAL's bit for bit (serialised,
// metadata included) at every level, for single rotations and paths of several, on ciphertexts
// whose coefficients include the edge residues 0, 1, q − 1, q − 2, q/2: with 26-bit primes (the
// double-precision functions), 38–49-bit ones (64-bit integers with a floating-point quotient) and
// mnist-cnn's own mix (42, 5 × 26, 46 bits).
const STEPS = [1, 8, 64, 512, -1, -3, 7, 2047];

function suite(name: string, make: () => Promise<KeyedContext>, expectBits: { data: number; special: number }, threads: 1 | 2 = 1): void {
  describe(`KeySwitchKernel on ${name}${threads === 2 ? ', two threads' : ''}: SEAL's rotations, bit for bit`, () => {
    let k: KeyedContext;
    let keygen: KeyGenerator;
    let galois: GaloisKeys;
    let kernel: KeySwitchKernel;

    beforeAll(async () => {
      k = await make();
      const primes = k.ctx.params.primes.map(Number);
      expect(Math.ceil(Math.log2(Math.max(...primes.slice(0, -1))))).toBe(expectBits.data);
      expect(Math.ceil(Math.log2(primes[primes.length - 1]!))).toBe(expectBits.special);
      keygen = new k.ctx.seal.KeyGenerator(k.ctx.context);
      galois = keygen.createGaloisKeysWithSteps(Int32Array.from(STEPS));
      const created = KeySwitchKernel.create(k.ctx, { threads, keySlots: STEPS.length + 1 });
      expect(created).not.toBeNull();
      kernel = created!;
      expect(kernel.threads).toBe(threads);
    });
    afterAll(() => {
      kernel?.dispose();
      free(galois, keygen);
      k?.dispose();
    });

    const bytesOf = (ct: Ciphertext): Buffer => Buffer.from(ct.saveToArray(k.ctx.seal.ComprModeType.none) as Uint8Array);

    const ciphertextAt = (level: number, rnd: () => number): Ciphertext => residueCiphertext(k, level, rnd);

    it('every level, every step and a path of three steps: the same bytes as SEAL', () => {
      const { ctx } = k;
      for (let level = ctx.topLevel; level >= 0; level--) {
        const x = ciphertextAt(level, mulberry32(0x5eed + level));
        const ours = new ctx.seal.Ciphertext();
        const seals = new ctx.seal.Ciphertext();
        try {
          for (const step of STEPS) {
            kernel.rotate(x, [step], galois, ours);
            ctx.evaluator.rotateVector(x, step, galois, seals);
            expect({ level, step, same: bytesOf(ours).equals(bytesOf(seals)) }).toEqual({ level, step, same: true });
          }
          if (threads === 2) expect(kernel.helperTasks).toBeGreaterThan(0);
          kernel.rotate(x, [512, 64, -3], galois, ours);
          ctx.evaluator.rotateVector(x, 512, galois, seals);
          ctx.evaluator.rotateVectorInplace(seals, 64, galois);
          ctx.evaluator.rotateVectorInplace(seals, -3, galois);
          expect({ level, path: bytesOf(ours).equals(bytesOf(seals)) }).toEqual({ level, path: true });
          // The input is left as it was.
          expect(bytesOf(x).equals(bytesOf(ours))).toBe(false);
        } finally {
          free(x, ours, seals);
        }
      }
    });

    it('every level: square + relinearisation and rescale give the same bytes as SEAL', () => {
      const { ctx } = k;
      const relin = keygen.createRelinKeys();
      try {
        for (let level = ctx.topLevel; level >= 0; level--) {
          const x = ciphertextAt(level, mulberry32(0x5a7e + level));
          // Scales that SEAL accepts at this level: the square's must fit below the level's modulus.
          x.setScale(2 ** Math.min(20, Math.floor((level + 1) * 12)));
          const ours = new ctx.seal.Ciphertext();
          const seals = new ctx.seal.Ciphertext();
          try {
            kernel.squareRelinearize(x, relin, ours);
            ctx.evaluator.square(x, seals);
            ctx.evaluator.relinearizeInplace(seals, relin);
            expect({ level, square: bytesOf(ours).equals(bytesOf(seals)) }).toEqual({ level, square: true });
            if (level > 0) {
              kernel.rescale(ours);
              ctx.evaluator.rescaleToNextInplace(seals);
              expect({ level, rescale: bytesOf(ours).equals(bytesOf(seals)) }).toEqual({ level, rescale: true });
              // A fresh ciphertext with edge residues in every limb, the last included.
              const y = ciphertextAt(level, mulberry32(0x7e5c + level));
              const z = y.copy();
              try {
                kernel.rescale(y);
                ctx.evaluator.rescaleToNextInplace(z);
                expect({ level, edges: bytesOf(y).equals(bytesOf(z)) }).toEqual({ level, edges: true });
              } finally {
                free(y, z);
              }
            } else {
              expect(() => kernel.rescale(ours)).toThrow(/last level/);
            }
          } finally {
            free(x, ours, seals);
          }
        }
        // On two threads the rescales ran on the shared unit (one task per polynomial), else none did.
        expect(kernel.sharedRescales).toBe(threads === 2 ? 2 * ctx.topLevel : 0);
      } finally {
        free(relin);
      }
    });

    it('refuses a step it has no key for, and a ciphertext that is not two polynomials in NTT form', () => {
      const { ctx } = k;
      const x = ciphertextAt(ctx.topLevel, mulberry32(3));
      const out = new ctx.seal.Ciphertext();
      const squared = new ctx.seal.Ciphertext();
      try {
        expect(() => kernel.rotate(x, [2], galois, out)).toThrow(/^no Galois key for element 9$/);
        ctx.evaluator.square(x, squared);
        expect(() => kernel.rotate(squared, [1], galois, out)).toThrow(/layout or shape/);
      } finally {
        free(x, out, squared);
      }
    });
  });
}

// mnist-cnn's earlier data primes (38-bit first prime, five 26-bit ones) under a special prime
// just below 2^50, the integer path's limit (selectParameters now stops special primes at 48 bits).
suite('38 + 5 × 26 + 50 bits (special prime just below 2^50)', () => keyedContextWithChain(8192, [38, 26, 26, 26, 26, 26, 50], 26), { data: 38, special: 50 });
// mnist-cnn's parameters since issue 11 (q0 42 bits, special prime 46).
suite('mnist-cnn’s 42 + 5 × 26 + 46 bits', () => keyedContext({ depth: 5, scaleBits: 26, headroomBits: 12, minSlots: 4096, wantedHeadroomBits: 16 }), { data: 42, special: 46 });
// Larger primes, near the kernel's 2^50 limit: the integer path's quotient estimate at its worst.
suite('45–49-bit primes', () => keyedContextWithChain(8192, [49, 45, 45, 49], 45), { data: 49, special: 49 });
// Both cores on each key switch (keyswitch-threads.ts): the same bytes.
suite('mnist-cnn’s 42 + 5 × 26 + 46 bits', () => keyedContext({ depth: 5, scaleBits: 26, headroomBits: 12, minSlots: 4096, wantedHeadroomBits: 16 }), { data: 42, special: 46 }, 2);
suite('45–49-bit primes', () => keyedContextWithChain(8192, [49, 45, 45, 49], 45), { data: 49, special: 49 }, 2);
// A special prime smaller than a data prime (SEAL reduces c1's limbs into it; the reverse elsewhere).
suite('a 30-bit special prime below 40-bit data primes', () => keyedContextWithChain(4096, [40, 30, 30], 30), { data: 40, special: 30 });
// breast-cancer-mlp since version 1.2.0: its 48-bit special prime on the fused multiply-add path.
suite('breast-cancer-mlp’s 37 + 3 × 26 + 48 bits', () => keyedContext({ depth: 3, scaleBits: 26, headroomBits: 11, minSlots: 256 }), { data: 37, special: 48 }, 2);
// A special prime of 2^50 or more (the kernel's Shoup functions), as a model whose first prime needs
// more than 44 bits gets: breast-cancer-mlp's chain up to version 1.1.0 (37 + 3 × 26 bits,
// special 60), and 49-bit data primes under a 55-bit special prime.
suite('37 + 3 × 26 + 60 bits', () => keyedContextWithChain(8192, [37, 26, 26, 26, 60], 26), { data: 37, special: 60 });
suite('37 + 3 × 26 + 60 bits', () => keyedContextWithChain(8192, [37, 26, 26, 26, 60], 26), { data: 37, special: 60 }, 2);
suite('49-bit data primes, a 55-bit special prime', () => keyedContextWithChain(8192, [49, 45, 45, 55], 45), { data: 49, special: 55 });

describe('KeySwitchKernel on two threads: when the helper is gone', () => {
  it('the caller does every task itself, with the same bytes, and says it runs on one thread', async () => {
    const k = await keyedContext({ depth: 5, scaleBits: 26, headroomBits: 12, minSlots: 4096, wantedHeadroomBits: 16 });
    const keygen = new k.ctx.seal.KeyGenerator(k.ctx.context);
    const galois = keygen.createGaloisKeysWithSteps(Int32Array.from([1]));
    const kernel = KeySwitchKernel.create(k.ctx, { threads: 2, keySlots: 2 })!;
    const x = new k.ctx.seal.Ciphertext();
    const pt = new k.ctx.seal.Plaintext();
    const ours = new k.ctx.seal.Ciphertext();
    const seals = new k.ctx.seal.Ciphertext();
    try {
      k.ctx.encoder.encode(Float64Array.from({ length: k.ctx.slots }, (_, i) => Math.cos(i)), 2 ** 20, pt);
      k.encryptor.encryptSymmetric(pt, x);
      k.ctx.evaluator.rotateVector(x, 1, galois, seals);
      kernel.rotate(x, [1], galois, ours);
      expect(kernel.threads).toBe(2);
      const save = (ct: typeof x): Buffer => Buffer.from(ct.saveToArray(k.ctx.seal.ComprModeType.none) as Uint8Array);
      expect(save(ours).equals(save(seals))).toBe(true);
      await kernel.stopHelper();
      // The helper's exit is seen at the next turn of the event loop.
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(kernel.threads).toBe(1);
      const before = kernel.helperTasks;
      kernel.rotate(x, [1], galois, ours);
      expect(save(ours).equals(save(seals))).toBe(true);
      expect(kernel.helperTasks).toBe(before);
    } finally {
      kernel.dispose();
      free(x, pt, ours, seals, galois, keygen);
      k.dispose();
    }
  });

  it('a key first used on two threads at the lowest level serves the top level whole (rotation and relinearisation: SEAL’s bytes)', async () => {
    // Found by the benchmark: the helper's key slot was filled with only the limbs of the level
    // that first asked for it, so a later key switch at a higher level read garbage for the rest.
    const k = await keyedContextWithChain(8192, [37, 26, 26, 26, 60], 26);
    const keygen = new k.ctx.seal.KeyGenerator(k.ctx.context);
    const galois = keygen.createGaloisKeysWithSteps(Int32Array.from([1]));
    const relin = keygen.createRelinKeys();
    const kernel = KeySwitchKernel.create(k.ctx, { threads: 2, keySlots: 2 })!;
    const top = residueCiphertext(k, k.ctx.topLevel, mulberry32(0x70f));
    const low = residueCiphertext(k, 0, mulberry32(0x10e));
    const ours = new k.ctx.seal.Ciphertext();
    const seals = new k.ctx.seal.Ciphertext();
    const save = (ct: Ciphertext): Buffer => Buffer.from(ct.saveToArray(k.ctx.seal.ComprModeType.none) as Uint8Array);
    try {
      expect(kernel.threads).toBe(2);
      for (const x of [low, top]) {
        kernel.rotate(x, [1], galois, ours);
        k.ctx.evaluator.rotateVector(x, 1, galois, seals);
        expect({ level: x.coeffModulusSize() - 1, rotation: save(ours).equals(save(seals)) }).toEqual({ level: x.coeffModulusSize() - 1, rotation: true });
        x.setScale(2 ** 12);
        kernel.squareRelinearize(x, relin, ours);
        k.ctx.evaluator.square(x, seals);
        k.ctx.evaluator.relinearizeInplace(seals, relin);
        expect({ level: x.coeffModulusSize() - 1, square: save(ours).equals(save(seals)) }).toEqual({ level: x.coeffModulusSize() - 1, square: true });
      }
      // (The key slots are the shared memory's, used by every two-thread key switch whether or not
      // the helper, still starting, took any of its tasks.)
    } finally {
      kernel.dispose();
      free(top, low, ours, seals, relin, galois, keygen);
      k.dispose();
    }
  });

  it('the task code the helper runs has the layout constants of the module', () => {
    // runTask writes its constants out (its source is also the helper's); they must be the module's.
    const written = [...taskSource().matchAll(/const \w+\s*=\s*(\d+);/g)].slice(0, 6).map((m) => Number(m[1]));
    const { HEADER_BYTES_F64, LAYOUT_F64, PRIMES_F64, PRIME_FIELDS_, KEYS_F64, D_WORD_ } = TASK_LAYOUT;
    expect(written).toEqual([HEADER_BYTES_F64, LAYOUT_F64, PRIMES_F64, PRIME_FIELDS_, KEYS_F64, D_WORD_]);
  });
});

describe('KeySwitchKernel: where it does not apply', () => {
  it('declines parameters with a data prime of 2^50 or more (SEAL rotates instead)', async () => {
    const k = await keyedContext({ depth: 2, scaleBits: 40, headroomBits: 20, minSlots: 4096 });
    try {
      const data = k.ctx.params.primes.slice(0, -1).map(Number);
      expect(Math.max(...data)).toBeGreaterThanOrEqual(2 ** 50);
      expect(KeySwitchKernel.create(k.ctx)).toBeNull();
    } finally {
      k.dispose();
    }
  });

  it('finds SEAL’s minimal primitive root (checked by brute force on a small prime)', () => {
    // 2N = 16, q = 97: the primitive 16th roots are the x with x^8 = −1.
    const roots = Array.from({ length: 96 }, (_, i) => BigInt(i + 1)).filter((x) => x ** 8n % 97n === 96n);
    expect(minimalPrimitiveRoot(16, 97n)).toBe(roots[0]);
    expect(() => minimalPrimitiveRoot(16, 101n)).toThrow(/not 1 mod 16/);
  });
});
