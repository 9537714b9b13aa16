import type { CKKSEncoder, Evaluator, MainModule, ParmsIdType, SEALContext } from 'node-seal';
import { HeError } from '../errors.js';
import { free } from '../seal/scope.js';
import { sealCall } from '../seal/runtime.js';
import type { SealRuntime } from '../seal/runtime.js';
import { parametersFingerprint, topLevel } from './parameters.js';
import type { HeParameters } from './parameters.js';

/**
 * A SEAL context for one parameter set, with the encoder, evaluator and the parms id of every
 * level. Level l is SEAL's chain index: the top level is `topLevel(params)`, the last is 0.
 */
export class HeContext {
  readonly runtime: SealRuntime;
  readonly seal: MainModule;
  readonly params: HeParameters;
  readonly context: SEALContext;
  readonly encoder: CKKSEncoder;
  readonly evaluator: Evaluator;
  readonly slots: number;
  private readonly levelIds: ParmsIdType[];
  private disposed = false;

  private constructor(runtime: SealRuntime, params: HeParameters, context: SEALContext) {
    this.runtime = runtime;
    this.seal = runtime.seal;
    this.params = params;
    this.context = context;
    this.encoder = new runtime.seal.CKKSEncoder(context);
    this.evaluator = new runtime.seal.Evaluator(context);
    this.slots = this.encoder.slotCount();
    const byLevel: ParmsIdType[] = [];
    let data = context.firstContextData();
    for (;;) {
      const index = data.chainIndex();
      byLevel[index] = data.parmsId();
      if (index === 0) {
        free(data);
        break;
      }
      const next = data.nextContextData();
      free(data);
      data = next;
    }
    this.levelIds = byLevel;
    if (this.levelIds.length !== topLevel(params) + 1) {
      this.dispose();
      throw new HeError('params_mismatch', `SEAL built ${this.levelIds.length} levels, the parameters declare ${topLevel(params) + 1}`);
    }
  }

  /** Builds a context, refusing parameters that are below 128-bit security or whose fingerprint or primes do not match. */
  static create(runtime: SealRuntime, params: HeParameters): HeContext {
    const seal = runtime.seal;
    if (params.scheme !== 'ckks' || params.securityLevel !== 128) {
      throw new HeError('params_insecure', 'only CKKS at 128-bit security is accepted');
    }
    if (parametersFingerprint(params) !== params.fingerprint) {
      throw new HeError('params_mismatch', 'the parameter fingerprint does not match the parameters');
    }
    const parms = new seal.EncryptionParameters(seal.SchemeType.ckks);
    const moduli = sealCall(seal, 'params_mismatch', 'creating the modulus chain', () =>
      seal.CoeffModulus.Create(params.polyModulusDegree, Int32Array.from(params.coeffModulusBits)),
    );
    let context: SEALContext | undefined;
    try {
      const primes = (seal.jsArrayFromVecModulus(moduli) as bigint[]).map((v) => v.toString());
      if (primes.join(',') !== params.primes.join(',')) {
        throw new HeError('params_mismatch', 'the declared primes are not the ones SEAL derives from the bit sizes');
      }
      parms.setPolyModulusDegree(params.polyModulusDegree);
      parms.setCoeffModulus(moduli);
      context = sealCall(seal, 'params_insecure', 'creating the SEAL context', () => new seal.SEALContext(parms, true, seal.SecLevelType.tc128));
      const first = context.firstContextData();
      const qualifiers = first.qualifiers();
      const ok = context.parametersSet() && qualifiers.securityLevel === seal.SecLevelType.tc128;
      free(qualifiers, first);
      if (!ok) throw new HeError('params_insecure', `SEAL refuses these parameters at 128-bit security: ${context.toHuman()}`);
      const ctx = new HeContext(runtime, params, context);
      context = undefined;
      return ctx;
    } finally {
      free(parms, moduli, context);
    }
  }

  get topLevel(): number {
    return this.levelIds.length - 1;
  }

  /** The parms id of a level (owned by the context; do not delete). */
  parmsId(level: number): ParmsIdType {
    const id = this.levelIds[level];
    if (!id) throw new HeError('params_mismatch', `level ${level} does not exist (top level is ${this.topLevel})`);
    return id;
  }

  /** The chain index of a ciphertext's or plaintext's parms id, or -1 when it is not of this context. */
  levelOf(parmsId: ParmsIdType): number {
    const data = this.context.getContextData(parmsId);
    try {
      if (!data || (data as unknown as { $$?: { ptr: number } }).$$?.ptr === 0) return -1;
      return data.chainIndex();
    } catch {
      return -1;
    } finally {
      free(data);
    }
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    free(...this.levelIds, this.encoder, this.evaluator, this.context);
  }
}
