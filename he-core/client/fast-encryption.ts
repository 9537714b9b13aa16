import { randomFillSync } from 'node:crypto';
import type { Ciphertext, Decryptor, Encryptor, Plaintext, SecretKey } from 'node-seal';
import type { KeySwitchKernel } from '../evaluator/keyswitch.js';
import { checkCiphertextLayout } from '../envelope/seal-object.js';
import type { HeContext } from '../params/context.js';
import { ciphertextData, plaintextData, secretKeyData } from '../seal/layout.js';
import { sealCall } from '../seal/runtime.js';
import { free } from '../seal/scope.js';
import { C0_AT } from './zeros.js';

// Symmetric, seeded CKKS encryption at the top level, with SEAL doing only the expansion of the
// public seed. SEAL's own (Encryptor::encrypt_symmetric, encrypt_zero_symmetric) draws a 64-byte
// seed, expands it into the uniform polynomial a (in NTT form), samples the noise e from its
// centered binomial distribution (sample_poly_cbd: 21 bits minus 21 bits, σ = √10.5 ≈ 3.24),
// transforms e by SEAL's NTTs and writes c0 = −(a·s + e) + m, keeping only c0 and the seed.
// Here:
//   - the seed is 64 bytes from Node's CSPRNG (crypto.randomFillSync), written into the
//     serialisation, and a is SEAL's own expansion of it: the serialisation with c0 = 0 is loaded
//     by SEAL (Ciphertext::load expands the seed into c1, exactly as the service will);
//   - e is drawn from the same centered binomial distribution with bytes from the same CSPRNG,
//     and c0 = a·(−s) + e + m is computed by the key-switching kernel (its NTTs, products and
//     sums); −e has e's distribution, so this is SEAL's distribution of ciphertexts;
//   - the first encryption of each key pair is decrypted by SEAL and must give m plus a noise of
//     at most 21 in every coefficient, the same in every limb; if not, the key pair encrypts with
//     SEAL from then on (`problem` says why).
// The noise and its random bytes are overwritten after each use; −s stays in SEAL's heap beside
// the secret key and is overwritten when the key pair is disposed.

/** The scale's offset (after the SEAL header, parms_id, NTT flag, size, degree and prime count). */
const SCALE_AT = 16 + 32 + 1 + 3 * 8;
/** The seed is the serialisation's last 64 bytes (UniformRandomGeneratorInfo: header, type, seed). */
const SEED_BYTES = 64;
/** SEAL's centered binomial noise: at most 21 in absolute value. */
export const NOISE_BOUND = 21;

const POPCOUNT = Uint8Array.from({ length: 256 }, (_, b) => {
  let c = 0;
  for (let x = b; x; x >>= 1) c += x & 1;
  return c;
});

/** The centered binomial noise of SEAL's sample_poly_cbd from 6 random bytes per coefficient: popcounts of 21 bits minus 21 bits. */
export function centeredBinomial(random: Uint8Array, out: Int8Array): void {
  for (let i = 0, o = 0; i < out.length; i++, o += 6) {
    out[i] = POPCOUNT[random[o]!]! + POPCOUNT[random[o + 1]!]! + POPCOUNT[random[o + 2]! & 0x1f]! - POPCOUNT[random[o + 3]!]! - POPCOUNT[random[o + 4]!]! - POPCOUNT[random[o + 5]! & 0x1f]!;
  }
}

export class SeededEncryptor {
  private readonly N: number;
  private readonly L: number;
  private readonly primes: number[];
  /** SEAL's serialisation of a seeded top-level ciphertext, c0 and seed zeroed: every encryption starts from a copy. */
  private template: Uint8Array | null = null;
  /** The buffer of `encrypt(pt, true)`. */
  private scratch: Uint8Array | null = null;
  /** The ciphertext SEAL loads each request into (c1: a, expanded from the seed; c0: computed here). */
  private readonly ct: Ciphertext;
  /** −s (L limbs), q_j − 1 in every coefficient (L limbs, for negations), and the noise (L limbs). */
  private readonly negS: Plaintext;
  private readonly minusOne: Plaintext;
  private readonly noise: Plaintext;
  private readonly random: Uint8Array;
  private readonly e: Int8Array;
  private verified = false;
  /** Why this key pair now encrypts with SEAL (its first encryption did not decrypt as it must), or null. */
  problem: string | null = null;
  /** Encryptions made here. */
  count = 0;

  private constructor(
    private readonly ctx: HeContext,
    private readonly kernel: KeySwitchKernel,
    private readonly encryptor: Encryptor,
    private readonly decryptor: Decryptor,
  ) {
    this.N = ctx.params.polyModulusDegree;
    this.L = ctx.params.primes.length - 1;
    this.primes = ctx.params.primes.slice(0, -1).map((p) => Number(p));
    this.ct = new ctx.seal.Ciphertext();
    this.negS = new ctx.seal.Plaintext();
    this.minusOne = new ctx.seal.Plaintext();
    this.noise = new ctx.seal.Plaintext();
    this.random = new Uint8Array(6 * this.N);
    this.e = new Int8Array(this.N);
  }

  /**
   * An encryptor for this key pair, or null where it cannot serve (data primes of 2^50 or more,
   * or an unexpected layout of the secret key).
   */
  static create(ctx: HeContext, kernel: KeySwitchKernel, secretKey: SecretKey, encryptor: Encryptor, decryptor: Decryptor): SeededEncryptor | null {
    if (ctx.params.primes.slice(0, -1).some((p) => Number(p) >= 2 ** 50)) return null;
    const N = ctx.params.polyModulusDegree;
    const K = ctx.params.primes.length;
    const s = secretKeyData(ctx.runtime, secretKey, N * K);
    if (s === null) return null;
    const unit = new SeededEncryptor(ctx, kernel, encryptor, decryptor);
    try {
      unit.prepareKey(s);
    } catch (err) {
      unit.dispose();
      throw err;
    }
    return unit;
  }

  private prepareKey(s: number): void {
    const { N, L } = this;
    const limb = N * 8;
    sealCall(this.ctx.seal, 'seal_failure', 'preparing the encryptor', () => {
      this.negS.resize(N * L);
      this.minusOne.resize(N * L);
      this.noise.resize(N * L);
    });
    const minusOne = this.data(this.minusOne);
    const words = new Uint32Array(this.ctx.runtime.heapBuffer(), minusOne, 2 * N * L);
    for (let j = 0; j < L; j++) {
      const v = this.primes[j]! - 1;
      const low = v >>> 0;
      const high = (v - low) / 4294967296;
      for (let i = 2 * j * N; i < 2 * (j + 1) * N; i += 2) {
        words[i] = low;
        words[i + 1] = high;
      }
    }
    // −s = s · (q − 1), in the kernel: the secret key's coefficients never pass through JavaScript.
    const negS = this.data(this.negS);
    for (let j = 0; j < L; j++) this.kernel.mulVec(s + j * limb, minusOne + j * limb, negS + j * limb, j);
  }

  private data(pt: Plaintext): number {
    const at = plaintextData(this.ctx.runtime, pt);
    if (at === null) throw new Error('unexpected plaintext layout');
    return at;
  }

  /**
   * The uncompressed serialisation of a fresh seeded encryption of `pt` (top level, NTT form, as
   * SEAL's encryptSymmetricSerializable would save it), or null when it cannot be made here (the
   * caller then encrypts with SEAL). The first one of a key pair comes from SEAL (its bytes are the
   * template of the later ones). With `reuse`, the bytes are in a buffer that the next call
   * overwrites (for a caller that compresses them at once).
   */
  encrypt(pt: Plaintext, reuse = false): Uint8Array | null {
    const { N, L } = this;
    if (this.problem || !pt.isNttForm() || pt.coeffCount() !== N * L) return null;
    if (!this.template) return this.fromSeal(pt);
    try {
      return this.own(pt, reuse);
    } catch (err) {
      // Not expected (SEAL refused the serialisation, or a layout changed): SEAL encrypts from now on, and the reason is kept.
      this.problem = `it failed: ${err instanceof Error ? err.message : String(err)}`;
      return null;
    }
  }

  private own(pt: Plaintext, reuse: boolean): Uint8Array | null {
    const { N, L } = this;
    const template = this.template!;
    let bytes: Uint8Array;
    if (reuse) {
      if (this.scratch?.length !== template.length) this.scratch = new Uint8Array(template.length);
      bytes = this.scratch;
      bytes.set(template);
    } else bytes = template.slice();
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    view.setFloat64(SCALE_AT, pt.scale(), true);
    randomFillSync(bytes.subarray(bytes.length - SEED_BYTES));
    sealCall(this.ctx.seal, 'seal_failure', 'encrypting', () => this.ct.loadFromArray(this.ctx.context, bytes));
    const c = ciphertextData(this.ctx.runtime, this.ct, N, L);
    const m = plaintextData(this.ctx.runtime, pt);
    if (c === null || m === null) throw new Error('unexpected layout of the loaded ciphertext or of the plaintext');
    const e = this.data(this.noise);
    const negS = this.data(this.negS);
    try {
      this.sampleNoise(e);
      const limb = N * 8;
      for (let j = 0; j < L; j++) {
        const c0 = c + j * limb;
        this.kernel.forwardNtt(e + j * limb, j);
        this.kernel.mulVec(c + (L + j) * limb, negS + j * limb, c0, j);
        this.kernel.addVec(c0, e + j * limb, c0, j);
        this.kernel.addVec(c0, m + j * limb, c0, j);
      }
      bytes.set(new Uint8Array(this.ctx.runtime.heapBuffer(), c, L * limb), C0_AT);
    } finally {
      new Uint8Array(this.ctx.runtime.heapBuffer(), e, L * N * 8).fill(0);
    }
    if (!this.verified && !this.verify(pt)) return null;
    this.count++;
    return bytes;
  }

  /** SEAL's encryption, whose serialisation becomes the template (c0 and seed zeroed). */
  private fromSeal(pt: Plaintext): Uint8Array {
    const { seal } = this.ctx;
    const serializable = sealCall(seal, 'seal_failure', 'encrypting', () => this.encryptor.encryptSymmetricSerializable(pt));
    let raw: Uint8Array;
    try {
      raw = sealCall(seal, 'seal_failure', 'encrypting', () => serializable.saveToArray(seal.ComprModeType.none) as Uint8Array);
    } finally {
      free(serializable);
    }
    checkCiphertextLayout(raw, this.N, this.L + 1);
    if (raw.length !== C0_AT + this.N * this.L * 8 + 16 + 1 + SEED_BYTES) {
      this.problem = `SEAL's seeded ciphertext has ${raw.length} bytes, not the expected layout`;
      return raw;
    }
    const template = raw.slice();
    template.fill(0, C0_AT, C0_AT + this.N * this.L * 8);
    template.fill(0, template.length - SEED_BYTES);
    this.template = template;
    return raw;
  }

  /** e: SEAL's centered binomial noise, one value per coefficient, as residues in every limb. */
  private sampleNoise(at: number): void {
    const { N, L, random, e } = this;
    randomFillSync(random);
    centeredBinomial(random, e);
    random.fill(0);
    const words = new Uint32Array(this.ctx.runtime.heapBuffer(), at, 2 * N * L);
    for (let j = 0; j < L; j++) {
      const q = this.primes[j]!;
      const base = 2 * j * N;
      for (let i = 0; i < N; i++) {
        const v = e[i]!;
        const x = v < 0 ? q + v : v;
        const low = x >>> 0;
        words[base + 2 * i] = low;
        words[base + 2 * i + 1] = (x - low) / 4294967296;
      }
    }
    e.fill(0);
  }

  /**
   * The first encryption's check: SEAL decrypts the ciphertext just made (still loaded in `ct`);
   * decrypted − m, back from NTT form, must be one integer of at most 21 in absolute value per
   * coefficient, the same in every limb.
   */
  private verify(pt: Plaintext): boolean {
    const { N, L } = this;
    const limb = N * 8;
    const out = new this.ctx.seal.Plaintext();
    try {
      sealCall(this.ctx.seal, 'seal_failure', 'checking an encryption', () => this.decryptor.decrypt(this.ct, out));
      const d = plaintextData(this.ctx.runtime, out);
      const m = plaintextData(this.ctx.runtime, pt);
      const e = this.data(this.noise);
      const minusOne = this.data(this.minusOne);
      let ok = d !== null && m !== null && out.coeffCount() === N * L;
      for (let j = 0; ok && j < L; j++) {
        // noise_j = decrypted − m = decrypted + m·(q − 1)
        this.kernel.mulVec(m! + j * limb, minusOne + j * limb, e + j * limb, j);
        this.kernel.addVec(e + j * limb, d! + j * limb, e + j * limb, j);
        this.kernel.inverseNtt(e + j * limb, j);
      }
      if (ok) {
        const words = new Uint32Array(this.ctx.runtime.heapBuffer(), e, 2 * N * L);
        const centred = (j: number, i: number): number => {
          const q = this.primes[j]!;
          const v = words[2 * (j * N + i)]! + words[2 * (j * N + i) + 1]! * 4294967296;
          return v > q / 2 ? v - q : v;
        };
        for (let i = 0; ok && i < N; i++) {
          const first = centred(0, i);
          ok = Math.abs(first) <= NOISE_BOUND;
          for (let j = 1; ok && j < L; j++) ok = centred(j, i) === first;
        }
      }
      new Uint8Array(this.ctx.runtime.heapBuffer(), e, L * limb).fill(0);
      if (!ok) {
        this.problem = 'its first encryption did not decrypt to the plaintext plus a small noise';
        return false;
      }
      this.verified = true;
      return true;
    } finally {
      sealCall(this.ctx.seal, 'seal_failure', 'checking an encryption', () => out.setZero());
      free(out);
    }
  }

  dispose(): void {
    for (const pt of [this.negS, this.noise]) if (!pt.isDeleted()) pt.setZero();
    free(this.ct, this.negS, this.minusOne, this.noise);
    this.template = null;
    this.scratch = null;
  }
}
