import { beforeAll, describe, it, expect } from 'vitest';
import type { MainModule } from 'node-seal';
import { HeError } from '../errors.js';
import { loadSeal } from '../seal/runtime.js';
import type { SealRuntime } from '../seal/runtime.js';
import { HeContext } from './context.js';
import { parametersFingerprint, primeAt, slotCount, topLevel } from './parameters.js';
import type { HeParameters } from './parameters.js';
import { FAST_SPECIAL_PRIME_BITS, SPECIAL_MARGIN_BITS, assertSecure, buildParameters, chainBits, selectParameters } from './select.js';
import type { ParameterRequirements } from './select.js';

function failure(fn: () => unknown): { code: string; message: string } {
  try {
    const out = fn();
    if (out instanceof HeContext) out.dispose();
  } catch (err) {
    if (!(err instanceof HeError)) throw new Error(`expected an HeError, got ${String(err)}`);
    return { code: err.code, message: err.message };
  }
  return { code: 'no error', message: '' };
}

function budget(seal: MainModule, degree: number): number {
  return seal.CoeffModulus.MaxBitCount(degree, seal.SecLevelType.tc128);
}

function primeBits(p: HeParameters): number[] {
  return p.primes.map((q) => BigInt(q).toString(2).length);
}

const SMALL: ParameterRequirements = { depth: 1, scaleBits: 26, headroomBits: 9, minSlots: 32 };
/** The parameters SMALL selects, computed once with SEAL 4.1 (node-seal 7) and pasted here. */
const SMALL_PRIMES = ['34359697409', '67084289', '281474976694273'];
const SMALL_FINGERPRINT = 'fcec9cca0a153ddd29997077647816fb3fad809047f704ffb357f9e1b33245f1';

describe('parameters', () => {
  let rt: SealRuntime;
  let seal: MainModule;

  beforeAll(async () => {
    rt = await loadSeal();
    seal = rt.seal;
  });

  describe('chainBits', () => {
    it('is [scale + headroom, scale x depth, special >= both]', () => {
      expect(chainBits({ depth: 3, scaleBits: 26, headroomBits: 9, minSlots: 1 })).toEqual([35, 26, 26, 26, 35]);
      expect(chainBits({ depth: 1, scaleBits: 40, headroomBits: 2, minSlots: 1 })).toEqual([42, 40, 42]);
    });

    it('refuses a first prime over 60 bits', () => {
      expect(failure(() => chainBits({ depth: 1, scaleBits: 50, headroomBits: 11, minSlots: 1 })).code).toBe('params_unsatisfiable');
      expect(chainBits({ depth: 1, scaleBits: 50, headroomBits: 10, minSlots: 1 })[0]).toBe(60);
    });
  });

  describe('selectParameters', () => {
    it('picks N = 4096 for depth 1, scale 26 and few slots', () => {
      const p = selectParameters(seal, SMALL);
      expect(p.polyModulusDegree).toBe(4096);
      expect(p.coeffModulusBits).toEqual([35, 26, 109 - 35 - 26]);
      expect(primeBits(p)).toEqual(p.coeffModulusBits);
      expect(p.scaleBits).toBe(26);
      expect(topLevel(p)).toBe(1);
      expect(slotCount(p)).toBe(2048);
      expect(primeAt(p, 1)).toBe(Number(p.primes[1]));
    });

    it('grants wanted headroom only from the budget left, keeping the special prime 4 bits above the first', () => {
      const req = { depth: 5, scaleBits: 26, headroomBits: 12, minSlots: 3136 };
      // 218 bits at 8192: data 38 + 5 x 26 leaves 50 for the special prime; 4 more bits on q0 leave 46.
      expect(selectParameters(seal, { ...req, wantedHeadroomBits: 21 }).coeffModulusBits).toEqual([42, 26, 26, 26, 26, 26, 46]);
      expect(selectParameters(seal, { ...req, wantedHeadroomBits: 14 }).coeffModulusBits).toEqual([40, 26, 26, 26, 26, 26, 48]);
      // Wanting no more than the minimum changes nothing, and the degree never grows for it.
      expect(selectParameters(seal, { ...req, wantedHeadroomBits: 12 })).toEqual(selectParameters(seal, req));
      expect(selectParameters(seal, { ...req, wantedHeadroomBits: 40 }).polyModulusDegree).toBe(8192);
    });

    it('stops the special prime at 48 bits where the budget leaves more, unless the first prime needs it larger', () => {
      expect(FAST_SPECIAL_PRIME_BITS).toBe(48);
      // breast-cancer-mlp: 37 + 3 x 26 = 115 of 218 bits at 8192 would leave 60 for the special prime.
      const mlp = selectParameters(seal, { depth: 3, scaleBits: 26, headroomBits: 11, minSlots: 256 });
      expect(mlp.coeffModulusBits).toEqual([37, 26, 26, 26, 48]);
      expect(BigInt(mlp.primes[4]!) < 2n ** 48n).toBe(true);
      // A 50-bit first prime: the special prime stays SPECIAL_MARGIN_BITS above it.
      expect(selectParameters(seal, { depth: 2, scaleBits: 40, headroomBits: 10, minSlots: 256 }).coeffModulusBits).toEqual([50, 40, 40, 50 + SPECIAL_MARGIN_BITS]);
      // Where the budget leaves less than 48 bits, the special prime takes all of it (mnist-cnn: 46).
      expect(selectParameters(seal, { depth: 5, scaleBits: 26, headroomBits: 12, minSlots: 3136, wantedHeadroomBits: 21 }).coeffModulusBits.at(-1)).toBe(46);
    });

    it('picks N = 8192 for depth 5 and 3136 slots', () => {
      const p = selectParameters(seal, { depth: 5, scaleBits: 26, headroomBits: 12, minSlots: 3136 });
      expect(p.polyModulusDegree).toBe(8192);
      expect(p.coeffModulusBits.slice(0, -1)).toEqual([38, 26, 26, 26, 26, 26]);
      expect(topLevel(p)).toBe(5);
      // Same depth with few slots still needs 8192: 206 bits do not fit 4096's 109.
      expect(selectParameters(seal, { depth: 5, scaleBits: 26, headroomBits: 12, minSlots: 8 }).polyModulusDegree).toBe(8192);
      // Depth 1 with 3136 slots needs 8192 for the slots alone.
      expect(selectParameters(seal, { ...SMALL, minSlots: 3136 }).polyModulusDegree).toBe(8192);
      expect(selectParameters(seal, { ...SMALL, minSlots: 2048 }).polyModulusDegree).toBe(4096);
    });

    it('over a grid: never exceeds the tc128 budget, holds the slots, and picks the smallest degree that fits', () => {
      const degrees = [1024, 2048, 4096, 8192, 16384, 32768];
      let selected = 0;
      for (const scaleBits of [20, 26, 30, 40]) {
        for (const depth of [1, 2, 3, 5, 8]) {
          for (const headroomBits of [2, 8]) {
            for (const minSlots of [1, 1000, 3136, 8192]) {
              const req = { depth, scaleBits, headroomBits, minSlots };
              let p: HeParameters;
              try {
                p = selectParameters(seal, req);
              } catch (err) {
                expect(err).toBeInstanceOf(HeError);
                expect([req, (err as HeError).code]).toEqual([req, 'params_unsatisfiable']);
                continue;
              }
              selected++;
              const n = p.polyModulusDegree;
              const bits = primeBits(p);
              const total = bits.reduce((a, b) => a + b, 0);
              expect([req, total <= budget(seal, n)]).toEqual([req, true]);
              expect(bits).toEqual(p.coeffModulusBits);
              expect(n / 2).toBeGreaterThanOrEqual(minSlots);
              const chain = chainBits(req);
              expect(p.coeffModulusBits.slice(0, -1)).toEqual(chain.slice(0, -1));
              const special = p.coeffModulusBits[p.coeffModulusBits.length - 1]!;
              expect(special).toBeGreaterThanOrEqual(chain[chain.length - 1]!);
              expect(special).toBeLessThanOrEqual(Math.min(60, Math.max(FAST_SPECIAL_PRIME_BITS, p.coeffModulusBits[0]! + SPECIAL_MARGIN_BITS, chain[chain.length - 1]!)));
              // Every smaller degree lacks slots or budget.
              const chainTotal = chain.reduce((a, b) => a + b, 0);
              for (const smaller of degrees.filter((d) => d < n)) {
                expect([req, smaller, smaller / 2 < minSlots || chainTotal > budget(seal, smaller) || Math.min(...chain) <= Math.log2(2 * smaller) + 1]).toEqual([req, smaller, true]);
              }
            }
          }
        }
      }
      expect(selected).toBeGreaterThan(100);
    });

    it('refuses what no degree can hold with params_unsatisfiable', () => {
      expect(failure(() => selectParameters(seal, { ...SMALL, depth: 0 })).code).toBe('params_unsatisfiable');
      expect(failure(() => selectParameters(seal, { ...SMALL, depth: 1.5 })).code).toBe('params_unsatisfiable');
      expect(failure(() => selectParameters(seal, { ...SMALL, minSlots: 16385 })).code).toBe('params_unsatisfiable');
      expect(failure(() => selectParameters(seal, { depth: 40, scaleBits: 26, headroomBits: 9, minSlots: 1 })).code).toBe('params_unsatisfiable');
    });

    it('is deterministic', () => {
      expect(selectParameters(seal, SMALL)).toEqual(selectParameters(seal, SMALL));
    });
  });

  describe('buildParameters', () => {
    it('refuses a chain over the 128-bit budget with params_insecure', () => {
      expect(failure(() => buildParameters(seal, 4096, [40, 40, 40], 26))).toEqual({
        code: 'params_insecure',
        message: 'a 120-bit modulus at degree 4096 is below 128-bit security (limit 109 bits)',
      });
      expect(failure(() => buildParameters(seal, 2048, [30, 25], 25)).code).toBe('params_insecure');
      expect(failure(() => buildParameters(seal, 8192, [60, 60, 60, 40], 40)).code).toBe('params_insecure');
    });

    it('accepts a chain exactly at the budget', () => {
      const p = buildParameters(seal, 4096, [36, 36, 37], 30);
      expect(primeBits(p).reduce((a, b) => a + b, 0)).toBe(109);
      expect(p.fingerprint).toBe(parametersFingerprint(p));
    });

    it('assertSecure counts the real prime sizes, not the declared bits', () => {
      const p = selectParameters(seal, SMALL);
      // Declared bits are ignored; a larger prime pushes the modulus over the budget.
      assertSecure(seal, { ...p, coeffModulusBits: [1, 1, 1] });
      expect(failure(() => assertSecure(seal, { ...p, primes: [...p.primes, '4294967311'] })).code).toBe('params_insecure');
    });
  });

  describe('HeContext.create', () => {
    it('builds a context with one parms id per level', () => {
      const p = selectParameters(seal, { depth: 3, scaleBits: 26, headroomBits: 9, minSlots: 1 });
      const ctx = HeContext.create(rt, p);
      try {
        expect(ctx.topLevel).toBe(3);
        expect(ctx.slots).toBe(p.polyModulusDegree / 2);
        for (let l = 0; l <= 3; l++) expect(ctx.levelOf(ctx.parmsId(l))).toBe(l);
        expect(failure(() => ctx.parmsId(4)).code).toBe('params_mismatch');
      } finally {
        ctx.dispose();
      }
    });

    it('refuses a tampered fingerprint', () => {
      const p = selectParameters(seal, SMALL);
      const flipped = (p.fingerprint[0] === '0' ? '1' : '0') + p.fingerprint.slice(1);
      for (const fingerprint of [flipped, '0'.repeat(64), '']) {
        expect(failure(() => HeContext.create(rt, { ...p, fingerprint }))).toEqual({ code: 'params_mismatch', message: 'the parameter fingerprint does not match the parameters' });
      }
    });

    it('refuses tampered primes, even with a fingerprint recomputed over them', () => {
      const p = selectParameters(seal, SMALL);
      const primes = [...p.primes];
      primes[1] = '67043329'; // another 26-bit prime = 1 mod 8192, not the one SEAL derives first
      const tampered = { ...p, primes };
      expect(failure(() => HeContext.create(rt, tampered)).code).toBe('params_mismatch');
      expect(failure(() => HeContext.create(rt, { ...tampered, fingerprint: parametersFingerprint(tampered) }))).toEqual({
        code: 'params_mismatch',
        message: 'the declared primes are not the ones SEAL derives from the bit sizes',
      });
      // Bit sizes that do not produce the declared primes (the fingerprint does not cover them).
      expect(failure(() => HeContext.create(rt, { ...p, coeffModulusBits: [35, 27, 47] })).code).toBe('params_mismatch');
      // A degree changed with its fingerprint recomputed: SEAL derives other primes.
      const degree = { ...p, polyModulusDegree: 8192 };
      expect(failure(() => HeContext.create(rt, { ...degree, fingerprint: parametersFingerprint(degree) })).code).toBe('params_mismatch');
    });

    it('refuses another scheme or security level, and consistent but insecure parameters', () => {
      const p = selectParameters(seal, SMALL);
      expect(failure(() => HeContext.create(rt, { ...p, securityLevel: 192 as 128 })).code).toBe('params_insecure');
      expect(failure(() => HeContext.create(rt, { ...p, scheme: 'bfv' as 'ckks' })).code).toBe('params_insecure');
      // 120 bits at N = 4096, self-consistent (primes from SEAL, fingerprint recomputed): SEAL refuses at tc128.
      const moduli = seal.CoeffModulus.Create(4096, Int32Array.from([40, 40, 40]));
      const primes = (seal.jsArrayFromVecModulus(moduli) as bigint[]).map(String);
      moduli.delete();
      const insecure = { ...p, coeffModulusBits: [40, 40, 40], primes };
      expect(failure(() => HeContext.create(rt, { ...insecure, fingerprint: parametersFingerprint(insecure) })).code).toBe('params_insecure');
    });
  });

  describe('fingerprint', () => {
    it('is stable: same inputs, same hex; pinned for a fixed parameter set', () => {
      const a = selectParameters(seal, SMALL);
      const b = selectParameters(seal, SMALL);
      expect(a.fingerprint).toBe(b.fingerprint);
      expect(a.fingerprint).toMatch(/^[0-9a-f]{64}$/);
      expect(a.primes).toEqual(SMALL_PRIMES);
      expect(a.fingerprint).toBe(SMALL_FINGERPRINT);
      expect(parametersFingerprint(a)).toBe(SMALL_FINGERPRINT);
      expect(parametersFingerprint({ securityLevel: 128, primes: SMALL_PRIMES, polyModulusDegree: 4096, scheme: 'ckks' })).toBe(SMALL_FINGERPRINT);
    });

    it('covers scheme, degree, primes and security level (and only those)', () => {
      const p = selectParameters(seal, SMALL);
      const changed = [
        parametersFingerprint({ ...p, polyModulusDegree: 8192 }),
        parametersFingerprint({ ...p, primes: [...p.primes].reverse() }),
        parametersFingerprint({ ...p, primes: p.primes.slice(0, 2) }),
        parametersFingerprint({ ...p, scheme: 'bfv' as 'ckks' }),
        parametersFingerprint({ ...p, securityLevel: 192 as 128 }),
      ];
      for (const fp of changed) expect(fp).not.toBe(p.fingerprint);
      expect(new Set(changed).size).toBe(changed.length);
      const other: HeParameters = { ...p, scaleBits: 30, coeffModulusBits: [] };
      expect(parametersFingerprint(other)).toBe(p.fingerprint);
    });
  });
});
