import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Ciphertext } from 'node-seal';
import { EnvelopeKind, HeContext, PlanEvaluator, compile, encodeKeyEnvelope, free, loadSeal, openCiphertextEnvelope, openKeyEnvelope, resultEnvelope } from '../../he-core/index.js';
import type { EvaluationKeys, ModelFile, Plan } from '../../he-core/index.js';
import { ClientKeyPair, decryptResult, encryptRequest } from '../../he-core/client/index.js';
import { loadBreastCancer } from '../../scripts/datasets/breast-cancer.js';
import { loadMnist } from '../../scripts/datasets/mnist.js';
import { compare, loadBundledModel } from './harness.js';

// The linear layers' diagonal products summed by the WebAssembly kernel (ScalarMac.addPlain)
// instead of SEAL's multiply_plain + add: the evaluation's output ciphertexts must be SEAL's bit
// for bit (serialised, metadata included), with the kernel, without it, and when the kernel fails
// its self-check or breaks halfway (SEAL takes over). The answers agree with the plaintext model.

interface Rig {
  plan: Plan;
  ctx: HeContext;
  client: ClientKeyPair;
  keys: EvaluationKeys;
  dispose(): void;
}

async function rig(model: ModelFile): Promise<Rig> {
  const rt = await loadSeal();
  const plan = compile(rt.seal, model, { mode: 'single' });
  const ctx = HeContext.create(rt, plan.public.params);
  const client = ClientKeyPair.generate(ctx);
  const generated = client.createEvaluationKeys(plan.public);
  const keys = openKeyEnvelope(ctx, plan.public, encodeKeyEnvelope(ctx.params.fingerprint, generated.relin, generated.galois));
  return {
    plan,
    ctx,
    client,
    keys,
    dispose() {
      keys.dispose();
      client.dispose();
      ctx.dispose();
    },
  };
}

/** The serialised output ciphertexts of one evaluation of `request`, and its result envelope. */
function evaluateBoth(r: Rig, evaluator: PlanEvaluator, request: Uint8Array): { bytes: Buffer[]; envelope: Uint8Array } {
  const inputs = openCiphertextEnvelope(r.ctx, request, EnvelopeKind.ciphertexts, r.plan.public.input);
  let outputs: Ciphertext[] = [];
  try {
    outputs = evaluator.evaluate(inputs, r.keys);
    return { bytes: outputs.map((ct) => Buffer.from(ct.saveToArray(r.ctx.seal.ComprModeType.none) as Uint8Array)), envelope: resultEnvelope(r.ctx, r.plan.public.output, outputs) };
  } finally {
    free(...inputs, ...outputs);
  }
}

function outputBytes(r: Rig, evaluator: PlanEvaluator, request: Uint8Array): Buffer[] {
  return evaluateBoth(r, evaluator, request).bytes;
}

function sameBits(a: Buffer[], b: Buffer[]): boolean {
  return a.length === b.length && a.every((x, i) => x.equals(b[i]!));
}

for (const { id, samples } of [
  { id: 'mnist-cnn', samples: (): number[][] => loadMnist().test.x.slice(0, 2) },
  { id: 'breast-cancer-mlp', samples: (): number[][] => loadBreastCancer().test.x.slice(0, 3) },
]) {
  describe(`${id} single: the diagonal kernel gives SEAL's ciphertexts bit for bit`, () => {
    const model = loadBundledModel(id);
    const rows = samples();
    let r: Rig;
    let kernel: PlanEvaluator;
    let seal: PlanEvaluator;
    beforeAll(async () => {
      r = await rig(model);
      kernel = new PlanEvaluator(r.ctx, r.plan);
      seal = new PlanEvaluator(r.ctx, r.plan, { kernels: false });
    });
    afterAll(() => {
      kernel?.dispose();
      seal?.dispose();
      r?.dispose();
    });

    it('uses the kernel on the installed node-seal; same bits as SEAL on held-out rows; same class as the plaintext model', () => {
      expect(kernel.diagonalPath).toBe('kernel');
      expect(seal.diagonalPath).toBe('seal');
      const answers: Float64Array[] = [];
      for (const row of rows) {
        const request = encryptRequest(r.client, r.plan.public, [row]);
        const viaKernel = evaluateBoth(r, kernel, request);
        expect(sameBits(viaKernel.bytes, outputBytes(r, seal, request))).toBe(true);
        answers.push(decryptResult(r.client, r.plan.public, viaKernel.envelope, 1)[0]!);
      }
      expect(kernel.diagonalPath).toBe('kernel');
      expect(kernel.diagonalProblem).toBeNull();
      const agreement = compare(model, rows, answers);
      expect(agreement.sameClass).toBe(rows.length);
      expect(agreement.maxOutputError).toBeLessThanOrEqual(Math.max(...model.testVectors.map((tv) => tv.tolerance)));
    });

    it('falls back to SEAL, same bits, when the self-check fails or the kernel breaks halfway through a layer', () => {
      const request = encryptRequest(r.client, r.plan.public, [rows[0]!]);
      const expected = outputBytes(r, seal, request);
      // A SEAL build whose memory the kernel misreads: its first product differs from SEAL's.
      const misread = new PlanEvaluator(r.ctx, r.plan);
      // A layout problem found only in a later group (after the unverified copy path started).
      const broken = new PlanEvaluator(r.ctx, r.plan);
      try {
        (misread as unknown as { diagonalMac: { equals(): boolean } }).diagonalMac.equals = () => false;
        expect(sameBits(outputBytes(r, misread, request), expected)).toBe(true);
        expect(misread.diagonalPath).toBe('seal');
        expect(misread.diagonalProblem).toMatch(/differs from SEAL/);

        // Count the kernel's products in one evaluation, then break it halfway through the next.
        const unit = (broken as unknown as { diagonalMac: { addPlain(...args: unknown[]): void } }).diagonalMac;
        const addPlain = unit.addPlain.bind(unit);
        let calls = 0;
        let breakAfter = Infinity;
        unit.addPlain = (...args: unknown[]) => {
          if (++calls > breakAfter) throw new Error('unexpected ciphertext layout or shape');
          addPlain(...args);
        };
        expect(sameBits(outputBytes(r, broken, request), expected)).toBe(true);
        expect(broken.diagonalPath).toBe('kernel');
        breakAfter = Math.floor(calls / 2);
        expect(breakAfter).toBeGreaterThan(2);
        calls = 0;
        expect(sameBits(outputBytes(r, broken, request), expected)).toBe(true);
        expect(calls).toBe(breakAfter + 1);
        expect(broken.diagonalPath).toBe('seal');
        expect(broken.diagonalProblem).toMatch(/layout/);
      } finally {
        misread.dispose();
        broken.dispose();
      }
    });
  });
}
