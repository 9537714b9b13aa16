import { afterAll, beforeAll, describe, it, expect } from 'vitest';
import type { GaloisKeys, KeyGenerator } from 'node-seal';
import { HeContext } from '../params/context.js';
import { selectParameters } from '../params/select.js';
import { loadSeal } from '../seal/runtime.js';
import type { SealRuntime } from '../seal/runtime.js';
import { free } from '../seal/scope.js';
import { galoisElement } from './galois.js';

function powMod(base: bigint, exp: bigint, m: bigint): bigint {
  let result = 1n;
  let b = base % m;
  let e = exp;
  while (e > 0n) {
    if (e & 1n) result = (result * b) % m;
    b = (b * b) % m;
    e >>= 1n;
  }
  return result;
}

describe('galoisElement', () => {
  it('is 3^step mod 2N', () => {
    expect(galoisElement(1, 4096)).toBe(3);
    expect(galoisElement(2, 4096)).toBe(9);
    expect(galoisElement(5, 4096)).toBe(243);
    expect(galoisElement(8, 4096)).toBe(6561 % 8192);
    for (const n of [1024, 4096, 8192, 32768]) {
      for (const step of [1, 2, 3, 5, 7, 16, 100, 511, n / 2 - 1]) {
        expect([n, step, galoisElement(step, n)]).toEqual([n, step, Number(powMod(3n, BigInt(step), BigInt(2 * n)))]);
      }
    }
  });

  it('treats a negative step as a right rotation, 3^(slots - |step|), and refuses steps SEAL refuses', () => {
    for (const n of [1024, 8192]) {
      const m = 2 * n;
      const slots = n / 2;
      for (const step of [1, 3, 64, slots - 1]) {
        expect(galoisElement(-step, n)).toBe(Number(powMod(3n, BigInt(slots - step), BigInt(m))));
        expect((galoisElement(step, n) * galoisElement(-step, n)) % m).toBe(1);
        expect(() => galoisElement(0, n)).toThrow(/not a rotation step/);
        expect(() => galoisElement(step + slots, n)).toThrow(/not a rotation step/);
      }
    }
  });

  it('maps the N/2 rotations to N/2 distinct odd elements below 2N', () => {
    const n = 1024;
    const seen = new Set<number>();
    seen.add(1); // step 0: the identity
    for (let step = 1; step < n / 2; step++) {
      const e = galoisElement(step, n);
      expect(e % 2).toBe(1);
      expect(e).toBeLessThan(2 * n);
      seen.add(e);
    }
    expect(seen.size).toBe(n / 2);
  });
});

describe('galoisElement matches SEAL', () => {
  let rt: SealRuntime;
  let ctx: HeContext;
  let keygen: KeyGenerator;

  beforeAll(async () => {
    rt = await loadSeal();
    ctx = HeContext.create(rt, selectParameters(rt.seal, { depth: 1, scaleBits: 26, headroomBits: 9, minSlots: 32 }));
    keygen = new rt.seal.KeyGenerator(ctx.context);
  });

  afterAll(() => {
    free(keygen);
    ctx?.dispose();
  });

  function loadKeys(steps: number[]): GaloisKeys {
    const serializable = keygen.createGaloisKeysSerializableWithSteps(Int32Array.from(steps));
    const keys = new rt.seal.GaloisKeys();
    try {
      keys.loadFromArray(ctx.context, serializable.saveToArray(rt.seal.ComprModeType.zstd));
      return keys;
    } catch (err) {
      free(keys);
      throw err;
    } finally {
      free(serializable);
    }
  }

  it('keys made for steps [1, 5] report hasKey for exactly those elements', () => {
    const n = ctx.params.polyModulusDegree;
    expect(n).toBe(4096);
    const keys = loadKeys([1, 5]);
    try {
      expect(keys.size()).toBe(2);
      expect(keys.hasKey(galoisElement(1, n))).toBe(true);
      expect(keys.hasKey(galoisElement(5, n))).toBe(true);
      for (const other of [2, 3, 4, 6, -1, -5]) expect([other, keys.hasKey(galoisElement(other, n))]).toEqual([other, false]);
    } finally {
      free(keys);
    }
  });

  it('keys made for negative steps match too', () => {
    const n = ctx.params.polyModulusDegree;
    const keys = loadKeys([-1, 7, n / 2 - 3]);
    try {
      expect(keys.size()).toBe(3);
      for (const step of [-1, 7, n / 2 - 3]) expect([step, keys.hasKey(galoisElement(step, n))]).toEqual([step, true]);
      expect(keys.hasKey(galoisElement(-3, n))).toBe(true); // -3 is n/2 - 3 modulo the slot count
      expect(keys.hasKey(galoisElement(1, n))).toBe(false);
    } finally {
      free(keys);
    }
  });

  it('applying the element is SEAL rotateVector by that step (left for positive steps)', () => {
    const { seal, encoder, evaluator } = ctx;
    const n = ctx.params.polyModulusDegree;
    const slots = n / 2;
    const sk = keygen.secretKey();
    const pk = keygen.createPublicKey();
    const encryptor = new seal.Encryptor(ctx.context, pk);
    const decryptor = new seal.Decryptor(ctx.context, sk);
    const keys = loadKeys([5]);
    const pt = new seal.Plaintext();
    const ct = new seal.Ciphertext();
    const byElement = new seal.Ciphertext();
    const byStep = new seal.Ciphertext();
    try {
      const values = Float64Array.from({ length: slots }, (_, i) => i % 97);
      encoder.encode(values, 2 ** 26, pt);
      encryptor.encrypt(pt, ct);
      evaluator.applyGalois(ct, galoisElement(5, n), keys, byElement);
      evaluator.rotateVector(ct, 5, keys, byStep);
      const decode = (c: typeof ct): Float64Array => {
        decryptor.decrypt(c, pt);
        return encoder.decodeFloat64(pt) as Float64Array;
      };
      const a = decode(byElement);
      const b = decode(byStep);
      for (let j = 0; j < slots; j += 31) {
        expect(Math.abs(a[j]! - values[(j + 5) % slots]!)).toBeLessThan(1e-2);
        expect(Math.abs(a[j]! - b[j]!)).toBeLessThan(1e-2);
      }
    } finally {
      free(pt, ct, byElement, byStep, keys, encryptor, decryptor, pk, sk);
    }
  });
});
