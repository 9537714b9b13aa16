// Tests only: a context with a throwaway key pair, for unit tests of the server-side pieces
// (evaluator, kernels) that need real ciphertexts without going through he-core/client.
import type { Decryptor, Encryptor, GaloisKeys } from 'node-seal';
import { HeContext } from '../params/context.js';
import { buildParameters, selectParameters } from '../params/select.js';
import type { HeParameters } from '../params/parameters.js';
import type { ParameterRequirements } from '../params/select.js';
import { loadSeal } from '../seal/runtime.js';
import type { SealRuntime } from '../seal/runtime.js';
import { free } from '../seal/scope.js';

export interface KeyedContext {
  ctx: HeContext;
  encryptor: Encryptor;
  decryptor: Decryptor;
  /** Galois keys for the steps under this context's secret key (the caller frees them). */
  galoisKeys(steps: readonly number[]): GaloisKeys;
  dispose(): void;
}

/** mnist-cnn's parameter set by default: N = 8192, a 38-bit first prime and five 26-bit ones. */
export async function keyedContext(requirements: ParameterRequirements = { depth: 5, scaleBits: 26, headroomBits: 12, minSlots: 4096 }): Promise<KeyedContext> {
  const rt = await loadSeal();
  return keyed(rt, selectParameters(rt.seal, requirements));
}

/** A context on an explicit modulus chain (`bits`: SEAL's CoeffModulus.Create, the special prime last). */
export async function keyedContextWithChain(degree: number, bits: number[], scaleBits: number): Promise<KeyedContext> {
  const rt = await loadSeal();
  return keyed(rt, buildParameters(rt.seal, degree, bits, scaleBits));
}

function keyed(rt: SealRuntime, params: HeParameters): KeyedContext {
  const ctx = HeContext.create(rt, params);
  const keygen = new rt.seal.KeyGenerator(ctx.context);
  const secret = keygen.secretKey();
  const pub = keygen.createPublicKey();
  const encryptor = new rt.seal.Encryptor(ctx.context, pub, secret);
  const decryptor = new rt.seal.Decryptor(ctx.context, secret);
  return {
    ctx,
    encryptor,
    decryptor,
    galoisKeys: (steps) => keygen.createGaloisKeysWithSteps(Int32Array.from(steps)),
    dispose() {
      free(decryptor, encryptor, pub, secret, keygen);
      ctx.dispose();
    },
  };
}
