// Levers measured before and after in the same run, each alone: the server's evaluation of the
// same request with and without one of he-core's WebAssembly kernels, alternating, in this
// process while the service is idle. The two must give the same bytes.
//   'mac':       ScalarMac (batch layers' scalar products, linear layers' diagonal products)
//                against SEAL's multiply_plain + add, the key-switching kernel off both ways;
//   'keyswitch': KeySwitchKernel (rotations, squares with relinearisation, rescales) against
//                SEAL's, the multiply-accumulate kernel on both ways;
//   'threads':   the key switches on two threads (a helper on the second core) against one;
//   'frames':    batch rows after the first framed by a copy of their input (kernelRowSum)
//                against SEAL's multiply_plain of their first term;
//   'zstd':      the request's ciphertexts inflated by zstd contexts kept per thread
//                (he-core/envelope/zstd.ts) against Node's one-shot zstdDecompressSync;
//   'fma':       the key-switching kernel's NTTs with a fused multiply-add (primes from 2^26 to
//                below 2^48) against its 64-bit integer NTTs.
// And one on the client (benchEncryptLever): a request's encryption on two threads against one;
// and the transfer of a large request (benchTransferLever): before, the envelope joined into one
// buffer, sent by axios with its upload-progress stream, read by the service into chunks, joined
// and copied into shared memory for the workers; after, the envelope's parts sent in slices with
// their own progress (ProviderClient) and read straight into the service's kept shared memory
// (readPooledBody). Two more for single predictions: a request finished from an encryption of zero
// the key pair prepared while idle (benchPreparedLever, he-core/client/zeros.ts) against SEAL's
// whole encryption; and an answer packed reading its coefficients in place in SEAL's heap against
// through SEAL's serialisation (benchPackLever). And the parameters' lever (benchSpecialPrimeLever):
// the plan's special prime of at most 48 bits (model version 1.2.0) against the 60-bit one of 1.1.0.
import { EnvelopeKind, HeContext, PlanEvaluator, compile, encodeKeyEnvelope, evaluateEnvelope, free, loadSeal, openCiphertextEnvelope, openKeyEnvelope, referenceForward } from '../../he-core/index.js';
import type { EvaluatorOptions, ModelFile, PlanMode, PublicPlan } from '../../he-core/index.js';
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Ciphertext } from 'node-seal';
import axios from 'axios';
import { ClientKeyPair, decryptResult, decryptVectors, encryptRequest, encryptRequestParallel, encryptRequestPartsParallel, encryptionHelper, layoutRequest } from '../../he-core/client/index.js';
import { FAST_SPECIAL_PRIME_BITS, buildParameters } from '../../he-core/params/select.js';
import { joinEnvelope, packResult } from '../../he-core/index.js';
import { ProviderClient } from '../../main/provider/provider-client.js';
import { BodyBuffers, readBody, readPooledBody } from '../../mock-service/http/body.js';
import { forceZstdFallback, zstdFallback } from '../../he-core/envelope/zstd.js';
import { fill } from './data.js';
import { median } from './stats.js';

export interface LeverResult {
  model: string;
  mode: PlanMode;
  lever: string;
  runs: number;
  /** What is timed: the server's evaluation (envelope in, envelope out) or the client's encryption of the request. */
  measures: 'server evaluation' | 'client encryption' | 'request transfer' | 'answer packing';
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

/**
 * The client's own arithmetic: a request encoded and encrypted on the calling thread
 * (`encryptRequest`, no prepared zero), with SEAL's encoder or with FastEncoder
 * (he-core/evaluator/encoder.ts; `encode`), or with SEAL's Encryptor or SeededEncryptor
 * (he-core/client/fast-encryption.ts; `encrypt`), the other one as by default (ours), alternating,
 * after one warm-up each. Every request of both sides is decrypted and must give back its slot
 * vectors (within 2^-12 at the plan's input scale).
 */
export async function benchClientArithmeticLever(model: ModelFile, mode: PlanMode, rows: readonly number[][], runs: number, which: 'encode' | 'encrypt'): Promise<LeverResult> {
  const rt = await loadSeal();
  const plan = compile(rt.seal, model, { mode });
  const ctx = HeContext.create(rt, plan.public.params);
  const client = ClientKeyPair.generate(ctx);
  try {
    const lever =
      which === 'encode'
        ? 'the request encoded by FastEncoder (he-core/evaluator/encoder.ts: SEAL’s bits, its transform in JavaScript, the kernel’s NTTs) instead of SEAL’s CKKSEncoder'
        : 'the request encrypted by SeededEncryptor (he-core/client/fast-encryption.ts: SEAL expands the seed, noise and products in the kernel) instead of SEAL’s Encryptor';
    const set = (on: boolean): void => {
      if (which === 'encode') client.fastEncoding = on;
      else client.fastEncryption = on;
    };
    const before: number[] = [];
    const after: number[] = [];
    for (let i = 0; i <= runs; i++) {
      const samples = mode === 'single' ? [rows[i % rows.length]!] : fill(rows, plan.public.samplesPerRequest);
      const vectors = layoutRequest(plan.public, samples);
      for (const on of [false, true]) {
        set(on);
        const t = performance.now();
        const request = encryptRequest(client, plan.public, samples);
        const ms = performance.now() - t;
        checkRequestDecrypts(client, plan.public, request, vectors);
        if (i > 0) (on ? after : before).push(ms);
      }
    }
    const used = which === 'encode' ? client.fastEncodings > 0 && !client.encodingProblem : client.fastEncryptions > 0 && !client.encryptionProblem;
    const problem = which === 'encode' ? client.encodingProblem : client.encryptionProblem;
    return { model: model.id, mode, lever: used ? lever : `${lever}: NOT USED (${problem ?? 'not applicable'})`, measures: 'client encryption', runs, beforeMs: median(before), afterMs: median(after), sameBytes: null };
  } finally {
    client.dispose();
    ctx.dispose();
  }
}

/** Decrypts every ciphertext of a request envelope and compares it with its slot vector (2^-12 at the input scale of 2^26 and more). */
function checkRequestDecrypts(client: ClientKeyPair, plan: PublicPlan, request: Uint8Array, vectors: readonly Float64Array[]): void {
  const cts = openCiphertextEnvelope(client.ctx, request, EnvelopeKind.ciphertexts, plan.input);
  try {
    const decrypted = decryptVectors(client, cts);
    decrypted.forEach((got, c) => {
      const want = vectors[c]!;
      for (let i = 0; i < want.length; i++) {
        if (!(Math.abs(got[i]! - want[i]!) <= 2 ** -12)) throw new Error(`the client-arithmetic lever: ${plan.model.id} ciphertext ${c} slot ${i} decrypted to ${got[i]} instead of ${want[i]}`);
      }
    });
  } finally {
    free(...cts);
  }
}

/**
 * The prepared-encryption lever (he-core/client/zeros.ts): one single request encrypted by SEAL
 * in full, then from a zero the key pair prepared beforehand (untimed, as the app prepares it
 * while idle), alternating, after one warm-up each.
 */
export async function benchPreparedLever(model: ModelFile, rows: readonly number[][], runs: number): Promise<LeverResult> {
  const rt = await loadSeal();
  const plan = compile(rt.seal, model, { mode: 'single' });
  const ctx = HeContext.create(rt, plan.public.params);
  const client = ClientKeyPair.generate(ctx);
  try {
    const lever = 'the request finished from an encryption of zero the key pair prepared while idle (PreparedZeros, he-core/client/zeros.ts) instead of encrypting it in full (SeededEncryptor, or SEAL where it cannot serve)';
    const before: number[] = [];
    const after: number[] = [];
    let used = true;
    for (let i = 0; i <= runs; i++) {
      const samples = [rows[i % rows.length]!];
      let t = performance.now();
      encryptRequest(client, plan.public, samples);
      const full = performance.now() - t;
      client.zeros.prepare(plan.public, 1);
      t = performance.now();
      encryptRequest(client, plan.public, samples);
      const prepared = performance.now() - t;
      used &&= client.zeros.count(plan.public) === 0;
      if (i === 0) continue;
      before.push(full);
      after.push(prepared);
    }
    return { model: model.id, mode: 'single', lever: used ? lever : `${lever}: NOT USED (not applicable to these parameters)`, measures: 'client encryption', runs, beforeMs: median(before), afterMs: median(after), sameBytes: null };
  } finally {
    client.dispose();
    ctx.dispose();
  }
}

/**
 * The packing lever: one level-0 answer at the plan's output scale packed (packResult) reading its
 * coefficients through SEAL's serialisation, then in place in SEAL's heap, alternating; the two
 * must give the same bytes.
 */
export async function benchPackLever(model: ModelFile, runs: number): Promise<LeverResult> {
  const rt = await loadSeal();
  const plan = compile(rt.seal, model, { mode: 'single' });
  const ctx = HeContext.create(rt, plan.public.params);
  const client = ClientKeyPair.generate(ctx);
  const out = plan.public.output;
  const pt = new ctx.seal.Plaintext();
  try {
    ctx.encoder.encode(Float64Array.from({ length: ctx.slots }, (_, i) => Math.sin(i)), out.scale, pt);
    const answer = (): Ciphertext => {
      const ct = new ctx.seal.Ciphertext();
      client.encryptor.encryptSymmetric(pt, ct);
      ctx.evaluator.cipherModSwitchToInplace(ct, ctx.parmsId(0));
      return ct;
    };
    const before: number[] = [];
    const after: number[] = [];
    let sameBytes = true;
    for (let i = 0; i <= runs; i++) {
      const a = answer();
      const copy = new ctx.seal.Ciphertext();
      try {
        copy.loadFromArray(ctx.context, a.saveToArray(ctx.seal.ComprModeType.none) as Uint8Array);
        let t = performance.now();
        const serialised = packResult(ctx, a, out.packing, out.scale, { readInPlace: false });
        const slow = performance.now() - t;
        t = performance.now();
        const inPlace = packResult(ctx, copy, out.packing, out.scale);
        const fast = performance.now() - t;
        sameBytes &&= Buffer.from(serialised).equals(Buffer.from(inPlace));
        if (i === 0) continue;
        before.push(slow);
        after.push(fast);
      } finally {
        a.delete();
        copy.delete();
      }
    }
    const lever = 'the answer’s coefficients read in place in SEAL’s heap (packResult) instead of through SEAL’s serialisation';
    return { model: model.id, mode: 'single', lever, measures: 'answer packing', runs, beforeMs: median(before), afterMs: median(after), sameBytes };
  } finally {
    pt.delete();
    client.dispose();
    ctx.dispose();
  }
}

export type Lever = 'mac' | 'keyswitch' | 'threads' | 'frames' | 'zstd' | 'fma';

const LEVERS: Record<Lever, { before: EvaluatorOptions; after: EvaluatorOptions }> = {
  mac: { before: { kernels: false }, after: { keySwitch: false } },
  keyswitch: { before: { keySwitch: false }, after: {} },
  threads: { before: {}, after: { keySwitchThreads: 2 } },
  frames: { before: { rowFrames: false }, after: {} },
  // The same evaluator both ways; only the decompression of the request differs.
  zstd: { before: {}, after: {} },
  fma: { before: { keySwitchFma: false }, after: {} },
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
        if (which === 'zstd') forceZstdFallback(true);
        let a: Uint8Array;
        try {
          a = evaluateEnvelope(withSeal, keys, request);
        } finally {
          if (which === 'zstd') forceZstdFallback(false);
        }
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
      if (which === 'frames') {
        const lever = 'batch rows after the first framed by a copy of their input, the kernel writing every coefficient (kernelRowSum), instead of SEAL’s multiply_plain of their first term';
        return { model: model.id, mode, lever: withKernels.macPath === 'kernel' ? lever : `${lever}: NOT USED (${withKernels.macProblem ?? 'unavailable'})`, measures: 'server evaluation', runs, beforeMs: median(before), afterMs: median(after), sameBytes };
      }
      if (which === 'zstd') {
        const lever = 'the request’s ciphertexts inflated by zstd contexts and buffers kept per thread (he-core/envelope/zstd.ts) instead of Node’s one-shot zstdDecompressSync';
        return { model: model.id, mode, lever: zstdFallback() ? `${lever}: NOT USED (Node’s internals missing)` : lever, measures: 'server evaluation', runs, beforeMs: median(before), afterMs: median(after), sameBytes };
      }
      if (which === 'fma') {
        const lever = 'the key-switching kernel’s NTTs for primes from 2^26 to below 2^48 in doubles with a fused multiply-add (ntt_forward_fma, ntt_inverse_fma) instead of in 64-bit integers';
        const problem = withKernels.keySwitchPath === 'seal' ? 'the key-switching kernel does not apply' : 'the machine’s multiply-add is not fused';
        return { model: model.id, mode, lever: withKernels.keySwitchFma ? lever : `${lever}: NOT USED (${problem})`, measures: 'server evaluation', runs, beforeMs: median(before), afterMs: median(after), sameBytes };
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

/**
 * The parameters' lever: one patient's server evaluation (one thread, as the service under load)
 * with the plan's parameters, whose special prime stops at FAST_SPECIAL_PRIME_BITS (model version
 * 1.2.0, he-core/params/select.ts), against the same data primes under the special prime the
 * rule before chose (the budget's whole rest up to 60 bits; version 1.1.0), alternating, after one warm-up each. Each side has
 * its own key pair, so the answers cannot be compared byte for byte: every answer of both must
 * decrypt within the model's tolerance of the plaintext reference, or the lever throws.
 */
export async function benchSpecialPrimeLever(model: ModelFile, rows: readonly number[][], runs: number): Promise<LeverResult> {
  const rt = await loadSeal();
  const plan = compile(rt.seal, model, { mode: 'single' });
  const p = plan.public.params;
  const special = p.coeffModulusBits[p.coeffModulusBits.length - 1]!;
  // The rule before version 1.2.0: the special prime took the whole rest of the budget, up to 60 bits.
  const dataBits = p.coeffModulusBits.slice(0, -1);
  const oldSpecial = Math.min(60, rt.seal.CoeffModulus.MaxBitCount(p.polyModulusDegree, rt.seal.SecLevelType.tc128) - dataBits.reduce((a, b) => a + b, 0));
  const lever = `a ${special}-bit special prime (the budget's rest, stopped at ${FAST_SPECIAL_PRIME_BITS} bits: key switches on the fused multiply-add NTTs) instead of the ${oldSpecial}-bit one of model version 1.1.0`;
  if (special === oldSpecial) return { model: model.id, mode: 'single', lever: `${lever}: NOT USED (the rule does not change this plan)`, measures: 'server evaluation', runs: 0, beforeMs: Number.NaN, afterMs: Number.NaN, sameBytes: null };
  const oldParams = buildParameters(rt.seal, p.polyModulusDegree, [...dataBits, oldSpecial], p.scaleBits);
  const tolerance = Math.max(...model.testVectors.map((tv) => tv.tolerance));
  type Side = { pl: typeof plan; ctx: HeContext; evaluator?: PlanEvaluator; client?: ClientKeyPair; keys?: ReturnType<typeof openKeyEnvelope>; ms: number[] };
  const sides: Side[] = [];
  try {
    for (const pl of [plan, { ...plan, public: { ...plan.public, params: oldParams } }]) {
      // Pushed first, filled after: whatever was made is freed below if a later step throws.
      const side: Side = { pl, ctx: HeContext.create(rt, pl.public.params), ms: [] };
      sides.push(side);
      side.evaluator = new PlanEvaluator(side.ctx, pl);
      side.client = ClientKeyPair.generate(side.ctx);
      const generated = side.client.createEvaluationKeys(pl.public);
      side.keys = openKeyEnvelope(side.ctx, pl.public, encodeKeyEnvelope(side.ctx.params.fingerprint, generated.relin, generated.galois));
    }
    for (let i = 0; i <= runs; i++) {
      const row = rows[i % rows.length]!;
      const reference = referenceForward(model, row);
      for (const side of [sides[1]!, sides[0]!]) {
        const request = encryptRequest(side.client!, side.pl.public, [row]);
        const t = performance.now();
        const answer = evaluateEnvelope(side.evaluator!, side.keys!, request);
        if (i > 0) side.ms.push(performance.now() - t);
        const out = decryptResult(side.client!, side.pl.public, answer, 1)[0]!;
        const error = Math.max(...reference.map((r, k) => Math.abs(out[k]! - r)));
        if (!(error <= tolerance)) throw new Error(`the special-prime lever: ${model.id} answered ${error} from the plaintext reference with a ${side.ctx.params.coeffModulusBits.at(-1)}-bit special prime (tolerance ${tolerance})`);
      }
    }
    return { model: model.id, mode: 'single', lever, measures: 'server evaluation', runs, beforeMs: median(sides[1]!.ms), afterMs: median(sides[0]!.ms), sameBytes: null };
  } finally {
    for (const side of sides) {
      side.keys?.dispose();
      side.client?.dispose();
      side.evaluator?.dispose();
      side.ctx.dispose();
    }
  }
}

/**
 * The transfer lever, on a real HTTP server on 127.0.0.1 that reads the body as the service did
 * before (`readBody`, then a copy into shared memory as the split batch needed) or as it does now
 * (`readPooledBody` into kept shared memory), with the client as before (the envelope joined,
 * axios with `onUploadProgress`) or as now (`ProviderClient` with envelope parts and a progress
 * listener, as the app sends). The same encrypted request each way; the server checks that it
 * received every byte (a SHA-256 of the joined envelope).
 */
export async function benchTransferLever(model: ModelFile, rows: readonly number[][], runs: number): Promise<LeverResult> {
  const rt = await loadSeal();
  const plan = compile(rt.seal, model, { mode: 'batch' });
  const ctx = HeContext.create(rt, plan.public.params);
  const client = ClientKeyPair.generate(ctx);
  const buffers = new BodyBuffers();
  let pooled = false;
  let received = '';
  const server = createServer((req, res) => {
    const done = (bytes: Uint8Array, release: () => void): void => {
      received = createHash('sha256').update(bytes).digest('hex');
      release();
      res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(Buffer.from('ok'));
    };
    const fail = (err: Error): void => void res.writeHead(500).end(err.message);
    if (pooled) readPooledBody(req, 1 << 30, buffers).then((b) => done(b.bytes, b.release), fail);
    else
      readBody(req, 1 << 30).then((bytes) => {
        const shared = new Uint8Array(new SharedArrayBuffer(bytes.byteLength));
        shared.set(bytes);
        done(shared, () => undefined);
      }, fail);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const provider = new ProviderClient({ kind: 'bundled', url, credential: 'bench' });
  const legacy = axios.create({ baseURL: url, responseType: 'arraybuffer', maxBodyLength: Infinity, maxContentLength: Infinity, proxy: false });
  try {
    const parts = await encryptRequestPartsParallel(client, plan.public, fill(rows, plan.public.samplesPerRequest));
    const expected = createHash('sha256').update(joinEnvelope(parts)).digest('hex');
    const before: number[] = [];
    const after: number[] = [];
    let sameBytes = true;
    for (let i = 0; i <= runs; i++) {
      pooled = false;
      let t = performance.now();
      const joined = joinEnvelope(parts);
      await legacy.post('/v1/sessions/bench/predictions', Buffer.from(joined.buffer, joined.byteOffset, joined.byteLength), { headers: { 'content-type': 'application/octet-stream' }, onUploadProgress: () => undefined, onDownloadProgress: () => undefined });
      const old = performance.now() - t;
      sameBytes &&= received === expected;
      pooled = true;
      t = performance.now();
      await provider.predict('bench', parts, { onProgress: () => undefined });
      const now = performance.now() - t;
      sameBytes &&= received === expected;
      if (i === 0) continue;
      before.push(old);
      after.push(now);
    }
    const lever = 'the request sent as envelope parts in 1 MiB slices and read into kept shared memory (ProviderClient, readPooledBody) instead of joined, sent through axios’s progress stream, read into chunks, joined and copied for the workers';
    return { model: model.id, mode: 'batch', lever, measures: 'request transfer', runs, beforeMs: median(before), afterMs: median(after), sameBytes };
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    buffers.clear();
    client.dispose();
    ctx.dispose();
  }
}
