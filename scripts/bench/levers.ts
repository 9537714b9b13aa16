// Levers measured before and after in the same run, each alone: the server's evaluation of the
// same request with and without one of he-core's WebAssembly kernels, alternating, in this
// process while the service is idle. The two must give the same bytes.
//   'mac':       ScalarMac (batch layers' scalar products, linear layers' diagonal products)
//                against SEAL's multiply_plain + add, the key-switching kernel off both ways;
//   'keyswitch': KeySwitchKernel (rotations, squares with relinearisation, rescales) against
//                SEAL's, the multiply-accumulate kernel on both ways;
//   'threads':   the key switches on two threads (a helper on the second core) against one.
// And one on the client (benchEncryptLever): a request's encryption on two threads against one.
import { HeContext, PlanEvaluator, compile, encodeKeyEnvelope, evaluateEnvelope, loadSeal, openKeyEnvelope } from '../../he-core/index.js';
import type { EvaluatorOptions, ModelFile, PlanMode } from '../../he-core/index.js';
import { ClientKeyPair, encryptRequest, encryptRequestParallel, encryptionHelper } from '../../he-core/client/index.js';
import { fill } from './data.js';
import { median } from './stats.js';

export interface LeverResult {
  model: string;
  mode: PlanMode;
  lever: string;
  runs: number;
  /** What is timed: the server's evaluation (envelope in, envelope out) or the client's encryption of the request. */
  measures: 'server evaluation' | 'client encryption';
  /** Medians, ms. */
  beforeMs: number;
  afterMs: number;
  /**
   * Whether every answer with the lever equalled the one without it, byte for byte; null where
   * that cannot hold (encryption is randomised: he-core/client/parallel.test.ts checks that every
   * ciphertext decrypts to its own slot vector).
   */
  sameBytes: boolean | null;
}

/**
 * The client's lever: a request's encryption on the calling thread alone (`encryptRequest`)
 * against the calling thread and the key pair's helper thread (`encryptRequestParallel`),
 * alternating, after one warm-up each (the helper started and ready before).
 */
export async function benchEncryptLever(model: ModelFile, mode: PlanMode, rows: readonly number[][], runs: number): Promise<LeverResult> {
  const rt = await loadSeal();
  const plan = compile(rt.seal, model, { mode });
  const ctx = HeContext.create(rt, plan.public.params);
  const client = ClientKeyPair.generate(ctx);
  try {
    const lever = 'the request encrypted on two threads (the key pair’s helper thread, he-core/client/parallel.ts) instead of one';
    const started = await encryptionHelper(client).ready();
    const before: number[] = [];
    const after: number[] = [];
    for (let i = 0; i <= runs; i++) {
      const samples = mode === 'single' ? [rows[i % rows.length]!] : fill(rows, plan.public.samplesPerRequest);
      let t = performance.now();
      encryptRequest(client, plan.public, samples);
      const one = performance.now() - t;
      t = performance.now();
      await encryptRequestParallel(client, plan.public, samples);
      const two = performance.now() - t;
      if (i === 0) continue;
      before.push(one);
      after.push(two);
    }
    const problem = encryptionHelper(client).helperProblem;
    return { model: model.id, mode, lever: started && !problem ? lever : `${lever}: NOT USED (${problem ?? 'the helper did not start'})`, measures: 'client encryption', runs, beforeMs: median(before), afterMs: median(after), sameBytes: null };
  } finally {
    client.dispose();
    ctx.dispose();
  }
}

export type Lever = 'mac' | 'keyswitch' | 'threads';

const LEVERS: Record<Lever, { before: EvaluatorOptions; after: EvaluatorOptions }> = {
  mac: { before: { kernels: false }, after: { keySwitch: false } },
  keyswitch: { before: { keySwitch: false }, after: {} },
  threads: { before: {}, after: { keySwitchThreads: 2 } },
};

/** One kernel's lever on one model and mode: `runs` evaluations each way, alternating, after one warm-up each. */
export async function benchKernelLever(model: ModelFile, mode: PlanMode, rows: readonly number[][], runs: number, which: Lever = 'mac'): Promise<LeverResult> {
  const rt = await loadSeal();
  const plan = compile(rt.seal, model, { mode });
  const ctx = HeContext.create(rt, plan.public.params);
  const withKernels = new PlanEvaluator(ctx, plan, LEVERS[which].after);
  const withSeal = new PlanEvaluator(ctx, plan, LEVERS[which].before);
  const client = ClientKeyPair.generate(ctx);
  try {
    const generated = client.createEvaluationKeys(plan.public);
    const keys = openKeyEnvelope(ctx, plan.public, encodeKeyEnvelope(ctx.params.fingerprint, generated.relin, generated.galois));
    try {
      const before: number[] = [];
      const after: number[] = [];
      let sameBytes = true;
      for (let i = 0; i <= runs; i++) {
        const request = encryptRequest(client, plan.public, mode === 'single' ? [rows[i % rows.length]!] : fill(rows, plan.public.samplesPerRequest));
        let t = performance.now();
        const a = evaluateEnvelope(withSeal, keys, request);
        const seal = performance.now() - t;
        t = performance.now();
        const b = evaluateEnvelope(withKernels, keys, request);
        const kernels = performance.now() - t;
        sameBytes &&= Buffer.from(a).equals(Buffer.from(b));
        if (i === 0) continue;
        before.push(seal);
        after.push(kernels);
      }
      if (which === 'threads') {
        const lever = 'key switches on two threads (a helper thread on the second core, keyswitch-threads.ts) instead of one';
        const problem = withKernels.keySwitchProblem ?? (withKernels.keySwitchPath === 'seal' ? 'the key-switching kernel does not apply' : 'the helper thread did not start');
        return { model: model.id, mode, lever: withKernels.keySwitchThreads === 2 ? lever : `${lever}: NOT USED (${problem})`, measures: 'server evaluation', runs, beforeMs: median(before), afterMs: median(after), sameBytes };
      }
      if (which === 'keyswitch') {
        const lever = 'rotations, squares + relinearisation and rescales in the WebAssembly key-switching kernel (KeySwitchKernel) instead of SEAL’s';
        const problem = withKernels.keySwitchProblem ?? (plan.public.params.primes.slice(0, -1).some((p) => Number(p) >= 2 ** 50) ? 'a data prime of 2^50 or more: beyond the kernel’s exact range' : 'unavailable');
        return { model: model.id, mode, lever: withKernels.keySwitchPath === 'kernel' ? lever : `${lever}: NOT USED (${problem})`, measures: 'server evaluation', runs, beforeMs: median(before), afterMs: median(after), sameBytes };
      }
      const used = mode === 'single' ? withKernels.diagonalPath : withKernels.macPath;
      const lever = mode === 'single' ? 'diagonal products in the WebAssembly kernel (ScalarMac.addPlain) instead of multiply_plain + add' : 'scalar products in the WebAssembly kernel (ScalarMac.add) instead of multiply_plain + add';
      return { model: model.id, mode, lever: used === 'kernel' ? lever : `${lever}: NOT USED (${withKernels.diagonalProblem ?? withKernels.macProblem ?? 'unavailable'})`, measures: 'server evaluation', runs, beforeMs: median(before), afterMs: median(after), sameBytes };
    } finally {
      keys.dispose();
    }
  } finally {
    client.dispose();
    withKernels.dispose();
    withSeal.dispose();
    ctx.dispose();
  }
}
