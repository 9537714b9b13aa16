import type { Ciphertext, GaloisKeys, Plaintext, RelinKeys } from 'node-seal';
import type { HeContext } from '../params/context.js';
import { ciphertextData, plaintextData } from '../seal/layout.js';
import { sealCall } from '../seal/runtime.js';
import { free } from '../seal/scope.js';
import { galoisElement } from './galois.js';
import { KEYSWITCH_WASM_BASE64 } from './kernels/keyswitch-wasm.js';
import { SharedKeySwitch, TASK_HEADER_BYTES, rescaleOnOneThread, switchKeyOnOneThread, writeRescaleFacts, writeTaskHeader } from './keyswitch-threads.js';
import type { PrimeFacts, TableOffsets, TaskBuffers, TaskKernel } from './keyswitch-threads.js';

/** The kernel's exports (kernels/keyswitch.wat): the key switch's tasks' and these. Pointers are byte offsets in SEAL's memory. */
interface KeySwitchExports extends TaskKernel {
  permute(src: number, dst: number, table: number, n: number): void;
  mul_vec(a: number, b: number, out: number, n: number, q: bigint, qinv: number): void;
  mul_vec_small(a: number, b: number, out: number, n: number, q: number): void;
  add_vec(a: number, b: number, out: number, n: number, q: bigint): void;
  sub_mul(c: number, t: number, n: number, q: bigint, inv: bigint, invq: number): void;
  /** 1 if f64x2.relaxed_madd rounds once (a fused multiply-add) on this machine. */
  fma_fused(): number;
}

/** The few WebAssembly APIs used here (the DOM lib that declares them is not loaded for Node code). */
interface WasmSync {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: Record<string, Record<string, unknown>>) => { exports: Record<string, unknown> };
}
const Wasm = (globalThis as unknown as { WebAssembly: WasmSync }).WebAssembly;

/** Data primes below this keep the kernel's products exact (see kernels/keyswitch.wat). */
const MAX_PRIME = 2n ** 50n;
/** The special prime may be larger, up to SEAL's 60 bits: the kernel's "huge" functions (Shoup's products). */
const MAX_SPECIAL_PRIME = 2n ** 61n;
/** Primes up to this use the kernel's double-precision functions (products below 2^52 are exact). */
const SMALL_PRIME = 2n ** 26n;
/** Primes from SMALL_PRIME to below this have NTTs with a fused multiply-add, where the machine has one (kernels/keyswitch.wat). */
const FMA_PRIME = 2n ** 48n;
/** Bytes of one SEAL `PublicKey` (a `Ciphertext`, 88 bytes, and a pool handle, 8) in node-seal 7's 32-bit build. */
const PUBLIC_KEY_BYTES = 96;
/** Bytes of one `std::vector` (begin, end, capacity) in the 32-bit build. */
const VECTOR_BYTES = 12;
/** Offset of `KSwitchKeys::keys_` (after the pool handle, 8 bytes, and the parms_id, 32). */
const KEYS_OFFSET = 40;

function modPow(base: bigint, exp: bigint, q: bigint): bigint {
  let result = 1n;
  let b = base % q;
  let e = exp;
  while (e > 0n) {
    if (e & 1n) result = (result * b) % q;
    b = (b * b) % q;
    e >>= 1n;
  }
  return result;
}

function reverseBits(value: number, bits: number): number {
  let r = 0;
  for (let i = 0; i < bits; i++) r |= ((value >>> i) & 1) << (bits - 1 - i);
  return r;
}

/**
 * SEAL's `try_minimal_primitive_root(2N, q)`: the smallest primitive 2N-th root of unity mod q
 * (SEAL starts from a random one and takes the least of its odd powers: the same root).
 */
export function minimalPrimitiveRoot(twoN: number, q: bigint): bigint {
  const order = BigInt(twoN);
  if ((q - 1n) % order !== 0n) throw new Error(`${q} is not 1 mod ${twoN}`);
  let root = 0n;
  for (let x = 2n; x < q && root === 0n; x++) {
    const g = modPow(x, (q - 1n) / order, q);
    if (modPow(g, order / 2n, q) === q - 1n) root = g;
  }
  if (root === 0n) throw new Error(`no primitive ${twoN}-th root mod ${q}`);
  const square = (root * root) % q;
  let current = root;
  let least = root;
  for (let i = 0; i < twoN; i += 2) {
    if (current < least) least = current;
    current = (current * square) % q;
  }
  return least;
}

/** Word offsets of one prime's NTT tables inside the tables buffer. */
interface PrimeTables {
  q: bigint;
  /** Below 2^26: the double-precision functions, with root tables of balanced doubles (no quotient tables). */
  small: boolean;
  /** 2^50 or more (only the special prime): Shoup's products, with floor(w·2^64/q) as each root's quotient. */
  huge: boolean;
  /** From 2^26 to below 2^48, where the multiply-add is fused: the NTTs in doubles (ntt_forward_fma, ntt_inverse_fma; same tables). */
  fma: boolean;
  qNumber: number;
  roots: number;
  rootQuots: number;
  invRoots: number;
  invRootQuots: number;
  nInv: bigint;
}

/**
 * CKKS rotations (SEAL's `Evaluator::apply_galois_inplace` followed by `switch_key_inplace`),
 * squares with relinearisation and rescales, computed by he-core's WebAssembly kernel
 * (kernels/keyswitch.wat) on SEAL's memory: the Galois permutation in NTT form, the
 * decomposition of the target over the data primes, the NTTs, the products with the key and the
 * modulus switch down by the special prime (or, for a rescale, by the last data prime). Every step
 * is exact modular arithmetic with fully reduced results, so the results are SEAL's bits;
 * `PlanEvaluator` checks the first one of each kind, level and scale against SEAL's, bit for bit,
 * and falls back to SEAL if anything differs. With two threads (`setThreads`), key switches also
 * use a helper thread (keyswitch-threads.ts).
 *
 * It reads the keys' coefficients through the layout of SEAL's `KSwitchKeys` in node-seal 7's
 * 32-bit build (`keys_` at byte 40, each key a `PublicKey` of 96 bytes), checked on every access
 * (shape, degree, prime count, NTT form, buffer bounds).
 */
export class KeySwitchKernel {
  private readonly kernel: KeySwitchExports;
  private readonly N: number;
  private readonly logN: number;
  /** The key primes: the data primes, then the special prime. */
  private readonly primes: bigint[];
  private readonly tables: PrimeTables[] = [];
  private readonly tablesPt: Plaintext;
  /** The one-thread key switch's task header (keyswitch-threads.ts), and its tables' offsets until first written. */
  private readonly headerPt: Plaintext;
  private headerTables: TableOffsets[] | null = null;
  private readonly scratchPt: Plaintext;
  private readonly galoisTables = new Map<number, Plaintext>();
  /** q_special^-1 mod q_j for each data prime. */
  private readonly specialInverse: bigint[];
  /** The root powers of each key prime, in SEAL's orders (computed once, written to SEAL's heap and to the shared memory). */
  private powers: { roots: BigUint64Array; invRoots: BigUint64Array }[] | null = null;
  /** The two-thread key switch (null: one thread). */
  private shared: SharedKeySwitch | null = null;

  private constructor(
    private readonly ctx: HeContext,
    kernel: KeySwitchExports,
    /** Whether the NTTs of primes from 2^26 to below 2^48 use the fused multiply-add (see `create`). */
    readonly fma: boolean,
  ) {
    this.kernel = kernel;
    this.N = ctx.params.polyModulusDegree;
    this.logN = Math.log2(this.N);
    this.primes = ctx.params.primes.map((p) => BigInt(p));
    const K = this.primes.length;
    const special = this.primes[K - 1]!;
    this.specialInverse = this.primes.slice(0, K - 1).map((q) => modPow(special % q, q - 2n, q));
    this.tablesPt = new ctx.seal.Plaintext();
    this.headerPt = new ctx.seal.Plaintext();
    this.scratchPt = new ctx.seal.Plaintext();
    const D = K - 1;
    try {
      sealCall(ctx.seal, 'seal_failure', 'allocating the key-switching tables', () => {
        this.tablesPt.resize(4 * K * this.N);
        this.headerPt.resize(TASK_HEADER_BYTES / 8);
        // c1 in NTT form and in coefficient form (D limbs each), the products (2 × K limbs), a limb of
        // scratch and a spare one. The spare is deliberate: sized one limb smaller, the region moved
        // SEAL's later allocations so that a worker's heap took one more growth step (+41 MiB in
        // tests/service/key-memory.test.ts, which bounds it).
        this.scratchPt.resize((2 * D + 2 * K + 2) * this.N);
      });
      this.writeTables();
    } catch (err) {
      free(this.tablesPt, this.headerPt, this.scratchPt);
      throw err;
    }
  }

  /**
   * A key-switching kernel for this context, or null when its primes are too large for the kernel.
   * With `threads: 2`, key switches also use a helper thread (keyswitch-threads.ts), with room for
   * `keySlots` keys (Galois elements and the relinearisation key) in its shared memory.
   */
  static create(ctx: HeContext, options: { threads?: 1 | 2; keySlots?: number; fma?: boolean } = {}): KeySwitchKernel | null {
    const primes = ctx.params.primes.map((p) => BigInt(p));
    if (primes.slice(0, -1).some((p) => p >= MAX_PRIME) || primes[primes.length - 1]! >= MAX_SPECIAL_PRIME) return null;
    const module = new Wasm.Module(Buffer.from(KEYSWITCH_WASM_BASE64, 'base64'));
    const instance = new Wasm.Instance(module, { env: { memory: ctx.runtime.heapMemory() } });
    const kernel = instance.exports as unknown as KeySwitchExports;
    const names: (keyof KeySwitchExports)[] = ['ntt_forward', 'ntt_inverse', 'reduce', 'add_scalar', 'mac_key', 'mod_down', 'permute', 'ntt_forward_small', 'ntt_inverse_small', 'mac_key_small', 'mul_vec', 'mul_vec_small', 'add_vec', 'sub_mul', 'ntt_forward_huge', 'ntt_inverse_huge', 'mac_key_huge', 'reduce_wide', 'ntt_forward_fma', 'ntt_inverse_fma', 'fma_fused'];
    if (names.some((name) => typeof kernel[name] !== 'function')) return null;
    // WebAssembly's relaxed multiply-add rounds once where the machine has a fused multiply-add,
    // twice elsewhere; the FMA NTTs are exact only with one rounding. Without it (or with
    // `fma: false`) those primes keep the 64-bit integer NTTs.
    const unit = new KeySwitchKernel(ctx, kernel, (options.fma ?? true) && kernel.fma_fused() === 1);
    if ((options.threads ?? 1) === 2) unit.setThreads(2, options.keySlots ?? 8);
    return unit;
  }

  /** Why the two-thread key switch is not used (it could not start, or its helper is gone), or null. */
  threadsProblem: string | null = null;
  private threadsOn = false;

  /**
   * One or two threads for the key switches from now on. The helper thread and its shared memory
   * (room for `keySlots` keys) are made on the first switch to two, and kept for later ones.
   */
  setThreads(threads: 1 | 2, keySlots: number): void {
    this.threadsOn = threads === 2;
    this.keySlots = Math.max(1, keySlots);
  }

  private keySlots = 8;

  /** The two-thread unit if this operation is to use it (two threads on, the condition true, the helper alive), else null. */
  private sharedIfOn(): SharedKeySwitch | null {
    const shared = this.threadsOn && (this.threadsWhile?.() ?? true) ? this.sharedUnit() : null;
    return shared && !shared.helperProblem ? shared : null;
  }

  /** Rescales run on two threads so far. */
  get sharedRescales(): number {
    return this.shared?.rescales ?? 0;
  }

  /** The two-thread unit, made on first use (null if it cannot start: see `threadsProblem`). */
  private sharedUnit(): SharedKeySwitch | null {
    if (this.shared || this.threadsProblem) return this.shared;
    try {
      this.shared = new SharedKeySwitch(
        this.N,
        this.primeFacts(),
        this.keySlots,
        (words, doubles, at) => this.writeTablesInto(words, doubles, at),
      );
    } catch (err) {
      this.threadsProblem = err instanceof Error ? err.message : String(err);
    }
    return this.shared;
  }

  private threadsWhile: (() => boolean) | null = null;

  /** With two threads, asked before every key switch: false runs that one on this thread alone. */
  setThreadsWhile(condition: () => boolean): void {
    this.threadsWhile = condition;
  }

  /** Whether key switches use the helper thread. */
  get threads(): 1 | 2 {
    return this.threadsOn && !this.threadsProblem && !this.shared?.helperProblem ? 2 : 1;
  }

  /** Bytes of the two-thread unit's shared memory (0 until first used). */
  get sharedBytes(): number {
    return this.shared?.bytes ?? 0;
  }

  /** Tasks the helper thread has run so far (0 without one). */
  get helperTasks(): number {
    return this.shared?.helperTasks ?? 0;
  }

  /** Ends the helper thread, as if it had died (tests). */
  stopHelper(): Promise<number> | null {
    return this.shared?.stopHelper() ?? null;
  }

  private ownedData(pt: Plaintext): number {
    const data = plaintextData(this.ctx.runtime, pt);
    if (data === null) throw new Error('unexpected plaintext layout');
    return data;
  }

  /** SEAL's NTTTables for each key prime: root powers in SEAL's scrambled order, with w/q beside each. */
  private writeTables(): void {
    const base = this.ownedData(this.tablesPt);
    const buffer = this.ctx.runtime.heapBuffer();
    const offsets = this.writeTablesInto(new BigUint64Array(buffer), new Float64Array(buffer), base / 8);
    this.headerTables = offsets;
    this.primes.forEach((q, p) => {
      this.tables.push({ q, small: q < SMALL_PRIME, huge: q >= MAX_PRIME, fma: this.fma && q >= SMALL_PRIME && q < FMA_PRIME, qNumber: Number(q), ...offsets[p]!, nInv: modPow(BigInt(this.N), q - 2n, q) });
    });
  }

  /**
   * Writes the tables of every key prime at word `at` of the views (4N words per prime: roots,
   * their quotients w/q, inverse roots, their quotients; primes below 2^26 keep their roots as
   * balanced doubles and no quotients; a special prime of 2^50 or more keeps Shoup's quotients
   * floor(w·2^64/q) as u64). Returns the byte offsets of each prime's tables.
   */
  private writeTablesInto(words: BigUint64Array, doubles: Float64Array, at0: number): TableOffsets[] {
    const N = this.N;
    this.powers ??= this.primes.map((q) => {
      const root = minimalPrimitiveRoot(2 * N, q);
      const invRoot = modPow(root, q - 2n, q);
      const roots = new BigUint64Array(N);
      const invRoots = new BigUint64Array(N);
      roots[0] = 1n;
      let power = root;
      for (let i = 1; i < N; i++) {
        roots[reverseBits(i, this.logN)] = power;
        power = (power * root) % q;
      }
      invRoots[0] = 1n;
      power = invRoot;
      for (let i = 1; i < N; i++) {
        invRoots[reverseBits(i - 1, this.logN) + 1] = power;
        power = (power * invRoot) % q;
      }
      return { roots, invRoots };
    });
    return this.primes.map((q, p) => {
      const at = at0 + 4 * p * N;
      const small = q < SMALL_PRIME;
      const huge = q >= MAX_PRIME;
      const qNumber = Number(q);
      const { roots, invRoots } = this.powers![p]!;
      [roots, invRoots].forEach((table, t) => {
        const from = at + 2 * t * N;
        for (let i = 0; i < N; i++) {
          const value = table[i]!;
          // Balanced, in (−q/2, q/2]: the kernel's double-precision NTTs need |w| ≤ q/2.
          if (small) doubles[from + i] = value > q / 2n ? Number(value - q) : Number(value);
          else if (huge) {
            words[from + i] = value;
            words[from + N + i] = (value << 64n) / q;
          } else {
            words[from + i] = value;
            doubles[from + N + i] = Number(value) / qNumber;
          }
        }
      });
      return { roots: at * 8, rootQuots: (at + N) * 8, invRoots: (at + 2 * N) * 8, invRootQuots: (at + 3 * N) * 8 };
    });
  }

  /** SEAL's permutation table of a Galois element in NTT form (GaloisTool::generate_table_ntt), as u32. */
  private galoisTable(elt: number): number {
    let pt = this.galoisTables.get(elt);
    if (!pt) {
      const N = this.N;
      pt = new this.ctx.seal.Plaintext();
      const owned = pt;
      sealCall(this.ctx.seal, 'seal_failure', 'allocating a Galois table', () => owned.resize(N / 2));
      const table = new Uint32Array(this.ctx.runtime.heapBuffer(), this.ownedData(pt), N);
      const mask = N - 1;
      for (let i = N; i < 2 * N; i++) {
        const reversed = reverseBits(i, this.logN + 1);
        const raw = Number((BigInt(elt) * BigInt(reversed)) >> 1n) & mask;
        table[i - N] = reverseBits(raw, this.logN);
      }
      this.galoisTables.set(elt, pt);
    }
    return this.ownedData(pt);
  }

  /**
   * Byte offsets of the Galois key for `elt`: for each decomposition limb j < D, the data of the
   * key's ciphertext (two components × all key primes), checked against its header.
   */
  private keyData(keys: GaloisKeys | RelinKeys, index: number, D: number, what: string): number[] {
    const heap = this.ctx.runtime.heapBytes();
    const ptr = (keys as unknown as { $$?: { ptr?: unknown } }).$$?.ptr;
    if (typeof ptr !== 'number' || ptr % 4 !== 0 || ptr + KEYS_OFFSET + VECTOR_BYTES > heap) throw new Error(`unexpected layout of the ${what}`);
    const buffer = this.ctx.runtime.heapBuffer();
    const outer = new Uint32Array(buffer, ptr + KEYS_OFFSET, 2);
    if (outer[1]! < outer[0]! || (outer[1]! - outer[0]!) % VECTOR_BYTES !== 0 || index >= (outer[1]! - outer[0]!) / VECTOR_BYTES) throw new Error(`no ${what}`);
    const inner = new Uint32Array(buffer, outer[0]! + index * VECTOR_BYTES, 2);
    const count = (inner[1]! - inner[0]!) / PUBLIC_KEY_BYTES;
    if (count === 0) throw new Error(`no ${what}`);
    if (!Number.isInteger(count) || count < D || inner[1]! > heap) throw new Error(`unexpected shape of the ${what}`);
    const K = this.primes.length;
    const out: number[] = [];
    for (let j = 0; j < D; j++) {
      const at = inner[0]! + j * PUBLIC_KEY_BYTES;
      const w = new Uint32Array(buffer, at, 21);
      const nttForm = new Uint8Array(buffer, at + 32, 1)[0];
      const data = w[20]!;
      if (nttForm !== 1 || w[9] !== 2 || w[10] !== this.N || w[11] !== K || w[19] !== 2 * K * this.N || w[18]! < w[19]! || data % 8 !== 0 || data + 2 * K * this.N * 8 > heap) {
        throw new Error(`unexpected layout of the ${what}`);
      }
      out.push(data);
    }
    return out;
  }

  /** `out` = `ct` rotated by `steps` (each one rotation with its own Galois key, in order). */
  rotate(ct: Ciphertext, steps: readonly number[], galois: GaloisKeys, out: Ciphertext): void {
    sealCall(this.ctx.seal, 'seal_failure', 'rotating', () => out.assign(ct));
    for (const step of steps) this.applyGalois(out, galoisElement(step, this.N), galois);
  }

  /**
   * SEAL's ntt_negacyclic_harvey on one limb in place: N coefficients reduced modulo key prime `p`
   * (0 … K − 1) at byte offset `data` of SEAL's heap, to the NTT form with every value in [0, q),
   * by the same transforms the key switch uses (bit-exact to SEAL's; keyswitch.test.ts).
   */
  forwardNtt(data: number, p: number): void {
    const t = this.limbTables(data, p);
    const k = this.kernel;
    if (t.small) k.ntt_forward_small(data, t.roots, this.N, t.qNumber);
    else if (t.huge) k.ntt_forward_huge(data, t.roots, t.rootQuots, this.N, t.q);
    else if (t.fma) k.ntt_forward_fma(data, t.roots, t.rootQuots, this.N, t.q);
    else k.ntt_forward(data, t.roots, t.rootQuots, this.N, t.q);
  }

  /** SEAL's inverse_ntt_negacyclic_harvey on one limb in place (see forwardNtt). */
  inverseNtt(data: number, p: number): void {
    const t = this.limbTables(data, p);
    const k = this.kernel;
    if (t.small) k.ntt_inverse_small(data, t.invRoots, this.N, t.qNumber, Number(t.nInv > t.q / 2n ? t.nInv - t.q : t.nInv));
    else if (t.huge) throw new Error('inverseNtt: not for the special prime');
    else if (t.fma) k.ntt_inverse_fma(data, t.invRoots, t.invRootQuots, this.N, t.q, t.nInv, Number(t.nInv) / t.qNumber);
    else k.ntt_inverse(data, t.invRoots, t.invRootQuots, this.N, t.q, t.nInv, Number(t.nInv) / t.qNumber);
  }

  /** out = a · b modulo key prime `p`, coefficient-wise, for one limb of values in [0, q) (byte offsets in SEAL's heap; out may be a or b). */
  mulVec(a: number, b: number, out: number, p: number): void {
    const t = this.limbTables(a, p);
    this.limbTables(b, p);
    this.limbTables(out, p);
    if (t.small) this.kernel.mul_vec_small(a, b, out, this.N, t.qNumber);
    else if (t.huge) throw new Error('mulVec: not for the special prime');
    else this.kernel.mul_vec(a, b, out, this.N, t.q, 1 / t.qNumber);
  }

  /** out = a + b modulo key prime `p`, coefficient-wise (see mulVec). */
  addVec(a: number, b: number, out: number, p: number): void {
    const t = this.limbTables(a, p);
    this.limbTables(b, p);
    this.limbTables(out, p);
    this.kernel.add_vec(a, b, out, this.N, t.q);
  }

  /** Prime p's tables, after checking that a limb at `data` lies in SEAL's heap. */
  private limbTables(data: number, p: number): PrimeTables {
    const t = this.tables[p];
    if (!t || data % 8 !== 0 || data < 0 || data + this.N * 8 > this.ctx.runtime.heapBytes()) throw new Error('no such prime or limb');
    return t;
  }

  /** The scratch regions, by limb: c1 in NTT form and in coefficient form (D each), the products (2 × K), a limb of scratch. */
  private scratch(D: number): { c1Ntt: number; c1Coeff: number; prod: number; tmp: number } {
    const limb = this.N * 8;
    const K = this.primes.length;
    const c1Ntt = this.ownedData(this.scratchPt);
    const c1Coeff = c1Ntt + D * limb;
    const prod = c1Coeff + D * limb;
    const tmp = prod + 2 * K * limb;
    return { c1Ntt, c1Coeff, prod, tmp };
  }

  /** The coefficients of a two-polynomial NTT ciphertext with 1 to K − 1 limbs, and its limb count. */
  private cipher(ct: Ciphertext): { data: number; D: number } {
    const D = ct.coeffModulusSize();
    if (D < 1 || D > this.primes.length - 1) throw new Error('unexpected ciphertext level');
    const data = ciphertextData(this.ctx.runtime, ct, this.N, D);
    if (data === null) throw new Error('unexpected ciphertext layout or shape');
    return { data, D };
  }

  /** SEAL's apply_galois_inplace on a two-polynomial CKKS ciphertext in NTT form. */
  private applyGalois(ct: Ciphertext, elt: number, galois: GaloisKeys): void {
    const N = this.N;
    const { data, D } = this.cipher(ct);
    const keys = this.keyData(galois, (elt - 1) >> 1, D, `Galois key for element ${elt}`);
    const table = this.galoisTable(elt);
    const limb = N * 8;
    const { c1Ntt, tmp } = this.scratch(D);
    const heap = (): Uint8Array => new Uint8Array(this.ctx.runtime.heapBuffer());
    // The automorphism, in NTT form: c0 in place (through scratch), c1 into the key switch's input; c1 becomes 0.
    for (let j = 0; j < D; j++) {
      const c0 = data + j * limb;
      this.kernel.permute(c0, tmp, table, N);
      heap().copyWithin(c0, tmp, tmp + limb);
      this.kernel.permute(data + (D + j) * limb, c1Ntt + j * limb, table, N);
    }
    heap().fill(0, data + D * limb, data + 2 * D * limb);
    this.switchKey(data, D, keys, galois, (elt - 1) >> 1);
  }

  /**
   * SEAL's switch_key_inplace (CKKS): the target (D limbs in NTT form, in the scratch's c1Ntt)
   * decomposed over the data primes, times the key, switched down by the special prime and added
   * into the ciphertext's two polynomials at `data`.
   */
  private switchKey(data: number, D: number, keys: number[], keysObject: GaloisKeys | RelinKeys, index: number): void {
    const shared = this.sharedIfOn();
    if (shared) {
      const heap = (): Uint8Array => new Uint8Array(this.ctx.runtime.heapBuffer());
      // A slot holds the whole key (every decomposition limb), whatever this key switch's level.
      const slot = shared.slotFor(keysObject, index, heap(), () => this.keyData(keysObject, index, this.primes.length - 1, 'key for the helper thread'));
      shared.switchKey(heap, this.scratch(D).c1Ntt, data, data + D * this.N * 8, D, slot);
      return;
    }
    // One thread: the same tasks, on SEAL's heap.
    const { c1Ntt, c1Coeff, prod, tmp } = this.scratch(D);
    const header = this.oneThreadHeader(D, { c1Ntt, c1Coeff, prod, out: data, tmp, keys });
    switchKeyOnOneThread(this.kernel, () => this.ctx.runtime.heapBuffer(), header, D);
  }

  /** The task header of a one-thread key switch or rescale, in a plaintext we own on SEAL's heap (its byte offset); the prime facts are written the first time. */
  private oneThreadHeader(D: number, buffers: TaskBuffers): number {
    const header = this.ownedData(this.headerPt);
    writeTaskHeader(this.ctx.runtime.heapBuffer(), header, this.N, this.primeFacts(), this.headerTables, D, buffers);
    this.headerTables = null;
    return header;
  }

  /** The facts the key switch's tasks need of each key prime. */
  private primeFacts(): PrimeFacts[] {
    return this.tables.map((t, i) => ({ q: t.q, small: t.small, huge: t.huge, fma: t.fma, nInv: t.nInv, specialInverse: this.specialInverse[i] ?? 0n }));
  }

  /**
   * `out` = `x` squared and relinearised (SEAL's square then relinearize_inplace): (c0², 2·c0·c1,
   * c1²), c1² key-switched with the relinearisation key into the first two. The scale is x's
   * squared, as SEAL sets it.
   */
  squareRelinearize(x: Ciphertext, relin: RelinKeys, out: Ciphertext): void {
    const N = this.N;
    const limb = N * 8;
    sealCall(this.ctx.seal, 'seal_failure', 'squaring', () => out.assign(x));
    const { data, D } = this.cipher(out);
    const keys = this.keyData(relin, 0, D, 'relinearisation key');
    const { c1Ntt, tmp } = this.scratch(D);
    const k = this.kernel;
    for (let j = 0; j < D; j++) {
      const t = this.tables[j]!;
      const c0 = data + j * limb;
      const c1 = data + (D + j) * limb;
      const c2 = c1Ntt + j * limb;
      if (t.small) {
        k.mul_vec_small(c1, c1, c2, N, t.qNumber);
        k.mul_vec_small(c0, c1, tmp, N, t.qNumber);
        k.mul_vec_small(c0, c0, c0, N, t.qNumber);
      } else {
        k.mul_vec(c1, c1, c2, N, t.q, 1 / t.qNumber);
        k.mul_vec(c0, c1, tmp, N, t.q, 1 / t.qNumber);
        k.mul_vec(c0, c0, c0, N, t.q, 1 / t.qNumber);
      }
      k.add_vec(tmp, tmp, c1, N, t.q);
    }
    this.switchKey(data, D, keys, relin, 0);
    const scale = x.scale();
    out.setScale(scale * scale);
  }

  /**
   * SEAL's rescale_to_next_inplace (CKKS, divide_and_round_q_last_ntt_inplace): every limb but the
   * last becomes (c_i − ĉ)·q_last^-1 with ĉ the rounded last limb, the scale is divided by q_last,
   * and SEAL's mod_switch_to_next drops the last limb (a copy, with SEAL's metadata and checks).
   * The two polynomials are one task each (keyswitch-threads.ts, runTask kind 5): on two threads
   * when key switches are, else both on this thread.
   */
  rescale(ct: Ciphertext): void {
    const { data, D } = this.cipher(ct);
    if (D < 2) throw new Error('the ciphertext is at the last level');
    const half = this.primes[D - 1]! >> 1n;
    const facts = this.primes.slice(0, D - 1).map((q, i) => ({ q, inverse: this.inverseOf(D - 1, i), fix: (q - (half % q)) % q }));
    const shared = this.sharedIfOn();
    if (shared) shared.rescale(() => new Uint8Array(this.ctx.runtime.heapBuffer()), data, D, facts);
    else {
      // One thread: the same tasks, on SEAL's heap (the last limb is transformed in place: it is dropped after).
      const header = this.oneThreadHeader(D, { c1Ntt: 0, c1Coeff: 0, prod: 0, out: data, tmp: this.scratch(D).tmp, keys: [] });
      writeRescaleFacts(this.ctx.runtime.heapBuffer(), header, D, facts);
      rescaleOnOneThread(this.kernel, () => this.ctx.runtime.heapBuffer(), header);
    }
    ct.setScale(ct.scale() / this.tables[D - 1]!.qNumber);
    sealCall(this.ctx.seal, 'seal_failure', 'rescaling', () => this.ctx.evaluator.cipherModSwitchToNextInplace(ct));
  }

  private readonly inverses = new Map<string, bigint>();

  /** q_j^-1 mod q_i. */
  private inverseOf(j: number, i: number): bigint {
    const key = `${j}|${i}`;
    let v = this.inverses.get(key);
    if (v === undefined) {
      const q = this.primes[i]!;
      v = modPow(this.primes[j]! % q, q - 2n, q);
      this.inverses.set(key, v);
    }
    return v;
  }

  dispose(): void {
    this.shared?.dispose();
    this.shared = null;
    free(this.tablesPt, this.headerPt, this.scratchPt, ...this.galoisTables.values());
    this.galoisTables.clear();
  }
}
