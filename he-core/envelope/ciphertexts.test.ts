import { afterAll, beforeAll, describe, it, expect } from 'vitest';
import type { Ciphertext } from 'node-seal';
import { HeError } from '../errors.js';
import { compile } from '../compiler/compile.js';
import type { Plan, PublicPlan } from '../compiler/plan.js';
import { ClientKeyPair } from '../client/client-keys.js';
import { decryptResult, encryptRequest, encryptVectors } from '../client/crypto.js';
import { EvaluationKeys } from '../evaluator/evaluation-keys.js';
import { PlanEvaluator } from '../evaluator/evaluator.js';
import { evaluateEnvelope } from '../evaluator/run.js';
import type { ModelFile } from '../model/format.js';
import { HeContext } from '../params/context.js';
import { loadSeal } from '../seal/runtime.js';
import type { SealRuntime } from '../seal/runtime.js';
import { free } from '../seal/scope.js';
import { EnvelopeKind, decodeEnvelope, encodeEnvelope } from './envelope.js';
import { encodeKeyEnvelope, loadCiphertexts, openCiphertextEnvelope, openKeyEnvelope, openResultEnvelope, sealCiphertextEnvelope } from './ciphertexts.js';
import { bundledModel } from '../testing/bundled-model.js';

function failure(fn: () => unknown): { code: string; message: string } {
  try {
    const out = fn();
    // Whatever was wrongly accepted still has to be freed.
    if (Array.isArray(out)) free(...(out as Ciphertext[]));
    else if (out instanceof EvaluationKeys) out.dispose();
  } catch (err) {
    if (!(err instanceof HeError)) throw new Error(`expected an HeError, got ${String(err)}`);
    return { code: err.code, message: err.message };
  }
  return { code: 'no error', message: '' };
}

/** Same items, another kind and/or fingerprint. */
function rewrap(body: Uint8Array, from: EnvelopeKind, to: EnvelopeKind, fingerprint?: string): Uint8Array {
  const env = decodeEnvelope(body, from, { maxCount: 1000, maxItemBytes: 1e9, maxTotalBytes: 1e9 });
  return encodeEnvelope({ kind: to, fingerprint: fingerprint ?? env.fingerprint, items: env.items });
}

interface Party {
  plan: Plan;
  ctx: HeContext;
  keys: ClientKeyPair;
}

describe('loading untrusted ciphertexts and keys', () => {
  let rt: SealRuntime;
  let bc: ModelFile;
  let main: Party;
  let other: Party; // diabetes-progression: N = 4096 too, other primes
  let wide: Party; // breast-cancer-mlp: N = 8192
  let request: Uint8Array;

  function party(m: ModelFile): Party {
    const plan = compile(rt.seal, m);
    const ctx = HeContext.create(rt, plan.public.params);
    return { plan, ctx, keys: ClientKeyPair.generate(ctx) };
  }

  beforeAll(async () => {
    rt = await loadSeal();
    bc = bundledModel('breast-cancer');
    main = party(bc);
    other = party(bundledModel('diabetes-progression'));
    wide = party(bundledModel('breast-cancer-mlp'));
    request = encryptRequest(main.keys, main.plan.public, [bc.testVectors[0]!.input]);
  });

  afterAll(() => {
    for (const p of [main, other, wide]) {
      p?.keys.dispose();
      p?.ctx.dispose();
    }
  });

  it('the parameter sets under test really differ', () => {
    const fps = new Set([main, other, wide].map((p) => p.ctx.params.fingerprint));
    expect(fps.size).toBe(3);
    expect(main.ctx.params.polyModulusDegree).toBe(4096);
    expect(other.ctx.params.polyModulusDegree).toBe(4096);
    expect(wide.ctx.params.polyModulusDegree).toBe(8192);
    expect(main.plan.public.input.level).toBe(1);
    expect(main.plan.public.output.level).toBe(0);
  });

  describe('openCiphertextEnvelope', () => {
    it('accepts an encrypted request as the plan input', () => {
      const cts = openCiphertextEnvelope(main.ctx, request, EnvelopeKind.ciphertexts, main.plan.public.input);
      try {
        expect(cts.length).toBe(1);
        expect(cts[0]!.size()).toBe(2);
        expect(cts[0]!.scale()).toBe(2 ** 26);
      } finally {
        free(...cts);
      }
    });

    it('accepts a real evaluated result, which decrypts to the reference output', () => {
      const generated = main.keys.createEvaluationKeys(main.plan.public);
      const evalKeys = openKeyEnvelope(main.ctx, main.plan.public, encodeKeyEnvelope(main.ctx.params.fingerprint, generated.relin, generated.galois));
      const evaluator = new PlanEvaluator(main.ctx, main.plan);
      try {
        const result = evaluateEnvelope(evaluator, evalKeys, request);
        const cts = openResultEnvelope(main.ctx, result, main.plan.public.output);
        free(...cts);
        expect(cts.length).toBe(1);
        const [out] = decryptResult(main.keys, main.plan.public, result);
        const tv = bc.testVectors[0]!;
        expect(Math.abs(out![0]! - tv.expected[0]!)).toBeLessThan(tv.tolerance);
        // The same result is not an input: by its kind, and relabelled, by its content.
        expect(failure(() => openCiphertextEnvelope(main.ctx, result, EnvelopeKind.ciphertexts, main.plan.public.input)).code).toBe('envelope_bad_kind');
        const relabelled = rewrap(result, EnvelopeKind.results, EnvelopeKind.ciphertexts);
        expect(failure(() => openCiphertextEnvelope(main.ctx, relabelled, EnvelopeKind.ciphertexts, main.plan.public.input)).code).toBe('seal_object_invalid');
      } finally {
        evaluator.dispose();
        evalKeys.dispose();
      }
    });

    it('refuses an encrypted input presented as a result, and the loader refuses a ciphertext at another level than the shape', () => {
      const echoed = rewrap(request, EnvelopeKind.ciphertexts, EnvelopeKind.ciphertexts);
      expect(failure(() => decryptResult(main.keys, main.plan.public, echoed)).code).toBe('envelope_too_large');
      // The loader (for requests) checks the level against the shape it is given; here a level-0 one.
      expect(failure(() => openCiphertextEnvelope(main.ctx, request, EnvelopeKind.ciphertexts, main.plan.public.output))).toEqual({
        code: 'ciphertext_mismatch',
        message: 'ciphertext 0 is at level 1, expected 0',
      });
    });

    it('the loader refuses a ciphertext with another scale or three polynomials than the shape (a level-0 shape here)', () => {
      const { seal, evaluator } = main.ctx;
      const [item] = encryptVectors(main.keys, main.plan.public, [new Float64Array(main.ctx.slots).fill(0.5)]);
      const ct = new seal.Ciphertext();
      const cube = new seal.Ciphertext();
      try {
        ct.loadFromArray(main.ctx.context, item);
        evaluator.cipherModSwitchToNextInplace(ct);
        expect(ct.scale()).toBe(main.plan.public.output.scale);
        // Control: level and scale right, accepted.
        const good = sealCiphertextEnvelope(main.ctx, EnvelopeKind.ciphertexts, [ct]);
        free(...openCiphertextEnvelope(main.ctx, good, EnvelopeKind.ciphertexts, main.plan.public.output));

        ct.setScale(2 ** 27);
        const scaled = sealCiphertextEnvelope(main.ctx, EnvelopeKind.ciphertexts, [ct]);
        expect(failure(() => openCiphertextEnvelope(main.ctx, scaled, EnvelopeKind.ciphertexts, main.plan.public.output))).toEqual({
          code: 'ciphertext_mismatch',
          message: 'ciphertext 0 has scale 2^27.0000, expected 2^26.0000',
        });

        ct.loadFromArray(main.ctx.context, item);
        evaluator.multiply(ct, ct, cube); // at the top level, not relinearised: 3 polynomials
        cube.setScale(2 ** 26); // before the switch: 2^52 does not fit the last prime
        evaluator.cipherModSwitchToNextInplace(cube);
        expect(cube.size()).toBe(3);
        const big = sealCiphertextEnvelope(main.ctx, EnvelopeKind.ciphertexts, [cube]);
        expect(failure(() => openCiphertextEnvelope(main.ctx, big, EnvelopeKind.ciphertexts, main.plan.public.output))).toEqual({
          code: 'ciphertext_mismatch',
          message: 'ciphertext 0 has 3 polynomials, expected 2',
        });
      } finally {
        free(ct, cube);
      }
    });

    it('refuses the wrong number of ciphertexts', () => {
      const [a, b] = encryptVectors(main.keys, main.plan.public, [new Float64Array(4), new Float64Array(4)]);
      const two = encodeEnvelope({ kind: EnvelopeKind.ciphertexts, fingerprint: main.ctx.params.fingerprint, items: [a!, b!] });
      expect(failure(() => openCiphertextEnvelope(main.ctx, two, EnvelopeKind.ciphertexts, main.plan.public.input)).code).toBe('envelope_bad_count');
      expect(failure(() => loadCiphertexts(main.ctx, [a!, b!], main.plan.public.input))).toEqual({ code: 'ciphertext_mismatch', message: 'expected 1 ciphertexts, got 2' });
    });

    it('refuses ciphertexts made under another parameter set', () => {
      for (const p of [other, wide]) {
        const foreign = encryptRequest(p.keys, p.plan.public, [p.plan.public.model.testVectors[0]!.input]);
        expect(failure(() => openCiphertextEnvelope(main.ctx, foreign, EnvelopeKind.ciphertexts, main.plan.public.input))).toEqual({
          code: 'params_mismatch',
          message: 'the ciphertexts are for another parameter set',
        });
        // With the fingerprint forged to ours, SEAL itself refuses the data.
        const forged = rewrap(foreign, EnvelopeKind.ciphertexts, EnvelopeKind.ciphertexts, main.ctx.params.fingerprint);
        const f = failure(() => openCiphertextEnvelope(main.ctx, forged, EnvelopeKind.ciphertexts, main.plan.public.input));
        expect(f.code).toBe('seal_object_invalid');
        expect(f.message).toMatch(/^loading ciphertext 0: /);
      }
    });

    it('refuses an item that is not a SEAL object', () => {
      const junk = encodeEnvelope({ kind: EnvelopeKind.ciphertexts, fingerprint: main.ctx.params.fingerprint, items: [Uint8Array.from({ length: 64 }, (_, i) => i)] });
      expect(failure(() => openCiphertextEnvelope(main.ctx, junk, EnvelopeKind.ciphertexts, main.plan.public.input)).code).toBe('seal_object_invalid');
    });
  });

  describe('openKeyEnvelope', () => {
    function keyBody(party: Party, plan: PublicPlan, fingerprint = main.ctx.params.fingerprint): Uint8Array {
      const g = party.keys.createEvaluationKeys(plan);
      return encodeKeyEnvelope(fingerprint, g.relin, g.galois);
    }

    it('accepts exactly the plan keys', () => {
      const plan = main.plan.public;
      expect(plan.galoisSteps).toEqual([1, 2, 4, 8, 16]);
      expect(plan.relinearization).toBe(false);
      const keys = openKeyEnvelope(main.ctx, plan, keyBody(main, plan));
      try {
        expect(keys.relin).toBeNull();
        expect(keys.galois).not.toBeNull();
        expect(keys.galois!.size()).toBe(5);
      } finally {
        keys.dispose();
      }
    });

    it('accepts a relinearisation key with Galois keys (N = 8192) within the decompression bounds', () => {
      const plan = wide.plan.public;
      expect(plan.relinearization).toBe(true);
      const keys = openKeyEnvelope(wide.ctx, plan, keyBody(wide, plan, wide.ctx.params.fingerprint));
      try {
        expect(keys.relin?.size()).toBe(1);
        expect(keys.galois?.size()).toBe(plan.galoisSteps.length);
      } finally {
        keys.dispose();
      }
      // Without the relinearisation key it needs, refused.
      const g = wide.keys.createEvaluationKeys({ ...plan, relinearization: false });
      expect(failure(() => openKeyEnvelope(wide.ctx, plan, encodeKeyEnvelope(wide.ctx.params.fingerprint, null, g.galois)))).toEqual({
        code: 'keys_invalid',
        message: 'this model needs a relinearisation key',
      });
    });

    it('refuses Galois keys missing a step', () => {
      const plan = main.plan.public;
      const body = keyBody(main, { ...plan, galoisSteps: [1, 2, 4, 8] });
      // Refused by the layout check before SEAL loads anything: one key short.
      expect(failure(() => openKeyEnvelope(main.ctx, plan, body))).toEqual({ code: 'keys_invalid', message: 'malformed evaluation keys: 4 key(s) present, expected 5' });
      const swapped = keyBody(main, { ...plan, galoisSteps: [1, 2, 4, 8, 32] });
      expect(failure(() => openKeyEnvelope(main.ctx, plan, swapped))).toEqual({ code: 'keys_invalid', message: 'the Galois keys lack the rotation step 16' });
    });

    it('refuses Galois keys with extra steps', () => {
      const plan = main.plan.public;
      const body = keyBody(main, { ...plan, galoisSteps: [1, 2, 3, 4, 8, 16] });
      expect(failure(() => openKeyEnvelope(main.ctx, plan, body))).toEqual({ code: 'keys_invalid', message: 'malformed evaluation keys: more than the 5 expected key(s)' });
    });

    it('refuses a relinearisation key the plan does not take, and missing Galois keys', () => {
      const plan = main.plan.public;
      const withRelin = keyBody(main, { ...plan, relinearization: true });
      expect(failure(() => openKeyEnvelope(main.ctx, plan, withRelin))).toEqual({ code: 'keys_invalid', message: 'this model takes no relinearisation key' });
      const none = encodeKeyEnvelope(main.ctx.params.fingerprint, null, null);
      expect(failure(() => openKeyEnvelope(main.ctx, plan, none))).toEqual({ code: 'keys_invalid', message: 'this model needs Galois keys' });
    });

    it('refuses keys for another parameter set', () => {
      const plan = main.plan.public;
      const foreignPlan = other.plan.public;
      const foreign = keyBody(other, foreignPlan, other.ctx.params.fingerprint);
      expect(failure(() => openKeyEnvelope(main.ctx, plan, foreign))).toEqual({ code: 'params_mismatch', message: 'the keys are for another parameter set' });
      // Fingerprint forged to ours: SEAL refuses to load the keys against our context.
      const forged = keyBody(other, foreignPlan, main.ctx.params.fingerprint);
      const f = failure(() => openKeyEnvelope(main.ctx, plan, forged));
      expect(f.code).toBe('keys_invalid');
      expect(f.message).toMatch(/^(loading the Galois keys|malformed evaluation keys): /);
      // Our keys, but checked against another parameter set's plan.
      expect(failure(() => openKeyEnvelope(main.ctx, foreignPlan, keyBody(main, plan))).code).toBe('params_mismatch');
    });

    it('refuses an envelope of the wrong kind or item count', () => {
      const plan = main.plan.public;
      const g = main.keys.createEvaluationKeys(plan);
      const three = encodeEnvelope({ kind: EnvelopeKind.evaluationKeys, fingerprint: main.ctx.params.fingerprint, items: [new Uint8Array(0), g.galois!, new Uint8Array(0)] });
      expect(failure(() => openKeyEnvelope(main.ctx, plan, three)).code).toBe('envelope_bad_count');
      const one = encodeEnvelope({ kind: EnvelopeKind.evaluationKeys, fingerprint: main.ctx.params.fingerprint, items: [g.galois!] });
      expect(failure(() => openKeyEnvelope(main.ctx, plan, one))).toEqual({ code: 'envelope_bad_count', message: 'an evaluation-keys envelope holds exactly 2 items' });
      const asCiphertexts = encodeEnvelope({ kind: EnvelopeKind.ciphertexts, fingerprint: main.ctx.params.fingerprint, items: [new Uint8Array(0), g.galois!] });
      expect(failure(() => openKeyEnvelope(main.ctx, plan, asCiphertexts)).code).toBe('envelope_bad_kind');
    });
  });
});
