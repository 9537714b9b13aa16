import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Ciphertext } from 'node-seal';
import { EnvelopeKind, HeContext, PlanEvaluator, compile, encodeKeyEnvelope, free, loadSeal, openCiphertextEnvelope, openKeyEnvelope, resultEnvelope } from '../../he-core/index.js';
import type { EvaluationKeys, ModelFile, Plan } from '../../he-core/index.js';
import { ClientKeyPair, decryptResult, encryptRequest } from '../../he-core/client/index.js';
import { loadBreastCancer } from '../../scripts/datasets/breast-cancer.js';
import { loadMnist } from '../../scripts/datasets/mnist.js';
import { compare, loadBundledModel } from './harness.js';
import { ciphertextData } from '../../he-core/seal/layout.js';

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

    it('checks each layer’s first kernel product against SEAL’s in the evaluator’s first evaluation only (same bits in later ones)', () => {
      const fresh = new PlanEvaluator(r.ctx, r.plan);
      const evaluator = r.ctx.evaluator as unknown as { multiplyPlain: (...args: unknown[]) => unknown };
      const multiplyPlain = evaluator.multiplyPlain;
      let sealProducts = 0;
      let counting = false;
      evaluator.multiplyPlain = (...args: unknown[]) => {
        if (counting) sealProducts++;
        return multiplyPlain.apply(r.ctx.evaluator, args);
      };
      try {
        const counts: number[] = [];
        for (const row of [rows[0]!, rows[1]!, rows[0]!]) {
          const request = encryptRequest(r.client, r.plan.public, [row]);
          sealProducts = 0;
          counting = true;
          const ours = outputBytes(r, fresh, request);
          counting = false;
          counts.push(sealProducts);
          expect(sameBits(ours, outputBytes(r, seal, request))).toBe(true);
        }
        // One SEAL product per linear layer in the first evaluation, none after.
        const linearLayers = r.plan.steps.filter((s) => s.op === 'linear').length;
        expect(counts).toEqual([linearLayers, 0, 0]);
        expect(fresh.diagonalPath).toBe('kernel');
      } finally {
        evaluator.multiplyPlain = multiplyPlain;
        fresh.dispose();
      }
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

// Rotations by he-core's key-switching kernel (KeySwitchKernel) instead of SEAL's rotate_vector:
// the same output bits, the kernel used on mnist-cnn and on breast-cancer-mlp (46- and 48-bit
// special primes; he-core/evaluator/keyswitch.test.ts covers 60-bit ones), and SEAL taking over when the kernel's rotation
// differs from SEAL's (the self-check) or when it breaks after its rotations were verified.
describe('rotations: the key-switching kernel gives SEAL’s ciphertexts bit for bit', () => {
  let mnist: Rig;
  let mlp: Rig;
  let seal: PlanEvaluator;
  const rows = loadMnist().test.x.slice(0, 3);
  const mlpRows = loadBreastCancer().test.x.slice(0, 3);
  beforeAll(async () => {
    mnist = await rig(loadBundledModel('mnist-cnn'));
    mlp = await rig(loadBundledModel('breast-cancer-mlp'));
    seal = new PlanEvaluator(mnist.ctx, mnist.plan, { kernels: false });
  });
  afterAll(() => {
    seal?.dispose();
    mnist?.dispose();
    mlp?.dispose();
  });

  it('mnist-cnn and breast-cancer-mlp rotate with the kernel: same bits as SEAL, same class as the plaintext model', () => {
    const sealMlp = new PlanEvaluator(mlp.ctx, mlp.plan, { kernels: false });
    for (const [r, evaluator, reference, id, inputs] of [
      [mnist, new PlanEvaluator(mnist.ctx, mnist.plan), seal, 'mnist-cnn', rows],
      [mlp, new PlanEvaluator(mlp.ctx, mlp.plan), sealMlp, 'breast-cancer-mlp', mlpRows],
    ] as const) {
      try {
        expect({ id, path: evaluator.keySwitchPath }).toEqual({ id, path: 'kernel' });
        expect(reference.keySwitchPath).toBe('seal');
        const answers: Float64Array[] = [];
        for (const row of inputs) {
          const request = encryptRequest(r.client, r.plan.public, [row]);
          const viaKernel = evaluateBoth(r, evaluator, request);
          expect({ id, same: sameBits(viaKernel.bytes, outputBytes(r, reference, request)) }).toEqual({ id, same: true });
          answers.push(decryptResult(r.client, r.plan.public, viaKernel.envelope, 1)[0]!);
        }
        expect({ id, path: evaluator.keySwitchPath, problem: evaluator.keySwitchProblem }).toEqual({ id, path: 'kernel', problem: null });
        const model = loadBundledModel(id);
        const agreement = compare(model, inputs, answers);
        expect(agreement.sameClass).toBe(inputs.length);
        // Tolerance: the model's own test-vector tolerance on every output.
        expect(agreement.maxOutputError).toBeLessThanOrEqual(Math.max(...model.testVectors.map((tv) => tv.tolerance)));
      } finally {
        evaluator.dispose();
      }
    }
    sealMlp.dispose();
  });

  it('one thread or two, chosen afresh before every key switch (as the service does under changing load): SEAL’s bits on every evaluation', () => {
    // The service decides per key switch (its other workers busy or not), so a key may first reach
    // the helper thread at any level: every answer must still be SEAL's. The benchmark once found
    // a key copied to the helper with only one level's limbs: here the first evaluation turns to
    // two threads halfway (as when the other worker finishes), the next ones are on two threads
    // from the top level, then a pseudo-random choice per key switch.
    let switches = 0;
    let halfway = Infinity;
    let state = 0x5eed;
    const coin = (): boolean => {
      switches++;
      if (switches <= 2 * halfway) return switches > halfway;
      state = (state * 1103515245 + 12345) & 0x7fffffff;
      return (state >> 16) % 2 === 0;
    };
    const sealMlp = new PlanEvaluator(mlp.ctx, mlp.plan, { kernels: false });
    const toggled = new PlanEvaluator(mlp.ctx, mlp.plan, { keySwitchThreads: 2, keySwitchThreadsWhile: coin });
    try {
      // Count one evaluation's key switches (on one thread) first.
      const counting = new PlanEvaluator(mlp.ctx, mlp.plan, { keySwitchThreads: 2, keySwitchThreadsWhile: () => (switches++, false) });
      outputBytes(mlp, counting, encryptRequest(mlp.client, mlp.plan.public, [mlpRows[0]!]));
      counting.dispose();
      halfway = Math.floor(switches / 2);
      expect(halfway).toBeGreaterThan(2);
      switches = 0;
      for (const row of [...mlpRows, ...mlpRows]) {
        const request = encryptRequest(mlp.client, mlp.plan.public, [row]);
        expect(sameBits(outputBytes(mlp, toggled, request), outputBytes(mlp, sealMlp, request))).toBe(true);
      }
      expect(toggled.keySwitchPath).toBe('kernel');
      expect(toggled.keySwitchHelperTasks).toBeGreaterThan(0);
    } finally {
      toggled.dispose();
      sealMlp.dispose();
    }
  });

  it('on two threads (a helper on the second core for each key switch): the same bits, the helper takes tasks', () => {
    const threaded = new PlanEvaluator(mnist.ctx, mnist.plan, { keySwitchThreads: 2 });
    try {
      expect(threaded.keySwitchThreads).toBe(2);
      for (const row of rows.slice(0, 2)) {
        const request = encryptRequest(mnist.client, mnist.plan.public, [row]);
        expect(sameBits(outputBytes(mnist, threaded, request), outputBytes(mnist, seal, request))).toBe(true);
      }
      const helped = (threaded as unknown as { keySwitch: { helperTasks: number } }).keySwitch.helperTasks;
      expect(helped).toBeGreaterThan(0);
      // Back to one thread (as for a request while the other workers are busy): still the same bits.
      threaded.keySwitchThreads = 1;
      expect(threaded.keySwitchThreads).toBe(1);
      const request = encryptRequest(mnist.client, mnist.plan.public, [rows[2]!]);
      expect(sameBits(outputBytes(mnist, threaded, request), outputBytes(mnist, seal, request))).toBe(true);
      expect((threaded as unknown as { keySwitch: { helperTasks: number } }).keySwitch.helperTasks).toBe(helped);
    } finally {
      threaded.dispose();
    }
  });

  it('falls back to SEAL, same bits, when a rotation differs from SEAL’s or the kernel breaks later', () => {
    const request = encryptRequest(mnist.client, mnist.plan.public, [rows[0]!]);
    const expected = outputBytes(mnist, seal, request);
    type Rotate = (ct: Ciphertext, steps: readonly number[], galois: unknown, out: Ciphertext) => void;
    const misread = new PlanEvaluator(mnist.ctx, mnist.plan);
    const broken = new PlanEvaluator(mnist.ctx, mnist.plan);
    try {
      // A kernel that misreads SEAL's memory: its rotations come out with one coefficient changed.
      const unit = (misread as unknown as { keySwitch: { rotate: Rotate } }).keySwitch;
      const rotate = unit.rotate.bind(unit);
      unit.rotate = (ct, steps, galois, out) => {
        rotate(ct, steps, galois, out);
        const data = new BigUint64Array(mnist.ctx.runtime.heapBuffer(), ciphertextWords(mnist, out), 1);
        data[0] = data[0]! === 0n ? 1n : data[0]! - 1n;
      };
      expect(sameBits(outputBytes(mnist, misread, request), expected)).toBe(true);
      expect(misread.keySwitchPath).toBe('seal');
      expect(misread.keySwitchProblem).toMatch(/differs from SEAL/);

      // Verified in a first evaluation, then breaking halfway through the next one.
      const unit2 = (broken as unknown as { keySwitch: { rotate: Rotate } }).keySwitch;
      const rotate2 = unit2.rotate.bind(unit2);
      let calls = 0;
      let breakAfter = Infinity;
      unit2.rotate = (ct, steps, galois, out) => {
        if (++calls > breakAfter) throw new Error('unexpected layout of the Galois key for element 3');
        rotate2(ct, steps, galois, out);
      };
      expect(sameBits(outputBytes(mnist, broken, request), expected)).toBe(true);
      expect(broken.keySwitchPath).toBe('kernel');
      breakAfter = Math.floor(calls / 2);
      expect(breakAfter).toBeGreaterThan(10);
      calls = 0;
      expect(sameBits(outputBytes(mnist, broken, request), expected)).toBe(true);
      expect(calls).toBe(breakAfter + 1);
      expect(broken.keySwitchPath).toBe('seal');
      expect(broken.keySwitchProblem).toMatch(/layout/);
    } finally {
      misread.dispose();
      broken.dispose();
    }
  });

  it('falls back to SEAL, same bits, when its square or its rescale differs from SEAL’s', () => {
    const request = encryptRequest(mnist.client, mnist.plan.public, [rows[1]!]);
    const expected = outputBytes(mnist, seal, request);
    for (const method of ['squareRelinearize', 'rescale'] as const) {
      const misread = new PlanEvaluator(mnist.ctx, mnist.plan);
      try {
        const unit = (misread as unknown as { keySwitch: Record<string, (...args: Ciphertext[]) => void> }).keySwitch;
        const original = unit[method]!.bind(unit);
        let corrupted = 0;
        unit[method] = (...args: Ciphertext[]) => {
          original(...args);
          // The ciphertext the method wrote: the square's output, or the rescaled one.
          const target = method === 'rescale' ? args[0]! : args[2]!;
          const data = new BigUint64Array(mnist.ctx.runtime.heapBuffer(), ciphertextWords(mnist, target), 1);
          data[0] = data[0]! === 0n ? 1n : data[0]! - 1n;
          corrupted++;
        };
        expect(sameBits(outputBytes(mnist, misread, request), expected)).toBe(true);
        expect(corrupted).toBe(1);
        expect(misread.keySwitchPath).toBe('seal');
        expect(misread.keySwitchProblem).toMatch(method === 'rescale' ? /rescale differs from SEAL/ : /square differs from SEAL/);
      } finally {
        misread.dispose();
      }
    }
  });
});

/** The byte offset of a single-mode ciphertext's coefficients in SEAL's heap. */
function ciphertextWords(r: Rig, ct: Ciphertext): number {
  const data = ciphertextData(r.ctx.runtime, ct, r.ctx.params.polyModulusDegree, ct.coeffModulusSize());
  if (data === null) throw new Error('unexpected ciphertext layout');
  return data;
}
