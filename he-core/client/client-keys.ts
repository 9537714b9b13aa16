import type { Decryptor, Encryptor, Plaintext, PublicKey, SecretKey } from 'node-seal';
import { HeError } from '../errors.js';
import { FastEncoder } from '../evaluator/encoder.js';
import { KeySwitchKernel } from '../evaluator/keyswitch.js';
import type { PublicPlan } from '../compiler/plan.js';
import { saveCompressed } from '../envelope/seal-object.js';
import type { HeContext } from '../params/context.js';
import { sealCall } from '../seal/runtime.js';
import { free } from '../seal/scope.js';
import { SeededEncryptor } from './fast-encryption.js';
import { PreparedZeros } from './zeros.js';

export interface GeneratedEvaluationKeys {
  relin: Uint8Array | null;
  galois: Uint8Array | null;
  relinBytes: number;
  galoisBytes: number;
  ms: number;
}

/**
 * The client's key pair for one parameter set. The secret key lives only here (and, wrapped, in
 * the vault); nothing in the evaluator or the service can accept this type.
 */
export class ClientKeyPair {
  readonly fingerprint: string;
  /** Encryptions of zero made ahead of time, used once each by `encryptVectors` (zeros.ts). */
  readonly zeros: PreparedZeros = new PreparedZeros(this);
  private disposed = false;

  private constructor(
    readonly ctx: HeContext,
    private readonly secretKey: SecretKey,
    private readonly publicKey: PublicKey,
    readonly encryptor: Encryptor,
    readonly decryptor: Decryptor,
  ) {
    this.fingerprint = ctx.params.fingerprint;
  }

  private static fromSecret(ctx: HeContext, secretKey: SecretKey): ClientKeyPair {
    const seal = ctx.seal;
    const generator = new seal.KeyGenerator(ctx.context, secretKey);
    let publicKey: PublicKey | undefined;
    try {
      // Only used to construct the encryptor; encryption itself is symmetric (seeded, half size).
      publicKey = generator.createPublicKey();
      const encryptor = new seal.Encryptor(ctx.context, publicKey, secretKey);
      const decryptor = new seal.Decryptor(ctx.context, secretKey);
      return new ClientKeyPair(ctx, secretKey, publicKey, encryptor, decryptor);
    } catch (err) {
      free(publicKey, secretKey);
      throw new HeError('seal_failure', `setting up the key pair failed: ${(err as Error).message}`);
    } finally {
      free(generator);
    }
  }

  static generate(ctx: HeContext): ClientKeyPair {
    const generator = new ctx.seal.KeyGenerator(ctx.context);
    try {
      return ClientKeyPair.fromSecret(ctx, generator.secretKey());
    } finally {
      free(generator);
    }
  }

  /** Restores a key pair from the vault's copy of the secret key. */
  static fromSecretKeyBytes(ctx: HeContext, bytes: Uint8Array): ClientKeyPair {
    const sk = new ctx.seal.SecretKey();
    // SEAL's binding takes a plain Uint8Array (not a Node Buffer); the copy is zeroed after loading.
    const plain = Uint8Array.from(bytes);
    try {
      sealCall(ctx.seal, 'keys_invalid', 'loading the secret key', () => sk.loadFromArray(ctx.context, plain));
    } catch (err) {
      free(sk);
      throw err;
    } finally {
      plain.fill(0);
    }
    return ClientKeyPair.fromSecret(ctx, sk);
  }

  /** The secret key's bytes, for the vault only (it encrypts them before storing). */
  exportSecretKey(): Uint8Array {
    return this.secretKey.saveToArray(this.ctx.seal.ComprModeType.zstd) as Uint8Array;
  }

  /** Relinearisation key and Galois keys for exactly the plan's steps, in SEAL's seeded, compressed form. */
  createEvaluationKeys(plan: PublicPlan): GeneratedEvaluationKeys {
    if (plan.params.fingerprint !== this.fingerprint) throw new HeError('params_mismatch', 'this key pair is for another parameter set');
    const seal = this.ctx.seal;
    const started = performance.now();
    const generator = new seal.KeyGenerator(this.ctx.context, this.secretKey);
    try {
      let relin: Uint8Array | null = null;
      let galois: Uint8Array | null = null;
      if (plan.relinearization) {
        const r = generator.createRelinKeysSerializable();
        try {
          relin = saveCompressed(seal, r);
        } finally {
          free(r);
        }
      }
      if (plan.galoisSteps.length > 0) {
        const g = sealCall(seal, 'keys_invalid', 'creating Galois keys', () => generator.createGaloisKeysSerializableWithSteps(Int32Array.from(plan.galoisSteps)));
        try {
          galois = saveCompressed(seal, g);
        } finally {
          free(g);
        }
      }
      return { relin, galois, relinBytes: relin?.length ?? 0, galoisBytes: galois?.length ?? 0, ms: performance.now() - started };
    } finally {
      free(generator);
    }
  }

  /** The kernel of this key pair's encoder and encryptor (its NTTs and vector products), made on first use; null where it cannot serve the primes. */
  private kernel: KeySwitchKernel | null | undefined;
  /** The encoder of this key pair's requests (he-core/evaluator/encoder.ts), made on first use; null: SEAL's. */
  private fast: FastEncoder | null | undefined;
  /** Its seeded encryptor (fast-encryption.ts), made on first use; null: SEAL's. */
  private seeded: SeededEncryptor | null | undefined;
  /** Whether requests are encoded by FastEncoder (true, the default) or by SEAL's CKKSEncoder (benchmarks, tests). */
  fastEncoding = true;
  /** Whether requests are encrypted by SeededEncryptor (true, the default) or by SEAL's Encryptor (benchmarks, tests). */
  fastEncryption = true;

  private sharedKernel(): KeySwitchKernel | null {
    if (this.kernel === undefined) this.kernel = KeySwitchKernel.create(this.ctx);
    return this.kernel;
  }

  /**
   * `pt` = the CKKS encoding of `values` at the top level and `scale`: SEAL's bits, by
   * FastEncoder where it can serve these parameters (and has not found a difference), else by
   * SEAL's encoder.
   */
  encode(values: Float64Array, scale: number, pt: Plaintext): void {
    if (this.fastEncoding && this.fast === undefined) {
      const kernel = this.sharedKernel();
      this.fast = kernel && FastEncoder.create(this.ctx, kernel);
    }
    if (this.fastEncoding && this.fast) this.fast.encode(values, scale, pt);
    else sealCall(this.ctx.seal, 'seal_failure', 'encoding', () => this.ctx.encoder.encode(values, scale, pt));
  }

  /**
   * The uncompressed serialisation of a fresh seeded encryption of `pt` (top level, NTT form) by
   * SeededEncryptor, or null: the caller encrypts with SEAL (fast encryption off, the kernel or the
   * key's layout unusable, or its first check failed: see `encryptionProblem`). With `reuse`, the
   * bytes are in a buffer that the next call overwrites (compress them at once).
   */
  encryptSeeded(pt: Plaintext, reuse = false): Uint8Array | null {
    if (!this.fastEncryption) return null;
    if (this.seeded === undefined) {
      const kernel = this.sharedKernel();
      this.seeded = kernel && SeededEncryptor.create(this.ctx, kernel, this.secretKey, this.encryptor, this.decryptor);
    }
    return this.seeded?.encrypt(pt, reuse) ?? null;
  }

  /** Encryptions made by SeededEncryptor so far. */
  get fastEncryptions(): number {
    return this.seeded?.count ?? 0;
  }

  /** Why this key pair's requests are encrypted by SEAL although fast encryption is on, or null (also before the first encryption). */
  get encryptionProblem(): string | null {
    if (this.seeded === null) return 'the kernel cannot serve these primes, or the secret key has an unexpected layout';
    return this.seeded?.problem ?? null;
  }

  /** Encodings made by FastEncoder so far (SEAL's first checks and fallbacks not counted). */
  get fastEncodings(): number {
    return this.fast?.counts.here ?? 0;
  }

  /** Why this key pair's requests are encoded by SEAL although fast encoding is on (its kernel cannot serve the primes, or it differed from SEAL), or null. */
  get encodingProblem(): string | null {
    if (this.fast === null) return 'the kernel cannot serve these primes';
    return this.fast?.problem ?? null;
  }

  private readonly disposers: (() => void)[] = [];

  /** Runs `fn` when the key pair is disposed (its encryption helper thread ends then). */
  onDispose(fn: () => void): void {
    this.disposers.push(fn);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const fn of this.disposers.splice(0)) fn();
    this.zeros.clear();
    this.seeded?.dispose();
    this.seeded = null;
    this.fast?.dispose();
    this.fast = null;
    this.kernel?.dispose();
    this.kernel = null;
    free(this.encryptor, this.decryptor, this.publicKey, this.secretKey);
  }
}
