// Tests only: a context with a throwaway key pair, for unit tests of the server-side pieces
// (evaluator, kernels) that need real ciphertexts without going through he-core/client.
import type { Decryptor, Encryptor } from 'node-seal';
import { HeContext } from '../params/context.js';
import { selectParameters } from '../params/select.js';
import type { ParameterRequirements } from '../params/select.js';
import { loadSeal } from '../seal/runtime.js';
import { free } from '../seal/scope.js';

export interface KeyedContext {
  ctx: HeContext;
  encryptor: Encryptor;
  decryptor: Decryptor;
  dispose(): void;
}

/** mnist-cnn's parameter set by default: N = 8192, a 38-bit first prime and five 26-bit ones. */
export async function keyedContext(requirements: ParameterRequirements = { depth: 5, scaleBits: 26, headroomBits: 12, minSlots: 4096 }): Promise<KeyedContext> {
  const rt = await loadSeal();
  const ctx = HeContext.create(rt, selectParameters(rt.seal, requirements));
  const keygen = new rt.seal.KeyGenerator(ctx.context);
  const secret = keygen.secretKey();
  const pub = keygen.createPublicKey();
  const encryptor = new rt.seal.Encryptor(ctx.context, pub, secret);
  const decryptor = new rt.seal.Decryptor(ctx.context, secret);
  return {
    ctx,
    encryptor,
    decryptor,
    dispose() {
      free(decryptor, encryptor, pub, secret, keygen);
      ctx.dispose();
    },
  };
}
