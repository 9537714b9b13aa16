import type { Ciphertext } from 'node-seal';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClientKeyPair, decryptResult, projectReplicas } from '../client/index.js';
import { compile } from '../compiler/compile.js';
import { answerPrecision, checkAnswerPlan, chooseResultPacking, keyAmplification, packingNoise } from '../compiler/packing.js';
import type { Plan, ResultPacking } from '../compiler/plan.js';
import { isHeError } from '../errors.js';
import { HeContext } from '../params/context.js';
import { loadSeal } from '../seal/runtime.js';
import { free } from '../seal/scope.js';
import { EnvelopeKind, decodeEnvelope, encodeEnvelope } from './envelope.js';
import { openResultEnvelope, resultEnvelope } from './ciphertexts.js';
import { BitReader, BitWriter, checkPacking, fieldPacker, fieldPackerNumber, packResult, packedResultBytes, unpackResult } from './packed-result.js';
import { bundledModel } from '../testing/bundled-model.js';
import { mulberry32 } from '../testing/mulberry32.js';
import { keyedContextWithChain } from '../testing/keyed-context.js';

function codeOf(fn: () => unknown): string {
  try {
    const out = fn();
    if (Array.isArray(out)) free(...(out as Ciphertext[]));
    else if (out && typeof out === 'object' && 'delete' in out) free(out as Ciphertext);
    return 'ok';
  } catch (err) {
    if (isHeError(err)) return err.code;
    throw err;
  }
}

/**
 * The packed answer of `ct` (level 0, NTT form; not changed) by the format's definition, in BigInt
 * on SEAL's own serialisation of its coefficients: round(((c·multiplier) mod q)·2^bits / q) mod 2^bits.
 */
function packedByDefinition(ctx: HeContext, ct: Ciphertext, packing: ResultPacking): Uint8Array {
  const copy = new ctx.seal.Ciphertext();
  try {
    copy.loadFromArray(ctx.context, ct.saveToArray(ctx.seal.ComprModeType.none) as Uint8Array);
    ctx.evaluator.cipherTransformFromNttInplace(copy);
    const raw = copy.saveToArray(ctx.seal.ComprModeType.none) as Uint8Array;
    const N = ctx.params.polyModulusDegree;
    const start = 16 + 32 + 1 + 5 * 8 + 16 + 8;
    const coefficients = new BigUint64Array(raw.slice(start, start + 16 * N).buffer);
    const q = BigInt(ctx.params.primes[0]!);
    const stride = packing.c0Stride ?? 1;
    const expected = new Uint8Array(packedResultBytes(N, packing));
    expected.set([0x43, 0x43, 0x50, 0x52, stride === 1 ? 1 : 2, packing.bits[0]!, packing.bits[1]!, Math.log2(stride)]);
    new DataView(expected.buffer).setUint32(8, packing.multiplier, true);
    new DataView(expected.buffer).setUint32(12, N, true);
    const writer = new BitWriter(expected, 16);
    for (let poly = 0; poly < 2; poly++) {
      const b = BigInt(packing.bits[poly]!);
      // c0: only the coefficients i·stride.
      const step = poly === 0 ? stride : 1;
      for (let i = 0; i < N; i += step) writer.write(((((coefficients[poly * N + i]! * BigInt(packing.multiplier)) % q << b) + q / 2n) / q) & ((1n << b) - 1n), packing.bits[poly]!);
      writer.align();
    }
    return expected;
  } finally {
    free(copy);
  }
}

/**
 * Writes `fields` (per polynomial: N for c1, N / c0Stride for c0) as a packed answer, unpacks it,
 * and checks every rebuilt coefficient against the definition: c = floor(f·q / 2^bits + 1/2),
 * with q itself as 0, at coefficient k·c0Stride of c0 and 0 between.
 */
function expectUnpacked(ctx: HeContext, packing: ResultPacking, scale: number, fields: readonly (readonly bigint[])[], label: string): void {
  const N = ctx.params.polyModulusDegree;
  const q = BigInt(ctx.params.primes[0]!);
  const stride = packing.c0Stride ?? 1;
  expect(fields.map((f) => f.length)).toEqual([N / stride, N]);
  const item = new Uint8Array(packedResultBytes(N, packing));
  const view = new DataView(item.buffer);
  item.set([0x43, 0x43, 0x50, 0x52, stride === 1 ? 1 : 2, packing.bits[0]!, packing.bits[1]!, Math.log2(stride)]);
  view.setUint32(8, packing.multiplier, true);
  view.setUint32(12, N, true);
  const writer = new BitWriter(item, 16);
  for (let poly = 0; poly < 2; poly++) {
    for (const f of fields[poly]!) writer.write(f, packing.bits[poly]!);
    writer.align();
  }
  const ct = unpackResult(ctx, item, scale, packing);
  try {
    ctx.evaluator.cipherTransformFromNttInplace(ct);
    const raw = ct.saveToArray(ctx.seal.ComprModeType.none) as Uint8Array;
    const start = 16 + 32 + 1 + 5 * 8 + 16 + 8;
    const got = new BigUint64Array(raw.slice(start, start + 16 * N).buffer);
    for (let poly = 0; poly < 2; poly++) {
      const b = BigInt(packing.bits[poly]!);
      const step = poly === 0 ? stride : 1;
      fields[poly]!.forEach((f, k) => {
        let c = (f * q + (1n << (b - 1n))) >> b;
        if (c === q) c = 0n;
        const i = k * step;
        if (got[poly * N + i] !== c) expect({ label, poly, i, f, got: got[poly * N + i] }).toEqual({ label, poly, i, f, got: c });
      });
    }
    for (let i = 0; i < N; i++) if (i % stride !== 0 && got[i] !== 0n) expect({ label, i, got: got[i] }).toEqual({ label, i, got: 0n });
  } finally {
    free(ct);
  }
}

// Packed answers (mnist-cnn's single plan: N = 8192, q0 of 42 bits, multiplier 1; c0 at every
// 256th coefficient with all 42 bits and c1 at 32 bits, or, without the stride, 26 + 33 bits).
// Every comparison is with the same ciphertext decrypted unpacked; the tolerance is six times the
// predicted standard deviation of the packing's rounding (packingNoise) for what is compared:
// one slot of this key's worst of 4,096, or an output, the mean of 256 replicas.
describe('packed answers', () => {
  let plan: Plan;
  let ctx: HeContext;
  let keys: ClientKeyPair;
  let packing: ResultPacking;
  /** The same plan's packing with every coefficient of c0 (the format without c0Stride). */
  let full: ResultPacking;

  beforeAll(async () => {
    const rt = await loadSeal();
    plan = compile(rt.seal, bundledModel('mnist-cnn'), { mode: 'single' });
    ctx = HeContext.create(rt, plan.public.params);
    keys = ClientKeyPair.generate(ctx);
    packing = plan.public.output.packing;
    const { params, output } = plan.public;
    full = chooseResultPacking(params, output.scale, packing.bound, answerPrecision(plan.public.model), { replicas: output.replicas, outputs: output.size });
  });
  afterAll(() => {
    keys?.dispose();
    ctx?.dispose();
  });

  /** A level-0 ciphertext at the plan's output scale holding `values` in every slot period of 16. */
  function answer(values: readonly number[]): Ciphertext {
    const { seal, encoder } = ctx;
    const slots = new Float64Array(ctx.slots);
    for (let i = 0; i < slots.length; i++) slots[i] = values[i % 16] ?? 0;
    const pt = new seal.Plaintext();
    const ct = new seal.Ciphertext();
    try {
      encoder.encode(slots, plan.public.output.scale, pt);
      keys.encryptor.encrypt(pt, ct);
      ctx.evaluator.cipherModSwitchToInplace(ct, ctx.parmsId(0));
      return ct;
    } finally {
      free(pt);
    }
  }

  function decrypt(ct: Ciphertext): Float64Array {
    const pt = new ctx.seal.Plaintext();
    try {
      keys.decryptor.decrypt(ct, pt);
      return Float64Array.from(ctx.encoder.decodeFloat64(pt) as Float64Array);
    } finally {
      free(pt);
    }
  }

  it('mnist-cnn: c0 at every 256th coefficient with all 42 bits, c1 at 32 bits: one answer in 32.9 kB (60.4 kB with every coefficient of c0 at 26 bits)', () => {
    expect(plan.public.layout).toBe('im2col');
    expect(plan.public.output.replicas).toBe(256);
    expect(packing).toMatchObject({ multiplier: 1, bits: [42, 32], bound: 21_600, c0Stride: 256 });
    expect(packing.range).toBeGreaterThanOrEqual(1.5 * packing.bound);
    expect(packedResultBytes(8192, packing)).toBe(16 + 168 + 32_768);
    expect(packing.noise).toBeLessThanOrEqual(answerPrecision(bundledModel('mnist-cnn')) / 6);
    expect(full).toMatchObject({ multiplier: 1, bits: [26, 33] });
    expect(full.c0Stride).toBeUndefined();
    expect(packedResultBytes(8192, full)).toBe(16 + 60_416);
  });

  it('round trip, every coefficient of c0: every slot equals the unpacked decryption within 6 standard deviations, and the spread matches the prediction', () => {
    const values = [7.9, -1.5, 0.62, -1.4, -2.2, -1.9, -1.1, -2.4, 1.9, -29.5, 0, 0, 0, 0, 0, 0];
    const ct = answer(values);
    let rebuilt: Ciphertext | null = null;
    const packing = full;
    try {
      const plain = decrypt(ct);
      const item = packResult(ctx, ct, packing, plan.public.output.scale);
      expect(item.length).toBe(packedResultBytes(ctx.params.polyModulusDegree, packing));
      rebuilt = unpackResult(ctx, item, plan.public.output.scale, packing);
      expect(rebuilt.isNttForm()).toBe(true);
      expect(rebuilt.scale()).toBe(plan.public.output.scale * packing.multiplier);
      const packed = decrypt(rebuilt);
      let sq = 0;
      let worst = 0;
      for (let i = 0; i < packed.length; i++) {
        const d = packed[i]! - plain[i]!;
        sq += d * d;
        worst = Math.max(worst, Math.abs(d));
      }
      const spread = Math.sqrt(sq / packed.length);
      const scale = plan.public.output.scale * packing.multiplier;
      expect(worst).toBeLessThan(6 * packingNoise(ctx.params, scale, packing.bits, 1, keyAmplification(1, 4096)));
      // Over 4,096 slots the measured standard deviation is within 15% of an average key's.
      const average = packingNoise(ctx.params, scale, packing.bits);
      expect(spread / average).toBeGreaterThan(0.85);
      expect(spread / average).toBeLessThan(1.15);
    } finally {
      free(ct);
      if (rebuilt) free(rebuilt);
    }
  });

  it('round trip, c0 at every 256th coefficient: each output (the mean of its replicas) equals the unpacked one within 6 standard deviations, over 16 answers the spread matches the prediction', () => {
    const random = mulberry32(0x57d);
    const scale = plan.public.output.scale * packing.multiplier;
    const errors: number[] = [];
    for (let t = 0; t < 16; t++) {
      const ct = answer(Array.from({ length: 16 }, () => 40 * (2 * random() - 1)));
      let rebuilt: Ciphertext | null = null;
      try {
        const [plain] = projectReplicas(plan.public, [decrypt(ct)]);
        const item = packResult(ctx, ct, packing, plan.public.output.scale);
        rebuilt = unpackResult(ctx, item, plan.public.output.scale, packing);
        const slots = decrypt(rebuilt);
        // The rebuilt c0 is 0 between its coefficients i·256: slot by slot the decryption is far off,
        // and only the mean of the replicas is the answer.
        expect(Math.max(...slots.map((v, i) => Math.abs(v - plain![i]!)))).toBeGreaterThan(1e3);
        const [projected] = projectReplicas(plan.public, [slots]);
        for (let j = 0; j < 16; j++) {
          errors.push(projected![j]! - plain![j]!);
          for (let r = 1; r < 256; r++) expect(projected![r * 16 + j]).toBe(projected![j]);
        }
      } finally {
        free(ct);
        if (rebuilt) free(rebuilt);
      }
    }
    const worst = Math.max(...errors.map(Math.abs));
    expect(worst).toBeLessThan(6 * packingNoise(ctx.params, scale, packing.bits, 256, keyAmplification(256, 16)));
    // 256 errors: their standard deviation is within 30% of an average key's prediction for the mean of 256 replicas.
    const spread = Math.sqrt(errors.reduce((a, e) => a + e * e, 0) / errors.length);
    const average = packingNoise(ctx.params, scale, packing.bits, 256);
    expect(spread / average).toBeGreaterThan(0.7);
    expect(spread / average).toBeLessThan(1.3);
  });

  it('packResult (coefficients read in place in the SEAL heap, Number fields) writes the bytes of the exact BigInt formula on the SEAL serialisation, with and without c0Stride', () => {
    for (const p of [packing, full]) {
      const ct = answer([7.9, -1.5, 0.62, -1.4, -2.2, -1.9, -1.1, -2.4, 1.9, -29.5]);
      const again = new ctx.seal.Ciphertext();
      try {
        const expected = packedByDefinition(ctx, ct, p);
        again.loadFromArray(ctx.context, ct.saveToArray(ctx.seal.ComprModeType.none) as Uint8Array);
        expect(Buffer.from(packResult(ctx, ct, p, plan.public.output.scale)).equals(Buffer.from(expected))).toBe(true);
        // The other path (through SEAL's serialisation): the same bytes.
        expect(Buffer.from(packResult(ctx, again, p, plan.public.output.scale, { readInPlace: false })).equals(Buffer.from(expected))).toBe(true);
      } finally {
        free(ct, again);
      }
    }
  });

  it('the noise model: one bit more on c1 halves its share; 256 replicas a sixteenth; the key tail', () => {
    const p = ctx.params;
    expect(packingNoise(p, 2 ** 26, [60, 27]) / packingNoise(p, 2 ** 26, [60, 28])).toBeCloseTo(2, 3);
    expect(packingNoise(p, 2 ** 26, [20, 27]) / packingNoise(p, 2 ** 26, [20, 27], 256)).toBeCloseTo(16, 9);
    expect(keyAmplification(1, 4096)).toBeCloseTo(19.2, 1);
    expect(keyAmplification(256, 10)).toBeCloseTo(1.29, 2);
    expect(keyAmplification(1e6, 10)).toBeLessThan(1.01);
  });

  it('the mean of the replicas: the shown outputs equal the unpacked ones within 6 standard deviations', () => {
    const values = [7.9, -1.5, 0.62, -1.4, -2.2, -1.9, -1.1, -2.4, 1.9, -29.5];
    const ct = answer(values);
    try {
      const body = resultEnvelope(ctx, plan.public.output, [ct]);
      const [out] = decryptResult(keys, plan.public, body);
      // Against the encoded values: the fresh encryption's own error is far below the packing's.
      values.forEach((v, j) => expect(Math.abs(out![j]! - v)).toBeLessThan(6 * packing.noise));
    } finally {
      free(ct);
    }
  });

  describe('a hostile answer is refused by name, and nothing else is read', () => {
    let item: Uint8Array;
    beforeAll(() => {
      const ct = answer([1, 2, 3]);
      try {
        item = packResult(ctx, ct, packing, plan.public.output.scale);
      } finally {
        free(ct);
      }
    });
    const unpack = (bytes: Uint8Array, p: ResultPacking = packing) => () => unpackResult(ctx, bytes, plan.public.output.scale, p);
    const edited = (at: number, value: number): Uint8Array => {
      const copy = item.slice();
      copy[at] = value;
      return copy;
    };

    it('the real item loads', () => {
      expect(codeOf(unpack(item))).toBe('ok');
    });

    it('every header field and the length', () => {
      const cases: [string, Uint8Array][] = [
        ['magic', edited(0, 0x44)],
        ['version 1 (every coefficient of c0)', edited(4, 1)],
        ['version 3', edited(4, 3)],
        ['bits of c0', edited(5, 22)],
        ['bits of c1', edited(6, 60)],
        ['c0 stride (every coefficient)', edited(7, 0)],
        ['c0 stride 128', edited(7, 7)],
        ['multiplier', edited(8, 45)],
        ['degree', edited(13, 0x10)],
        ['truncated', item.subarray(0, item.length - 1)],
        ['one byte more', Uint8Array.from([...item, 0])],
        ['empty', new Uint8Array(0)],
      ];
      for (const [name, bytes] of cases) expect([name, codeOf(unpack(bytes))]).toEqual([name, 'result_invalid']);
    });

    it('any payload of the right length is some ciphertext: 100 random ones load without error', () => {
      const rnd = mulberry32(7);
      const next = (): number => Math.floor(rnd() * 2 ** 31);
      for (let n = 0; n < 100; n++) {
        const copy = item.slice();
        for (let k = 0; k < 20; k++) copy[16 + (next() % (copy.length - 16))] = next() & 0xff;
        expect(codeOf(unpack(copy))).toBe('ok');
      }
    });

    it('a plan whose answer description is not usable (the plan comes from the provider)', () => {
      for (const bad of [{ multiplier: 0 }, { multiplier: 2.5 }, { bits: [21, 61] }, { bits: [0, 27] }, { bound: Number.NaN }, { bound: -1 }, { c0Stride: 1 }, { c0Stride: 3 }, { c0Stride: 2 ** 17 }]) {
        const p = { ...packing, ...bad } as ResultPacking;
        expect([bad, codeOf(() => checkPacking(p, 38))]).toEqual([bad, 'params_mismatch']);
      }
      expect(codeOf(() => checkAnswerPlan(plan.public))).toBe('ok');
      const output = plan.public.output;
      const edits: [string, Partial<typeof output>][] = [
        // A huge bound would switch the range check off; a larger multiplier would make answers wrap.
        ['bound 1e300', { packing: { ...packing, bound: 1e300 } }],
        ['multiplier 88', { packing: { ...packing, multiplier: 88 } }],
        // Fewer bits: noisier than the model's precision allows.
        ['bits 16 + 22', { packing: { ...packing, bits: [16, 22] } }],
        ['scale Infinity', { scale: Number.POSITIVE_INFINITY }],
        ['scale 2^40', { scale: 2 ** 40 }],
        ['replicas 3', { replicas: 3 }],
        ['replicas 512', { replicas: 512 }],
        // c0 only at every 128th coefficient: the mean of 256 replicas would take in coefficients that were not sent.
        ['c0 stride 128', { packing: { ...packing, c0Stride: 128 } }],
        ['c0 stride on a batch answer', { kind: 'batch', replicas: 1 }],
        ['replicas 128 with c0 stride 256', { replicas: 128 }],
      ];
      for (const [name, edit] of edits) {
        expect([name, codeOf(() => checkAnswerPlan({ ...plan.public, output: { ...output, ...edit } }))]).toEqual([name, 'params_mismatch']);
      }
      // A stride is plan format 2, and format 2 has one: a format-1 client could not read its answers.
      expect(plan.public.planFormat).toBe(2);
      expect(codeOf(() => checkAnswerPlan({ ...plan.public, planFormat: 1 }))).toBe('params_mismatch');
      expect(codeOf(() => checkAnswerPlan({ ...plan.public, output: { ...output, packing: full } }))).toBe('params_mismatch');
      expect(codeOf(() => checkAnswerPlan({ ...plan.public, planFormat: 1, output: { ...output, packing: full } }))).toBe('ok');
    });

    it('the server packs only an answer at the plan\'s scale', () => {
      const ct = answer([1]);
      try {
        expect(codeOf(() => packResult(ctx, ct, packing, plan.public.output.scale * 2))).toBe('ciphertext_mismatch');
      } finally {
        free(ct);
      }
    });

    it('an envelope with another count, or a result item where a request was expected', () => {
      const body = encodeEnvelope({ kind: EnvelopeKind.results, fingerprint: ctx.params.fingerprint, items: [item, item] });
      // Two answers where the plan has one: over the exact size first.
      expect(codeOf(() => openResultEnvelope(ctx, body, plan.public.output))).toBe('envelope_too_large');
      const relabelled = encodeEnvelope({ kind: EnvelopeKind.ciphertexts, fingerprint: ctx.params.fingerprint, items: [item] });
      expect(codeOf(() => openResultEnvelope(ctx, relabelled, plan.public.output))).toBe('envelope_bad_kind');
    });
  });

  describe('the accepted range', () => {
    it('an answer within the bound is shown', () => {
      const ct = answer([30, -30, 1, 21_000]);
      try {
        const [out] = decryptResult(keys, plan.public, resultEnvelope(ctx, plan.public.output, [ct]));
        expect(Math.abs(out![0]! - 30)).toBeLessThan(6 * packing.noise);
        expect(Math.abs(out![1]! + 30)).toBeLessThan(6 * packing.noise);
        expect(Math.abs(out![3]! - 21_000)).toBeLessThan(6 * packing.noise);
      } finally {
        free(ct);
      }
    });

    // Beyond the bound: a true value (one slot; its coefficients stay small, nothing wraps), and a
    // value beyond the packing's range in every slot, which wraps around into another number
    // (40,000 comes back as 40,000 - 2 × 32,513 = -25,025). Both are refused, without the value.
    const cases: [string, number[]][] = [
      ['21,700 in one slot', [1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 21_700]],
      ['-25,000 in one slot', [-25_000]],
      ['40,000 in every slot (wrapped)', new Array<number>(16).fill(40_000)],
    ];
    for (const [name, values] of cases) {
      it(`an answer holding ${name} is refused`, () => {
        const ct = answer(values);
        try {
          const body = resultEnvelope(ctx, plan.public.output, [ct]);
          let message = '';
          try {
            decryptResult(keys, plan.public, body);
          } catch (err) {
            expect(isHeError(err) && err.code).toBe('result_out_of_range');
            message = (err as Error).message;
          }
          expect(message).toMatch(/beyond ±21,600,/);
          expect(message).not.toMatch(/21,?700|25,?0[02]|40,?000/);
        } finally {
          free(ct);
        }
      });
    }
  });

  it('decodeEnvelope caps an answer envelope at the exact packed size', () => {
    const ct = answer([1]);
    try {
      const body = resultEnvelope(ctx, plan.public.output, [ct]);
      // 44 bytes of envelope header, one 4-byte length, the item.
      expect(body.length).toBe(48 + packedResultBytes(8192, packing));
      expect(decodeEnvelope(body, EnvelopeKind.results, { maxCount: 1, maxItemBytes: packedResultBytes(8192, packing), maxTotalBytes: body.length }).items).toHaveLength(1);
    } finally {
      free(ct);
    }
  });
});

describe('the bit stream of packed answers (docs/protocol.md): Number and BigInt paths', () => {
  it('write the same bytes and read back the same values, for every width from 1 to 60 bits, mixed', () => {
    const random = mulberry32(0xb175);
    const rnd = (bits: number): bigint => {
      let v = 0n;
      for (let i = 0; i < bits; i++) if (random() < 0.5) v |= 1n << BigInt(i);
      return v;
    };
    const fields: { bits: number; value: bigint }[] = [];
    for (let round = 0; round < 40; round++) {
      for (let bits = 1; bits <= 60; bits++) fields.push({ bits, value: round === 0 ? (1n << BigInt(bits)) - 1n : round === 1 ? 0n : rnd(bits) });
    }
    const total = Math.ceil(fields.reduce((a, f) => a + f.bits, 0) / 8);
    const big = new Uint8Array(total + 1);
    const mixed = new Uint8Array(total + 1);
    const a = new BitWriter(big, 0);
    const b = new BitWriter(mixed, 0);
    for (const f of fields) {
      a.write(f.value, f.bits);
      // The Number path wherever it applies (up to 46 bits), as packResult does.
      if (f.bits <= 46) b.writeSmall(Number(f.value), f.bits);
      else b.write(f.value, f.bits);
    }
    a.align();
    b.align();
    expect(Buffer.from(mixed).equals(Buffer.from(big))).toBe(true);
    // writeWords (fields of up to 31 bits, as packResult writes them): the bytes of writeSmall then align.
    for (let bits = 1; bits <= 31; bits++) {
      const values = Array.from({ length: 257 }, () => Number(rnd(bits)));
      const bytes = Math.ceil((values.length * bits) / 8);
      const small = new Uint8Array(bytes + 3);
      const words = new Uint8Array(bytes + 3);
      const w1 = new BitWriter(small, 3);
      for (const v of values) w1.writeSmall(v, bits);
      w1.align();
      new BitWriter(words, 3).writeWords(values.length, bits, (i) => values[i]!);
      expect({ bits, same: Buffer.from(words).equals(Buffer.from(small)) }).toEqual({ bits, same: true });
    }
    const r = new BitReader(big, 0);
    const s = new BitReader(big, 0);
    for (const f of fields) {
      expect(r.read(f.bits)).toBe(f.value);
      expect(f.bits <= 46 ? BigInt(s.readSmall(f.bits)) : s.read(f.bits)).toBe(f.value);
    }
  });
});

describe('fieldPacker and fieldPackerNumber: the double-precision path gives the exact rounding', () => {
  it('on random coefficients and on those whose quotient is closest to a half-integer, for 42- and 38-bit q0', () => {
    const random = mulberry32(0xf1e1d);
    for (const { q, bits } of [
      { q: 4398046150657n, bits: 26 },
      { q: 4398046150657n, bits: 33 },
      { q: 274877562881n, bits: 23 },
      { q: 4398046150657n, bits: 46 },
    ]) {
      const b = BigInt(bits);
      const exact = (c: bigint): bigint => (((c << b) + q / 2n) / q) & ((1n << b) - 1n);
      const field = fieldPacker(q, bits, 1);
      const cases: bigint[] = [0n, 1n, q - 1n, q / 2n, q / 2n + 1n];
      for (let i = 0; i < 50_000; i++) cases.push((BigInt(Math.floor(random() * 2 ** 26)) * 2n ** 26n + BigInt(Math.floor(random() * 2 ** 26))) % q);
      // c·2^bits ≡ (q ± 1)/2 + d (mod q): the quotient's fraction is within a few 1/q of one half.
      let inv = 1n;
      for (let e = q - 2n, base = (1n << b) % q; e > 0n; e >>= 1n, base = (base * base) % q) if (e & 1n) inv = (inv * base) % q;
      for (let d = -50n; d <= 50n; d++) cases.push(((((q - 1n) / 2n + d) % q + q) % q * inv) % q);
      const number = fieldPackerNumber(q, bits, 1)!;
      for (const c of cases) {
        expect({ c, value: BigInt(field(c)) }).toEqual({ c, value: exact(c) });
        if (number(Number(c)) !== Number(exact(c))) expect({ c, value: number(Number(c)) }).toEqual({ c, value: Number(exact(c)) });
      }
    }
  });
});


describe('unpackResult: the double-precision path gives the exact coefficients', () => {
  it('on random fields and on those whose product with q is closest to a half-integer, for both polynomials of two plans (mnist-cnn with and without c0Stride)', async () => {
    const rt = await loadSeal();
    const random = mulberry32(0x0dd5);
    for (const [id, strided] of [['breast-cancer-mlp', false], ['mnist-cnn', true], ['mnist-cnn', false]] as const) {
      const plan = compile(rt.seal, bundledModel(id), { mode: 'single' });
      const ctx = HeContext.create(rt, plan.public.params);
      try {
        const { params, output } = plan.public;
        const packing = strided ? output.packing : chooseResultPacking(params, output.scale, output.packing.bound, answerPrecision(plan.public.model), { replicas: output.replicas, outputs: output.size });
        expect(packing.c0Stride).toBe(strided ? 256 : undefined);
        const N = ctx.params.polyModulusDegree;
        const q = BigInt(ctx.params.primes[0]!);
        // Fields per polynomial: random ones, the extremes, and f ≡ (2^(b-1) + d)·q^-1 (mod 2^b),
        // for which f·q / 2^b lies within d / 2^b of a half-integer (a plain double floor gets dozens
        // of these wrong; the margin sends them to BigInt).
        const fields = packing.bits.map((bits, poly) => {
          const b = BigInt(bits);
          const mod = 1n << b;
          let inv = 1n;
          for (let e = (1n << (b - 1n)) - 1n, base = q % mod; e > 0n; e >>= 1n, base = (base * base) % mod) if (e & 1n) inv = (inv * base) % mod;
          expect((inv * q) % mod).toBe(1n);
          const list: bigint[] = [0n, 1n, mod - 1n];
          for (let d = -3000n; d <= 3000n; d++) list.push(((((1n << (b - 1n)) + d) % mod + mod) * inv) % mod);
          const count = poly === 0 ? N / (packing.c0Stride ?? 1) : N;
          while (list.length < count) list.push(BigInt(Math.floor(random() * 2 ** bits)));
          return list.slice(0, count);
        });
        expectUnpacked(ctx, packing, plan.public.output.scale, fields, `${id}${strided ? ', c0 strided' : ''}`);
      } finally {
        ctx.dispose();
      }
    }
  });
});

describe('unpackResult: a narrow c0 field (doubles) with a wide c1 field (BigInt) in one answer', () => {
  it('reads each polynomial from its own stream: the exact coefficients, 50-bit q0, fields of 30 and 48 bits', async () => {
    const k = await keyedContextWithChain(8192, [50, 40, 50], 40);
    try {
      const { ctx } = k;
      const N = ctx.params.polyModulusDegree;
      const packing: ResultPacking = { multiplier: 1, bits: [30, 48], bound: 1, range: 2, noise: 0 };
      const random = mulberry32(0x5eed);
      const fields = packing.bits.map((bits) => Array.from({ length: N }, () => BigInt(Math.floor(random() * 2 ** 24)) * 2n ** BigInt(bits - 24) + BigInt(Math.floor(random() * 2 ** (bits - 24)))));
      expectUnpacked(ctx, packing, 2 ** 40, fields, 'q0 of 50 bits');
    } finally {
      k.dispose();
    }
  });
});

describe('packResult on breast-cancer-mlp’s plan (fields of 19 and 26 bits, both written as whole words)', () => {
  it('writes the bytes of the exact BigInt formula on SEAL’s serialisation', async () => {
    const rt = await loadSeal();
    const plan = compile(rt.seal, bundledModel('breast-cancer-mlp'), { mode: 'single' });
    const ctx = HeContext.create(rt, plan.public.params);
    const keys = ClientKeyPair.generate(ctx);
    const { packing, scale } = plan.public.output;
    const pt = new ctx.seal.Plaintext();
    const ct = new ctx.seal.Ciphertext();
    try {
      expect(packing.bits).toEqual([19, 26]);
      const random = mulberry32(0x9ac4);
      ctx.encoder.encode(Float64Array.from({ length: ctx.slots }, () => 300 * (2 * random() - 1)), scale, pt);
      keys.encryptor.encryptSymmetric(pt, ct);
      ctx.evaluator.cipherModSwitchToInplace(ct, ctx.parmsId(0));
      const expected = packedByDefinition(ctx, ct, packing);
      expect(Buffer.from(packResult(ctx, ct, packing, scale)).equals(Buffer.from(expected))).toBe(true);
    } finally {
      free(pt, ct);
      keys.dispose();
      ctx.dispose();
    }
  });
});

