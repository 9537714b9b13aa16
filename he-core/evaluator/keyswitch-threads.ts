import { Worker } from 'node:worker_threads';
import { KEYSWITCH_SHARED_WASM_BASE64 } from './kernels/keyswitch-shared-wasm.js';

// Both cores on one key switch. SEAL's heap cannot be shared between threads, so the work of a key
// switch runs on a shared WebAssembly memory: the NTT tables, a copy of the keys in use, and the
// key switch's buffers. The calling thread copies the target (c1 after the automorphism, or c2) and
// the ciphertext in, then it and one helper thread take the tasks of each phase from a shared
// counter, and the caller copies the result back into SEAL's ciphertext:
//   A. the inverse NTT of each limb of the target (D tasks);
//   B. per output prime (the D data primes and the special one): the limbs of the target
//      reduced and NTT'd there, times the key, summed (D + 1 tasks);
//   C. the inverse NTT of the two special-prime sums, rounded (2 tasks);
//   D. per component and data prime: the modulus switch down, added into the ciphertext (2D tasks).
// The arithmetic is the single-threaded kernel's (kernels/keyswitch.wat, the same source compiled
// for shared memory): the same bits. The caller never waits for a task the helper has not taken:
// a helper that is slow, busy or gone only means the caller does more of the tasks itself. A helper
// that took a task and then died is noticed (its exit) and the key switch fails, so that the
// evaluator falls back to SEAL.

/** The kernel's exports used by the tasks (kernels/keyswitch.wat). */
export interface TaskKernel {
  ntt_forward(a: number, roots: number, quots: number, n: number, q: bigint): void;
  ntt_inverse(a: number, roots: number, quots: number, n: number, q: bigint, ninv: bigint, ninvq: number): void;
  reduce(src: number, dst: number, n: number, q: bigint, qinv: number): void;
  add_scalar(a: number, n: number, c: bigint, q: bigint): void;
  mac_key(x: number, k0: number, k1: number, acc0: number, acc1: number, n: number, q: bigint, qinv: number): void;
  mod_down(c: number, p: number, t: number, n: number, q: bigint, inv: bigint, invq: number): void;
  ntt_forward_small(a: number, roots: number, n: number, q: number): void;
  ntt_inverse_small(a: number, roots: number, n: number, q: number, ninv: number): void;
  mac_key_small(x: number, k0: number, k1: number, acc0: number, acc1: number, n: number, q: number): void;
  ntt_forward_huge(a: number, roots: number, shoup: number, n: number, q: bigint): void;
  ntt_inverse_huge(a: number, roots: number, shoup: number, n: number, q: bigint, ninv: bigint, ninvShoup: bigint): void;
  mac_key_huge(x: number, k0: number, k1: number, acc0: number, acc1: number, n: number, q: bigint, qinv: number): void;
  reduce_wide(src: number, dst: number, n: number, q: bigint, qinv: number): void;
  sub_mul(c: number, t: number, n: number, q: bigint, inv: bigint, invq: number): void;
  ntt_forward_fma(a: number, roots: number, quots: number, n: number, q: bigint): void;
  ntt_inverse_fma(a: number, roots: number, quots: number, n: number, q: bigint, ninv: bigint, ninvq: number): void;
}

/** The WebAssembly APIs used here (the DOM lib that declares them is not loaded for Node code). */
interface WasmShared {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: Record<string, Record<string, unknown>>) => { exports: Record<string, unknown> };
  Memory: new (descriptor: { initial: number; maximum: number; shared: boolean }) => { buffer: SharedArrayBuffer };
}
const Wasm = (globalThis as unknown as { WebAssembly: WasmShared }).WebAssembly;

// Control words (Int32, at byte 0). A phase of generation g publishes its descriptors, then
// COUNT = (g << 10) | tasks, DONE = 0, NEXT = g << 10, GEN = g. A thread takes task i with
// Atomics.add(NEXT, 1) and runs it only if the generation it took equals COUNT's and i < tasks: a
// late taker from the previous phase sees another generation and stops.
const GEN = 0; // phase generation: the helper waits on it
const NEXT = 1; // (generation << 10) | next task index, taken with Atomics.add
const COUNT = 2; // (generation << 10) | tasks in the phase
const DONE = 3; // tasks finished in the phase
const QUIT = 4;
const D_WORD = 5; // limbs of the ciphertext in this key switch
const FAILED = 7; // a task threw (in either thread)
const HELPED = 8; // tasks the helper has run, in all
// Task descriptors (Int32 pairs: kind, argument) at byte 256; per-prime facts (Float64) at byte 1024.
// The control words are used by the two-thread key switch only; the rest is a task header, which
// the one-thread key switch also writes, in SEAL's heap.
const TASKS = 64;
const PRIME_FIELDS = 12;
const PRIMES_AT = 1024;
const LAYOUT_AT = 3072; // Float64: N, K, limb bytes, c1Ntt, c1Coeff, prod, out, tmp
const KEYS_AT = 3200; // Float64: per decomposition limb, the byte offset of its key ciphertext
const HEADER_BYTES = 4096;

/**
 * One task of a key switch, on the memory `buffer` with its task header at byte `base`: the one
 * definition of the key switch's arithmetic, for one thread (on SEAL's heap, `switchKeyOnOneThread`)
 * and for two (on the shared memory). Plain JavaScript with no closure over module state, so that
 * its source is also the helper's (Function.prototype.toString). `thread` picks the scratch limb.
 */
function runTask(k: TaskKernel, buffer: ArrayBufferLike, base: number, kind: number, arg: number, thread: number): void {
  // The header's layout, written out here because this source is also the helper's (a test checks it).
  const HEADER_BYTES_F64 = 512;
  const LAYOUT_F64 = 384;
  const PRIMES_F64 = 128;
  const PRIME_FIELDS_ = 12;
  const KEYS_F64 = 400;
  const D_WORD_ = 5;
  const i32 = new Int32Array(buffer, base, 2 * HEADER_BYTES_F64);
  const f = new Float64Array(buffer, base, HEADER_BYTES_F64);
  const u = new BigUint64Array(buffer, base, HEADER_BYTES_F64);
  const N = f[LAYOUT_F64]!;
  const K = f[LAYOUT_F64 + 1]!;
  const limb = f[LAYOUT_F64 + 2]!;
  const c1Ntt = f[LAYOUT_F64 + 3]!;
  const c1Coeff = f[LAYOUT_F64 + 4]!;
  const prod = f[LAYOUT_F64 + 5]!;
  const out = f[LAYOUT_F64 + 6]!;
  const tmp = f[LAYOUT_F64 + 7]! + thread * limb;
  const D = i32[D_WORD_]!;
  // Per prime p (the data primes, then the special prime), doubles: q (rounded above 2^53), kind
  // (0: below 2^50, 1: small, below 2^26, 2: huge, the special prime from 2^50, 3: from 2^26 to
  // below 2^48 with a fused multiply-add, the NTTs in doubles), roots, quots,
  // invRoots, invQuots, n^-1, n^-1/q (or balanced n^-1 for small), q_special^-1, its quotient,
  // half fix; and u64: q exactly (field 11), n^-1 and its Shoup quotient (fields 6 and 7, huge).
  const P = (p: number, field: number): number => f[PRIMES_F64 + p * PRIME_FIELDS_ + field]!;
  const Q = (p: number, field: number): bigint => u[PRIMES_F64 + p * PRIME_FIELDS_ + field]!;
  const forward = (a: number, p: number): void => {
    const kind = P(p, 1);
    if (kind === 1) k.ntt_forward_small(a, P(p, 2), N, P(p, 0));
    else if (kind === 2) k.ntt_forward_huge(a, P(p, 2), P(p, 3), N, Q(p, 11));
    else if (kind === 3) k.ntt_forward_fma(a, P(p, 2), P(p, 3), N, Q(p, 11));
    else k.ntt_forward(a, P(p, 2), P(p, 3), N, Q(p, 11));
  };
  const inverse = (a: number, p: number): void => {
    const kind = P(p, 1);
    if (kind === 1) k.ntt_inverse_small(a, P(p, 4), N, P(p, 0), P(p, 7));
    else if (kind === 2) k.ntt_inverse_huge(a, P(p, 4), P(p, 5), N, Q(p, 11), Q(p, 6), Q(p, 7));
    else if (kind === 3) k.ntt_inverse_fma(a, P(p, 4), P(p, 5), N, Q(p, 11), BigInt(P(p, 6)), P(p, 7));
    else k.ntt_inverse(a, P(p, 4), P(p, 5), N, Q(p, 11), BigInt(P(p, 6)), P(p, 7));
  };
  const heap = new Uint8Array(buffer);
  if (kind === 1) {
    // A: inverse NTT of target limb j
    heap.copyWithin(c1Coeff + arg * limb, c1Ntt + arg * limb, c1Ntt + (arg + 1) * limb);
    inverse(c1Coeff + arg * limb, arg);
  } else if (kind === 2) {
    // B: output prime I (key prime ki)
    const I = arg;
    const ki = I === D ? K - 1 : I;
    const q = P(ki, 0);
    const qinv = 1 / q;
    heap.fill(0, prod + I * limb, prod + (I + 1) * limb);
    heap.fill(0, prod + (K + I) * limb, prod + (K + I + 1) * limb);
    for (let J = 0; J < D; J++) {
      let operand = c1Ntt + J * limb;
      if (I !== J) {
        if (P(J, 0) <= q) heap.copyWithin(tmp, c1Coeff + J * limb, c1Coeff + (J + 1) * limb);
        else k.reduce(c1Coeff + J * limb, tmp, N, Q(ki, 11), qinv);
        forward(tmp, ki);
        operand = tmp;
      }
      // Limb J's key ciphertext: two components of K limbs.
      const key = f[KEYS_F64 + J]!;
      const kind = P(ki, 1);
      if (kind === 1) k.mac_key_small(operand, key + ki * limb, key + (K + ki) * limb, prod + I * limb, prod + (K + I) * limb, N, q);
      else if (kind === 2) k.mac_key_huge(operand, key + ki * limb, key + (K + ki) * limb, prod + I * limb, prod + (K + I) * limb, N, Q(ki, 11), qinv);
      else k.mac_key(operand, key + ki * limb, key + (K + ki) * limb, prod + I * limb, prod + (K + I) * limb, N, Q(ki, 11), qinv);
    }
  } else if (kind === 3) {
    // C: the special-prime sum of component c, back to coefficients, + q_special/2
    const last = prod + (arg * K + D) * limb;
    inverse(last, K - 1);
    k.add_scalar(last, N, Q(K - 1, 11) >> 1n, Q(K - 1, 11));
  } else if (kind === 4) {
    // D: component c, data prime J
    const c = arg >> 8;
    const J = arg & 255;
    const q = P(J, 0);
    const last = prod + (c * K + D) * limb;
    if (P(K - 1, 1) === 2) k.reduce_wide(last, tmp, N, Q(J, 11), 1 / q);
    else if (P(K - 1, 0) > q) k.reduce(last, tmp, N, Q(J, 11), 1 / q);
    else heap.copyWithin(tmp, last, last + limb);
    k.add_scalar(tmp, N, BigInt(P(J, 10)), Q(J, 11));
    forward(tmp, J);
    k.mod_down(out + (c * D + J) * limb, prod + (c * K + J) * limb, tmp, N, Q(J, 11), BigInt(P(J, 8)), P(J, 9));
  } else if (kind === 5) {
    // A rescale (SEAL's divide_and_round_q_last_ntt_inplace), component arg of the ciphertext at
    // out (D limbs each): the last limb back to coefficients (in place: it is dropped after), +
    // q_last/2; then each other limb i becomes (c_i − (that reduced mod q_i, − q_last/2 mod q_i,
    // NTT'd))·q_last^-1, with the facts at the keys' place (writeRescaleFacts).
    const L = D - 1;
    const last = out + (arg * D + L) * limb;
    inverse(last, L);
    k.add_scalar(last, N, Q(L, 11) >> 1n, Q(L, 11));
    for (let i = 0; i < L; i++) {
      const q = P(i, 0);
      if (q < P(L, 0)) k.reduce(last, tmp, N, Q(i, 11), 1 / q);
      else heap.copyWithin(tmp, last, last + limb);
      k.add_scalar(tmp, N, BigInt(f[KEYS_F64 + 3 * i + 2]!), Q(i, 11));
      forward(tmp, i);
      k.sub_mul(out + (arg * D + i) * limb, tmp, N, Q(i, 11), BigInt(f[KEYS_F64 + 3 * i]!), f[KEYS_F64 + 3 * i + 1]!);
    }
  }
}

/**
 * A second copy of runTask, made from its source as the helper's is, for the calling thread's
 * share of a two-thread key switch. V8 keeps type feedback per function: one copy working on both
 * SEAL's heap and the shared memory (an ArrayBuffer and a SharedArrayBuffer, two kernel instances)
 * made both paths about 1.4× slower whenever an evaluator went from one thread to two and back.
 */
const runSharedTask = new Function('__name', `return ${runTask.toString()};`)((fn: unknown) => fn) as typeof runTask;

/** The tasks of one key switch of D limbs, phase by phase (each phase's tasks are independent). */
function phases(D: number): [number, number][][] {
  return [
    Array.from({ length: D }, (_, j): [number, number] => [1, j]),
    // The special prime's (the largest task) first.
    Array.from({ length: D + 1 }, (_, I): [number, number] => [2, D - I]),
    [
      [3, 0],
      [3, 1],
    ],
    Array.from({ length: 2 * D }, (_, i): [number, number] => [4, ((i % 2) << 8) | (i >> 1)]),
  ];
}

/** Byte offsets of a key switch's buffers, in the memory its header is in. */
export interface TaskBuffers {
  /** The target (D limbs in NTT form), then its coefficient form (D limbs). */
  c1Ntt: number;
  c1Coeff: number;
  /** The products, 2 × K limbs. */
  prod: number;
  /** The two polynomials the result is added into (D limbs each, c0 then c1). */
  out: number;
  /** Scratch: one limb per thread. */
  tmp: number;
  /** Per decomposition limb j, its key ciphertext (2 × K limbs). */
  keys: readonly number[];
}

/**
 * Writes a task header at byte `base` of `buffer`: the per-prime facts (with the byte offsets of
 * each prime's NTT tables in that memory) once, and the buffers and D of one key switch.
 */
export function writeTaskHeader(buffer: ArrayBufferLike, base: number, N: number, primes: readonly PrimeFacts[], tables: readonly TableOffsets[] | null, D: number, buffers: TaskBuffers): void {
  const f = new Float64Array(buffer, base, HEADER_BYTES_F64);
  const K = primes.length;
  if (tables) {
    const half = primes[K - 1]!.q >> 1n;
    const u = new BigUint64Array(buffer, base, HEADER_BYTES_F64);
    primes.forEach((p, i) => {
      const o = tables[i]!;
      const qn = Number(p.q);
      const balanced = p.nInv > p.q / 2n ? Number(p.nInv - p.q) : Number(p.nInv);
      const fix = (p.q - (half % p.q)) % p.q;
      const at = PRIMES_F64 + i * PRIME_FIELDS;
      f.set([qn, p.small ? 1 : p.huge ? 2 : p.fma ? 3 : 0, o.roots, o.rootQuots, o.invRoots, o.invRootQuots, Number(p.nInv), p.small ? balanced : Number(p.nInv) / qn, Number(p.specialInverse), Number(p.specialInverse) / qn, Number(fix), 0], at);
      u[at + 11] = p.q;
      if (p.huge) u.set([p.nInv, (p.nInv << 64n) / p.q], at + 6);
    });
  }
  f.set([N, K, N * 8, buffers.c1Ntt, buffers.c1Coeff, buffers.prod, buffers.out, buffers.tmp], LAYOUT_F64);
  f.set(buffers.keys.slice(0, D), KEYS_F64);
  new Int32Array(buffer, base, 2 * HEADER_BYTES_F64)[D_WORD] = D;
}

/** A key switch on the calling thread alone, its header (`writeTaskHeader`) at byte `base` of `buffer`. */
export function switchKeyOnOneThread(k: TaskKernel, buffer: () => ArrayBufferLike, base: number, D: number): void {
  for (const phase of phases(D)) for (const [kind, arg] of phase) runTask(k, buffer(), base, kind, arg, 0);
}

/** What a rescale's tasks need of data prime i below the last: q_last^-1 mod q_i and (q_i − (q_last/2 mod q_i)) mod q_i. */
export interface RescaleFacts {
  q: bigint;
  inverse: bigint;
  fix: bigint;
}

/** The rescale's tasks: one per component. */
const RESCALE_TASKS: readonly (readonly [number, number])[] = [
  [5, 0],
  [5, 1],
];

/**
 * Writes a rescale's facts (per data prime below the last, in the place of a key switch's key
 * offsets) and its D into the task header at byte `base` of `buffer` (its layout and prime facts
 * from `writeTaskHeader`).
 */
export function writeRescaleFacts(buffer: ArrayBufferLike, base: number, D: number, facts: readonly RescaleFacts[]): void {
  if (facts.length !== D - 1 || KEYS_F64 + 3 * facts.length > HEADER_BYTES_F64) throw new Error('unexpected rescale facts');
  const f = new Float64Array(buffer, base, HEADER_BYTES_F64);
  // Each below 2^50: exact as doubles.
  facts.forEach((x, i) => f.set([Number(x.inverse), Number(x.inverse) / Number(x.q), Number(x.fix)], KEYS_F64 + 3 * i));
  new Int32Array(buffer, base, 2 * HEADER_BYTES_F64)[D_WORD] = D;
}

/** A rescale on the calling thread alone, its header (`writeTaskHeader`, `writeRescaleFacts`) at byte `base` of `buffer`. */
export function rescaleOnOneThread(k: TaskKernel, buffer: () => ArrayBufferLike, base: number): void {
  for (const [kind, arg] of RESCALE_TASKS) runTask(k, buffer(), base, kind, arg, 0);
}

const HEADER_BYTES_F64 = HEADER_BYTES / 8;
const LAYOUT_F64 = LAYOUT_AT / 8;
const PRIMES_F64 = PRIMES_AT / 8;
const KEYS_F64 = KEYS_AT / 8;
const TASKS_AT = 256;
/** Bytes of a task header. */
export const TASK_HEADER_BYTES = HEADER_BYTES;

/** The constants `runTask` writes out, as the module defines them (for the test that they agree). */
export const TASK_LAYOUT = { HEADER_BYTES_F64, LAYOUT_F64, PRIMES_F64, PRIME_FIELDS_: PRIME_FIELDS, KEYS_F64, D_WORD_: D_WORD };
export const taskSource = (): string => runTask.toString();

/** The helper thread's whole program. */
function helperSource(): string {
  return [
    "const { workerData } = require('node:worker_threads');",
    // Transpilers that keep function names (esbuild's keepNames, as tsx and vitest run it) wrap
    // nested functions in __name(fn, name); the helper's copy of runTask needs it defined.
    'const __name = (fn) => fn;',
    `const runTask = ${runTask.toString()};`,
    'const { memory, module } = workerData;',
    'const k = new WebAssembly.Instance(module, { env: { memory } }).exports;',
    'const ctrl = new Int32Array(memory.buffer, 0, 64);',
    'let gen = Atomics.load(ctrl, 0);',
    'for (;;) {',
    // Phases follow each other within microseconds: look for the next one for a while (about 0.2 ms)
    // before sleeping, since waking a sleeping thread costs tens to hundreds of microseconds.
    '  for (let spin = 0; spin < 40000 && Atomics.load(ctrl, 0) === gen; spin++);',
    '  Atomics.wait(ctrl, 0, gen);',
    '  gen = Atomics.load(ctrl, 0);',
    `  if (Atomics.load(ctrl, ${QUIT})) break;`,
    '  for (;;) {',
    `    const v = Atomics.add(ctrl, ${NEXT}, 1);`,
    `    const c = Atomics.load(ctrl, ${COUNT});`,
    '    if (v >>> 10 !== c >>> 10 || (v & 1023) >= (c & 1023)) break;',
    '    const i = v & 1023;',
    `    const d = new Int32Array(memory.buffer, ${TASKS_AT} + 8 * i, 2);`,
    `    try { runTask(k, memory.buffer, 0, d[0], d[1], 1); } catch (e) { Atomics.store(ctrl, ${FAILED}, 1); }`,
    `    Atomics.add(ctrl, ${HELPED}, 1);`,
    `    Atomics.add(ctrl, ${DONE}, 1);`,
    `    Atomics.notify(ctrl, ${DONE});`,
    '  }',
    '}',
  ].join('\n');
}

/** Byte offsets of one prime's NTT tables (roots, their quotients, inverse roots, theirs). */
export interface TableOffsets {
  roots: number;
  rootQuots: number;
  invRoots: number;
  invRootQuots: number;
}

export interface PrimeFacts {
  q: bigint;
  /** Below 2^26 (the double-precision functions). */
  small: boolean;
  /** 2^50 or more (the special prime only: Shoup's products, kernels/keyswitch.wat). */
  huge: boolean;
  /** From 2^26 to below 2^48, with a fused multiply-add: the NTTs in doubles (same tables as kind 0). */
  fma: boolean;
  /** n^-1 mod q, and q_special^-1 mod q (data primes). */
  nInv: bigint;
  specialInverse: bigint;
}

/**
 * The shared memory, the second instance of the kernel on it, and the helper thread. Created by
 * `KeySwitchKernel` when asked for two threads; `switchKey` is its whole use.
 */
export class SharedKeySwitch {
  private readonly memory: { buffer: SharedArrayBuffer };
  private readonly kernel: TaskKernel;
  private readonly worker: Worker;
  private workerGone: string | null = null;
  /** The first error of a task in this thread. */
  private taskError: string | null = null;
  private gen = 0;
  private readonly limb: number;
  private readonly layout: { keys: number; c1Ntt: number; c1Coeff: number; prod: number; out: number; tmp: number };
  /** Which keys each slot holds: the SEAL key object (identity, never reused across key sets) and its index. */
  private readonly slots: { keys: object; index: number }[] = [];
  private nextSlot = 0;

  constructor(
    private readonly N: number,
    private readonly primes: PrimeFacts[],
    private readonly slotCount: number,
    /** Writes the NTT tables of prime p into `words`/`doubles` (views of the shared memory) at word offset `at`. */
    writeTables: (words: BigUint64Array, doubles: Float64Array, at: number) => TableOffsets[],
  ) {
    const K = primes.length;
    const D = K - 1;
    this.limb = N * 8;
    const limbs = 4 * K + slotCount * D * 2 * K + D + D + 2 * K + 2 * D + 2;
    const bytes = HEADER_BYTES + limbs * this.limb;
    const pages = Math.ceil(bytes / 65536);
    this.memory = new Wasm.Memory({ initial: pages, maximum: pages, shared: true });
    const tables = HEADER_BYTES;
    const keys = tables + 4 * K * this.limb;
    const c1Ntt = keys + slotCount * D * 2 * K * this.limb;
    const c1Coeff = c1Ntt + D * this.limb;
    const prod = c1Coeff + D * this.limb;
    const out = prod + 2 * K * this.limb;
    const tmp = out + 2 * D * this.limb;
    this.layout = { keys, c1Ntt, c1Coeff, prod, out, tmp };
    const buffer = this.memory.buffer;
    const offsets = writeTables(new BigUint64Array(buffer), new Float64Array(buffer), tables / 8);
    writeTaskHeader(buffer, 0, N, primes, offsets, D, { c1Ntt, c1Coeff, prod, out, tmp, keys: [] });
    const module = new Wasm.Module(Buffer.from(KEYSWITCH_SHARED_WASM_BASE64, 'base64'));
    this.kernel = new Wasm.Instance(module, { env: { memory: this.memory } }).exports as unknown as TaskKernel;
    this.worker = new Worker(helperSource(), { eval: true, workerData: { memory: this.memory, module } });
    this.worker.unref();
    this.worker.on('error', (err: Error) => {
      this.workerGone = err.message;
    });
    this.worker.on('exit', (code: number) => {
      this.workerGone ??= `the helper thread exited (${code})`;
    });
  }

  /** Bytes of the shared memory (tables, key slots, buffers): fixed once made. */
  get bytes(): number {
    return this.memory.buffer.byteLength;
  }

  /** Tasks the helper thread has run so far. */
  get helperTasks(): number {
    return Atomics.load(new Int32Array(this.memory.buffer, 0, 64), HELPED);
  }

  /** Why the helper thread is gone, or null. */
  get helperProblem(): string | null {
    return this.workerGone;
  }

  /**
   * The key slot holding `index` of `keys` (a SEAL KSwitchKeys), copied in from SEAL's heap on a
   * miss: `allLimbs()` gives the byte offset in `heap` of every decomposition limb's key
   * ciphertext (2 × K limbs each), all K − 1 of them, whatever the level of the key switch that
   * asks: a slot serves every later level (a slot filled at a low level with only that level's
   * limbs gave a wrong key switch at a higher one).
   */
  slotFor(keys: object, index: number, heap: Uint8Array, allLimbs: () => readonly number[]): number {
    const found = this.slots.findIndex((s) => s.keys === keys && s.index === index);
    if (found >= 0) return found;
    const data = allLimbs();
    if (data.length !== this.primes.length - 1) throw new Error(`a key of ${data.length} limbs, expected ${this.primes.length - 1}`);
    const slot = this.slots.length < this.slotCount ? this.slots.length : this.nextSlot++ % this.slotCount;
    const K = this.primes.length;
    const bytes = 2 * K * this.limb;
    const shared = new Uint8Array(this.memory.buffer);
    const base = this.layout.keys + slot * (K - 1) * bytes;
    data.forEach((at, j) => shared.set(heap.subarray(at, at + bytes), base + j * bytes));
    this.slots[slot] = { keys, index };
    return slot;
  }

  /**
   * SEAL's switch_key_inplace on two threads: `target` (D limbs, NTT form) and the ciphertext's
   * two polynomials (`c0`, `c1`: D limbs each) are byte offsets in `heap` (SEAL's memory); the
   * result is added into c0 and c1 there.
   */
  switchKey(heap: () => Uint8Array, target: number, c0: number, c1: number, D: number, slot: number): void {
    const { limb, layout } = this;
    const K = this.primes.length;
    const slotBase = layout.keys + slot * (K - 1) * 2 * K * limb;
    writeTaskHeader(this.memory.buffer, 0, this.N, this.primes, null, D, { ...layout, keys: Array.from({ length: D }, (_, j) => slotBase + j * 2 * K * limb) });
    const shared = new Uint8Array(this.memory.buffer);
    const bytes = D * limb;
    let h = heap();
    shared.set(h.subarray(target, target + bytes), layout.c1Ntt);
    shared.set(h.subarray(c0, c0 + bytes), layout.out);
    shared.set(h.subarray(c1, c1 + bytes), layout.out + bytes);
    this.runPhases(phases(D), 'key-switching');
    h = heap();
    h.set(shared.subarray(layout.out, layout.out + bytes), c0);
    h.set(shared.subarray(layout.out + bytes, layout.out + 2 * bytes), c1);
  }

  /**
   * SEAL's rescale (divide and round by the last data prime) on two threads, one component each:
   * the ciphertext's two polynomials (D limbs each, at `data` in `heap`) are copied in, and their
   * first D − 1 limbs back; SEAL's mod_switch_to_next then drops the last (KeySwitchKernel.rescale).
   * Nothing in `heap` changes unless both tasks succeed.
   */
  rescale(heap: () => Uint8Array, data: number, D: number, facts: readonly RescaleFacts[]): void {
    const { limb, layout } = this;
    writeTaskHeader(this.memory.buffer, 0, this.N, this.primes, null, D, { ...layout, keys: [] });
    writeRescaleFacts(this.memory.buffer, 0, D, facts);
    const shared = new Uint8Array(this.memory.buffer);
    let h = heap();
    shared.set(h.subarray(data, data + 2 * D * limb), layout.out);
    this.runPhases([RESCALE_TASKS], 'rescaling');
    h = heap();
    const kept = (D - 1) * limb;
    h.set(shared.subarray(layout.out, layout.out + kept), data);
    h.set(shared.subarray(layout.out + D * limb, layout.out + D * limb + kept), data + D * limb);
    this.rescales++;
  }

  /** Rescales run on this unit so far. */
  rescales = 0;

  /** Runs the phases in order; throws if any task failed, in either thread. */
  private runPhases(all: readonly (readonly (readonly [number, number])[])[], what: string): void {
    const ctrl = new Int32Array(this.memory.buffer, 0, 64);
    Atomics.store(ctrl, FAILED, 0);
    for (const tasks of all) this.phase(ctrl, tasks);
    if (Atomics.load(ctrl, FAILED)) throw new Error(`a ${what} task failed${this.taskError ? `: ${this.taskError}` : ' in the helper thread'}`);
  }

  /** Runs one phase: publishes its tasks, takes tasks until none is left, waits for the helper's. */
  private phase(ctrl: Int32Array, tasks: readonly (readonly [number, number])[]): void {
    if (tasks.length > TASKS) throw new Error('too many tasks in one phase');
    const descriptors = new Int32Array(this.memory.buffer, TASKS_AT, 2 * TASKS);
    tasks.forEach(([kind, arg], i) => {
      descriptors[2 * i] = kind;
      descriptors[2 * i + 1] = arg;
    });
    this.gen = (this.gen + 1) & 0xfffff;
    Atomics.store(ctrl, COUNT, (this.gen << 10) | tasks.length);
    Atomics.store(ctrl, DONE, 0);
    Atomics.store(ctrl, NEXT, this.gen << 10);
    Atomics.store(ctrl, GEN, this.gen);
    Atomics.notify(ctrl, GEN);
    for (;;) {
      const i = Atomics.add(ctrl, NEXT, 1) & 1023;
      if (i >= tasks.length) break;
      try {
        runSharedTask(this.kernel, this.memory.buffer, 0, tasks[i]![0], tasks[i]![1], 0);
      } catch (err) {
        this.taskError ??= err instanceof Error ? err.message : String(err);
        Atomics.store(ctrl, FAILED, 1);
      }
      Atomics.add(ctrl, DONE, 1);
    }
    // Only tasks the helper took are left; it finishes them unless it died. Briefly spin first
    // (the helper's last task is usually about to end), then sleep until it notifies.
    for (let spin = 0; spin < 20000 && Atomics.load(ctrl, DONE) < tasks.length; spin++);
    for (;;) {
      const done = Atomics.load(ctrl, DONE);
      if (done >= tasks.length) return;
      if (Atomics.wait(ctrl, DONE, done, 200) === 'timed-out' && this.workerGone) throw new Error(`a key-switching task was lost: ${this.workerGone}`);
    }
  }

  /** Ends the helper thread (for tests: the caller then does every task itself). */
  stopHelper(): Promise<number> {
    return this.worker.terminate();
  }

  dispose(): void {
    const ctrl = new Int32Array(this.memory.buffer, 0, 64);
    Atomics.store(ctrl, QUIT, 1);
    Atomics.add(ctrl, GEN, 1);
    Atomics.notify(ctrl, GEN);
    void this.worker.terminate();
  }
}
