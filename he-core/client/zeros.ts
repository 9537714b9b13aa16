import type { Plaintext } from 'node-seal';
import type { PublicPlan } from '../compiler/plan.js';
import { checkCiphertextLayout } from '../envelope/seal-object.js';
import { plaintextData } from '../seal/layout.js';
import { sealCall } from '../seal/runtime.js';
import { free } from '../seal/scope.js';
import type { ClientKeyPair } from './client-keys.js';

// Encryption made ahead of time ("offline/online" encryption). SEAL's symmetric CKKS encryption
// of a plaintext m in NTT form is an encryption of zero, (c0, c1) = (−a·s + e, a) with `a` kept as
// its seed, then c0 += m limb by limb modulo each prime (Encryptor::encrypt_internal). The first
// part does not depend on m and is most of the cost (the random `a` and e, their NTTs, a·s: about
// 2 to 3 ms of a breast-cancer-mlp request's 4), so a key pair can make it while the app is idle
// and finish an encryption in the time of the encoding and one addition.
//
// A prepared zero is the serialisation (uncompressed, seeded) of SEAL's own symmetric encryption
// of the all-zero plaintext at the plan's input level and scale; `finish` adds the
// encoded m into its first polynomial in place. The result is the bytes SEAL would write for an
// encryption of m with that randomness. Each zero is used once and then overwritten: whoever
// knew it could subtract it from the request and read m, so it never leaves this process and is
// never stored.

/** c0's first coefficient in an uncompressed seeded ciphertext: SEAL header, the ciphertext's fields, the array's header and count. */
export const C0_AT = 16 + 32 + 1 + 5 * 8 + 16 + 8;
/** Leading bytes so that c0 starts on an 8-byte boundary of the buffer (Uint32Array views). */
const PAD = (8 - (C0_AT % 8)) % 8;
/** The stock of zeros kept per plan input (a single prediction uses one). */
export const ZERO_STOCK = 2;

interface Zero {
  /** PAD bytes, then the serialisation. */
  buffer: Uint8Array;
  bytes: number;
}

/** Prepared encryptions of zero of one key pair, per (level, scale). */
export class PreparedZeros {
  private readonly stock = new Map<string, Zero[]>();
  /** The all-zero plaintext per plan input, encoded once (its encoding cost about 1 ms). */
  private readonly zeroPlaintexts = new Map<string, Plaintext>();

  constructor(private readonly keys: ClientKeyPair) {}

  /** Whether this parameter set allows them (data primes below 2^52: c0 + m is exact in doubles; the last prime is the special one). */
  get usable(): boolean {
    return this.keys.ctx.params.primes.slice(0, -1).every((q) => Number(q) < 2 ** 52);
  }

  /** Zeros ready for this plan's input. */
  count(plan: PublicPlan): number {
    return this.stock.get(stockKey(plan))?.length ?? 0;
  }

  /**
   * Makes zeros for this plan's input until `target` are ready (synchronous: about 2 ms each for
   * breast-cancer-mlp). Returns how many were made.
   */
  prepare(plan: PublicPlan, target = ZERO_STOCK): number {
    if (!this.usable || plan.input.level !== this.keys.ctx.topLevel) return 0;
    const key = stockKey(plan);
    const list = this.stock.get(key) ?? [];
    this.stock.set(key, list);
    const { seal } = this.keys.ctx;
    let made = 0;
    const zero = this.zeroPlaintext(plan, key);
    while (list.length < target) {
      const serializable = sealCall(seal, 'seal_failure', 'preparing an encryption', () => this.keys.encryptor.encryptSymmetricSerializable(zero));
      let raw: Uint8Array;
      try {
        raw = sealCall(seal, 'seal_failure', 'preparing an encryption', () => serializable.saveToArray(seal.ComprModeType.none) as Uint8Array);
      } finally {
        free(serializable);
      }
      checkCiphertextLayout(raw, this.keys.ctx.params.polyModulusDegree, this.keys.ctx.params.primes.length);
      const buffer = new Uint8Array(PAD + raw.length);
      buffer.set(raw, PAD);
      raw.fill(0);
      list.push({ buffer, bytes: raw.length });
      made++;
    }
    return made;
  }

  private zeroPlaintext(plan: PublicPlan, key: string): Plaintext {
    const known = this.zeroPlaintexts.get(key);
    if (known) return known;
    const plain = new this.keys.ctx.seal.Plaintext();
    try {
      sealCall(this.keys.ctx.seal, 'seal_failure', 'preparing an encryption', () => this.keys.ctx.encoder.encode(new Float64Array(this.keys.ctx.slots), plan.input.scale, plain));
    } catch (err) {
      free(plain);
      throw err;
    }
    this.zeroPlaintexts.set(key, plain);
    return plain;
  }

  /**
   * The encryption of `pt` (encoded at this plan's input level and scale, NTT form) from a prepared
   * zero, uncompressed, or null if none is ready (the caller then encrypts with SEAL as usual).
   */
  finish(plan: PublicPlan, pt: Plaintext): Uint8Array | null {
    const zero = this.stock.get(stockKey(plan))?.shift();
    if (!zero) return null;
    const { ctx } = this.keys;
    const N = ctx.params.polyModulusDegree;
    const L = pt.coeffCount() / N;
    const data = plaintextData(ctx.runtime, pt);
    const count = new DataView(zero.buffer.buffer, zero.buffer.byteOffset + PAD + C0_AT - 8, 8).getBigUint64(0, true);
    if (data === null || !pt.isNttForm() || L !== ctx.params.primes.length - 1 || count !== BigInt(N * L)) {
      zero.buffer.fill(0);
      return null;
    }
    const c0 = new Uint32Array(zero.buffer.buffer, zero.buffer.byteOffset + PAD + C0_AT, 2 * N * L);
    const m = new Uint32Array(ctx.runtime.heapBuffer(), data, 2 * N * L);
    for (let limb = 0; limb < L; limb++) {
      const q = Number(ctx.params.primes[limb]!);
      for (let i = 2 * limb * N, end = i + 2 * N; i < end; i += 2) {
        // Both below q < 2^52: the sum is exact, and below 2q.
        let x = c0[i]! + c0[i + 1]! * 4294967296 + m[i]! + m[i + 1]! * 4294967296;
        if (x >= q) x -= q;
        const low = x >>> 0;
        c0[i] = low;
        c0[i + 1] = (x - low) / 4294967296;
      }
    }
    return zero.buffer.subarray(PAD, PAD + zero.bytes);
  }

  /** Forgets every prepared zero (overwritten first) and frees the zero plaintexts. */
  clear(): void {
    for (const list of this.stock.values()) for (const z of list) z.buffer.fill(0);
    this.stock.clear();
    free(...this.zeroPlaintexts.values());
    this.zeroPlaintexts.clear();
  }
}

function stockKey(plan: PublicPlan): string {
  return `${plan.params.fingerprint}/${plan.input.level}/${plan.input.scale}`;
}
