import type { GaloisKeys, RelinKeys } from 'node-seal';
import { HeError } from '../errors.js';
import type { PublicPlan } from '../compiler/plan.js';
import type { HeContext } from '../params/context.js';
import { sealCall } from '../seal/runtime.js';
import { free } from '../seal/scope.js';
import { galoisElement } from './galois.js';

/** Serialised evaluation keys as they travel: SEAL's own format (seeded, compressed). No secret key here. */
export interface EvaluationKeyBytes {
  relin: Uint8Array | null;
  galois: Uint8Array | null;
}

/**
 * The keys an evaluator may hold: relinearisation and Galois keys, loaded and checked against the
 * plan (same parameters, exactly the plan's rotation steps). There is no way to put a secret key here.
 */
export class EvaluationKeys {
  private constructor(
    readonly relin: RelinKeys | null,
    readonly galois: GaloisKeys | null,
    readonly byteSize: number,
  ) {}

  static load(ctx: HeContext, plan: PublicPlan, bytes: EvaluationKeyBytes): EvaluationKeys {
    const seal = ctx.seal;
    if (plan.params.fingerprint !== ctx.params.fingerprint) throw new HeError('params_mismatch', 'the keys are for another parameter set');
    if (plan.relinearization !== (bytes.relin !== null)) {
      throw new HeError('keys_invalid', plan.relinearization ? 'this model needs a relinearisation key' : 'this model takes no relinearisation key');
    }
    if ((plan.galoisSteps.length > 0) !== (bytes.galois !== null)) {
      throw new HeError('keys_invalid', plan.galoisSteps.length > 0 ? 'this model needs Galois keys' : 'this model takes no Galois keys');
    }
    let relin: RelinKeys | null = null;
    let galois: GaloisKeys | null = null;
    try {
      if (bytes.relin) {
        const r = new seal.RelinKeys();
        relin = r;
        sealCall(seal, 'keys_invalid', 'loading the relinearisation key', () => r.loadFromArray(ctx.context, bytes.relin));
        if (r.size() !== 1) throw new HeError('keys_invalid', 'the relinearisation key has the wrong shape');
      }
      if (bytes.galois) {
        const g = new seal.GaloisKeys();
        galois = g;
        sealCall(seal, 'keys_invalid', 'loading the Galois keys', () => g.loadFromArray(ctx.context, bytes.galois));
        for (const step of plan.galoisSteps) {
          if (!g.hasKey(galoisElement(step, plan.params.polyModulusDegree))) {
            throw new HeError('keys_invalid', `the Galois keys lack the rotation step ${step}`);
          }
        }
        if (g.size() !== plan.galoisSteps.length) {
          throw new HeError('keys_invalid', `expected Galois keys for exactly ${plan.galoisSteps.length} steps, got ${g.size()}`);
        }
      }
      const size = (bytes.relin?.length ?? 0) + (bytes.galois?.length ?? 0);
      return new EvaluationKeys(relin, galois, size);
    } catch (err) {
      free(relin, galois);
      throw err;
    }
  }

  dispose(): void {
    free(this.relin, this.galois);
  }
}
