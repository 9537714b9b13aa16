// A CipherCare client written from docs/protocol.md alone: node-seal and fetch, nothing of the
// project. It fetches the catalog, uploads seeded evaluation keys, encrypts samples, sends them,
// and reads the packed answers. It never logs an input or a result.
//
//   node examples/minimal-client/client.mjs URL TOKEN [MODEL ...]   (runs every test vector)
import SEAL from 'node-seal';

const ENVELOPE = 'application/vnd.ciphercare.envelope';
const KIND = { keys: 1, ciphertexts: 2, results: 3 };

/** A failed call: the problem document's stable code (docs/protocol.md, "Errors"). */
export class ServiceProblem extends Error {
  constructor(status, problem) {
    super(`${status} ${problem.code}: ${problem.detail}`);
    this.status = status;
    this.code = problem.code;
  }
}

async function call(base, token, method, path, body) {
  const init = { method, headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': ENVELOPE } : {}) }, body };
  // The service closes connections idle for 30 s: a call that fails on a reused socket before
  // any answer is sent once more (every call is idempotent). fetch reports it as a TypeError.
  const res = await fetch(base + path, init).catch((err) => (err instanceof TypeError ? fetch(base + path, init) : Promise.reject(err)));
  const type = res.headers.get('content-type') ?? '';
  if (!res.ok) throw new ServiceProblem(res.status, type.startsWith('application/problem+json') ? await res.json() : { code: 'unknown', detail: await res.text() });
  if (res.status === 204) return null;
  return type.startsWith('application/json') ? res.json() : new Uint8Array(await res.arrayBuffer());
}

export async function catalog(base, token) {
  return (await call(base, token, 'GET', '/v1/models')).models;
}

/** SHA-256 (hex) of the canonical JSON of the parameters' four identifying fields, keys sorted. */
export async function parameterFingerprint(p) {
  const canonical = JSON.stringify({ polyModulusDegree: p.polyModulusDegree, primes: p.primes, scheme: p.scheme, securityLevel: p.securityLevel });
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(canonical));
  return Buffer.from(digest).toString('hex');
}

function refuse(why) {
  throw new Error(why);
}

// ---- envelopes -------------------------------------------------------------------------------

function encodeEnvelope(kind, fingerprint, items) {
  const header = 44 + 4 * items.length;
  const out = new Uint8Array(header + items.reduce((a, i) => a + i.length, 0));
  const view = new DataView(out.buffer);
  out.set([0x43, 0x43, 0x48, 0x45, 1, kind], 0); // "CCHE", version 1, kind; reserved u16 0
  out.set(Buffer.from(fingerprint, 'hex'), 8);
  view.setUint32(40, items.length, true);
  let at = header;
  items.forEach((item, i) => {
    view.setUint32(44 + 4 * i, item.length, true);
    out.set(item, at);
    at += item.length;
  });
  return out;
}

function decodeEnvelope(bytes, kind, fingerprint, count, itemBytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fail = (why) => refuse(`not the expected answer envelope: ${why}`);
  if (bytes.length !== 44 + count * (4 + itemBytes)) fail(`${bytes.length} bytes`);
  if (Buffer.from(bytes.subarray(0, 4)).toString('latin1') !== 'CCHE' || bytes[4] !== 1 || bytes[5] !== kind || view.getUint16(6, true) !== 0) fail('header');
  if (Buffer.from(bytes.subarray(8, 40)).toString('hex') !== fingerprint) fail('fingerprint');
  if (view.getUint32(40, true) !== count) fail('count');
  const items = [];
  for (let i = 0; i < count; i++) {
    if (view.getUint32(44 + 4 * i, true) !== itemBytes) fail(`length of item ${i}`);
    const at = 44 + 4 * count + i * itemBytes;
    items.push(bytes.subarray(at, at + itemBytes));
  }
  return items;
}

// ---- SEAL context and keys -------------------------------------------------------------------

function openContext(seal, params, fingerprint) {
  if (params.scheme !== 'ckks' || params.securityLevel !== 128 || params.fingerprint !== fingerprint) throw new Error('the parameters do not match their fingerprint');
  const parms = new seal.EncryptionParameters(seal.SchemeType.ckks);
  const moduli = seal.CoeffModulus.Create(params.polyModulusDegree, Int32Array.from(params.coeffModulusBits));
  try {
    const primes = seal.jsArrayFromVecModulus(moduli).map(String);
    if (primes.join() !== params.primes.join()) throw new Error('SEAL derives other primes from these bit sizes');
    parms.setPolyModulusDegree(params.polyModulusDegree);
    parms.setCoeffModulus(moduli);
    const context = new seal.SEALContext(parms, true, seal.SecLevelType.tc128);
    if (context.parametersSet()) return context;
    context.delete();
    return refuse('SEAL refuses these parameters at 128-bit security');
  } finally {
    parms.delete();
    moduli.delete();
  }
}

// ---- pre-processing and layouts (docs/protocol.md, "Layouts") --------------------------------

function preprocess(model, raw) {
  const { mean, scale } = model.preprocess;
  const perFeature = model.input.kind === 'features';
  const range = (i) => (perFeature ? model.input.features[i] : model.input);
  if (raw.some((x, i) => !(x >= range(i).min && x <= range(i).max))) refuse('an input is outside the range the model accepts');
  return Float64Array.from(raw, (x, i) => (x - mean[perFeature ? i : 0]) / scale[perFeature ? i : 0]);
}

function layOut(plan, zs, slots) {
  const input = plan.input;
  if (input.kind === 'batch') {
    return Array.from({ length: input.features }, (_, f) => Float64Array.from({ length: slots }, (_, s) => (s < zs.length ? zs[s][f] : 0)));
  }
  const z = zs[0];
  const v = new Float64Array(slots);
  if (input.kind === 'vector') {
    for (let j = 0; j < slots; j++) if (j % input.period < input.size) v[j] = z[j % input.period];
    return [v];
  }
  const { channels: C, height: H, width: W, kernel: [kh, kw], stride: [sy, sx], outHeight, outWidth, windowBlock } = input;
  // Slot k · windowBlock + w holds kernel position k = (c·kh + ky)·kw + kx of window w = oy·outWidth + ox.
  for (let k = 0; k < C * kh * kw; k++) {
    const [c, ky, kx] = [Math.floor(k / (kh * kw)), Math.floor(k / kw) % kh, k % kw];
    for (let w = 0; w < outHeight * outWidth; w++) {
      const [oy, ox] = [Math.floor(w / outWidth), w % outWidth];
      v[k * windowBlock + w] = z[c * H * W + (oy * sy + ky) * W + (ox * sx + kx)];
    }
  }
  return [v];
}

// ---- packed answers (docs/protocol.md, "Packed answers") -------------------------------------

/** SEAL 4.1's 16-byte header of an uncompressed object: magic, header size, version 4.1, mode 0, size. */
function sealHeader(view, at, size) {
  [[0, 0x5e], [1, 0xa1], [2, 16], [3, 4], [4, 1]].forEach(([i, b]) => view.setUint8(at + i, b));
  view.setBigUint64(at + 8, BigInt(size), true);
}

/** One packed answer as SEAL's uncompressed serialisation of a coefficient-form, level-0 ciphertext. */
function rebuildAnswer(item, plan, lastParmsId) {
  const N = plan.params.polyModulusDegree;
  const q = BigInt(plan.params.primes[0]);
  const { multiplier, bits } = plan.output.packing;
  const stride = plan.output.packing.c0Stride ?? 1; // c0 may travel at every stride-th coefficient only
  const view = new DataView(item.buffer, item.byteOffset, item.byteLength);
  const expected = [0x43, 0x43, 0x50, 0x52, stride === 1 ? 1 : 2, bits[0], bits[1], Math.log2(stride)];
  if (expected.some((b, i) => item[i] !== b) || view.getUint32(8, true) !== multiplier || view.getUint32(12, true) !== N) throw new Error('not a packed answer of this plan');
  const arrayBytes = 16 + 8 + 16 * N;
  const raw = new Uint8Array(16 + 32 + 41 + arrayBytes);
  const out = new DataView(raw.buffer);
  sealHeader(out, 0, raw.length);
  lastParmsId.forEach((w, i) => out.setBigUint64(16 + 8 * i, w, true));
  out.setUint8(48, 0); // coefficient form
  out.setBigUint64(49, 2n, true);
  out.setBigUint64(57, BigInt(N), true);
  out.setBigUint64(65, 1n, true);
  out.setFloat64(73, plan.output.scale * multiplier, true);
  out.setBigUint64(81, 1n, true);
  sealHeader(out, 89, arrayBytes);
  out.setBigUint64(105, BigInt(2 * N), true);
  let byte = 16;
  bits.map(BigInt).forEach((b, poly) => {
    const step = poly === 0 ? stride : 1; // c0's coefficients between its strides stay 0
    let [acc, held] = [0n, 0n]; // one continuous stream per polynomial, least significant bit first
    for (let i = 0; i < N; i += step) {
      for (; held < b; held += 8n) acc |= BigInt(item[byte++]) << held;
      const value = acc & ((1n << b) - 1n);
      [acc, held] = [acc >> b, held - b];
      const c = (value * q + (1n << (b - 1n))) >> b; // round(value · q0 / 2^b)
      out.setBigUint64(113 + 8 * (poly * N + i), c === q ? 0n : c, true);
    }
  });
  return raw;
}

// ---- one session, many requests ---------------------------------------------------------------

/** Opens a session for a model and mode; `predict` then takes raw samples and returns raw outputs. */
export async function openSession(base, token, model, mode) {
  const plan = model.plans[mode];
  const { params, output } = plan;
  if (plan.planFormat !== 1 && plan.planFormat !== 2) refuse(`this client reads plan formats 1 and 2, the service sent ${plan.planFormat}: update the client`);
  // The answer description (docs/protocol.md, 3.3): a provider may not read more than it promises.
  const { multiplier: K, bits, bound } = output.packing;
  const slots = params.polyModulusDegree / 2;
  const exactUpTo = Number(params.primes[0]) / (2 * output.scale * K);
  if (!(Number.isInteger(K) && K >= 1 && K <= 2 ** 31 && bits.every((b) => Number.isInteger(b) && b >= 1 && b <= Math.min(60, params.coeffModulusBits[0])) && bound > 0 && exactUpTo >= 1.5 * bound * (1 - 1e-12))) refuse('the plan\'s answer description is not usable');
  if (Math.abs(Math.log2(output.scale) - params.scaleBits) > 1 || slots % output.replicas !== 0 || (output.kind === 'batch' ? output.replicas !== 1 : slots / output.replicas < output.size)) refuse('the plan\'s output layout is not usable');
  const stride = output.packing.c0Stride;
  if ((stride !== undefined) !== (plan.planFormat === 2) || (stride !== undefined && !(output.kind === 'slots' && output.replicas > 1 && stride === output.replicas))) refuse('the plan\'s c0 stride is not its replica count');
  const seal = await SEAL();
  const context = openContext(seal, params, await parameterFingerprint(params));
  const owned = [context];
  const own = (o) => (owned.push(o), o);
  try {
    const keygen = own(new seal.KeyGenerator(context));
    const secretKey = own(keygen.secretKey());
    // Seeded objects (the *Serializable ones), compressed with SEAL's zstd, then freed.
    const saveSeeded = (object) => {
      try {
        return object.saveToArray(seal.ComprModeType.zstd);
      } finally {
        object.delete();
      }
    };
    const none = new Uint8Array(0);
    const steps = Int32Array.from(plan.galoisSteps);
    const items = [plan.relinearization ? saveSeeded(keygen.createRelinKeysSerializable()) : none, steps.length ? saveSeeded(keygen.createGaloisKeysSerializableWithSteps(steps)) : none];
    const query = `?model=${encodeURIComponent(model.id)}&mode=${mode}`;
    const session = await call(base, token, 'POST', `/v1/sessions${query}`, encodeEnvelope(KIND.keys, params.fingerprint, items));
    const encoder = own(new seal.CKKSEncoder(context));
    // node-seal's Encryptor wants a public key; encryption itself is symmetric (seeded).
    const encryptor = own(new seal.Encryptor(context, own(keygen.createPublicKey()), secretKey));
    const decryptor = own(new seal.Decryptor(context, secretKey));
    const evaluator = own(new seal.Evaluator(context));
    const lastId = own(context.lastParmsId());
    const lastParmsId = Array.from(lastId.values());
    const itemBytes = 16 + Math.ceil((params.polyModulusDegree / (stride ?? 1)) * bits[0] / 8) + Math.ceil((params.polyModulusDegree * bits[1]) / 8);
    const period = slots / output.replicas;
    // c0 sent at every stride-th coefficient: each slot is read as the mean of its replicas (docs/protocol.md, 7.3).
    const meanOf = (v, j) => Array.from({ length: output.replicas }, (_, r) => v[r * period + j]).reduce((a, x) => a + x, 0) / output.replicas;
    const project = (v, means = Array.from({ length: period }, (_, j) => meanOf(v, j))) => (stride === undefined ? v : v.map((_, i) => means[i % period]));

    async function predict(samples) {
      if (samples.length < 1 || samples.length > plan.samplesPerRequest) refuse(`a request holds 1 to ${plan.samplesPerRequest} samples`);
      const vectors = layOut(plan, samples.map((raw) => preprocess(plan.model, raw)), slots);
      const pt = new seal.Plaintext();
      const cts = [];
      try {
        const sent = vectors.map((v) => {
          encoder.encode(v, plan.input.scale, pt);
          return saveSeeded(encryptor.encryptSymmetricSerializable(pt));
        });
        const body = encodeEnvelope(KIND.ciphertexts, params.fingerprint, sent);
        const answer = await call(base, token, 'POST', `/v1/sessions/${session.sessionId}/predictions`, body);
        const decoded = decodeEnvelope(answer, KIND.results, params.fingerprint, output.count, itemBytes).map((item) => {
          const ct = new seal.Ciphertext();
          cts.push(ct);
          ct.loadFromArray(context, rebuildAnswer(item, plan, lastParmsId));
          evaluator.cipherTransformToNttInplace(ct);
          decryptor.decrypt(ct, pt);
          const slotValues = project(Float64Array.from(encoder.decodeFloat64(pt)));
          if (slotValues.some((x) => !(Math.abs(x) <= bound))) refuse('the answer holds a value beyond the plan\'s bound: refused, not shown');
          return slotValues;
        });
        if (output.kind === 'batch') return samples.map((_, s) => Array.from({ length: output.size }, (_, r) => decoded[r][s]));
        return [Array.from({ length: output.size }, (_, j) => meanOf(decoded[0], j))]; // output j: the mean of slots r · period + j
      } finally {
        pt.delete();
        cts.forEach((ct) => ct.delete());
      }
    }

    async function close() {
      try {
        await call(base, token, 'DELETE', `/v1/sessions/${session.sessionId}`);
      } finally {
        owned.reverse().forEach((o) => o.delete());
      }
    }
    return { plan, session, predict, close };
  } catch (err) {
    owned.reverse().forEach((o) => o.delete());
    throw err;
  }
}

/** Runs a model's test vectors in a mode; returns how many were within their tolerance. */
export async function checkTestVectors(base, token, model, mode) {
  const client = await openSession(base, token, model, mode);
  try {
    const vectors = model.testVectors;
    const rows = mode === 'batch' ? await client.predict(vectors.map((tv) => tv.input)) : [];
    if (mode === 'single') for (const tv of vectors) rows.push((await client.predict([tv.input]))[0]);
    const worst = vectors.map((tv, i) => Math.max(...tv.expected.map((e, j) => Math.abs(rows[i][j] - e) / tv.tolerance)));
    return { total: vectors.length, passed: worst.filter((w) => w <= 1).length, worstRatio: Math.max(...worst) };
  } finally {
    await client.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [base, token, ...ids] = process.argv.slice(2);
  if (!base || !token) refuse('usage: node client.mjs URL TOKEN [MODEL ...]');
  for (const model of await catalog(base, token)) {
    if (ids.length > 0 && !ids.includes(model.id)) continue;
    for (const mode of ['single', 'batch']) {
      const { total, passed } = await checkTestVectors(base, token, model, mode);
      console.log(`${model.id} ${mode}: ${passed} of ${total} test vectors within tolerance`);
      if (passed !== total) process.exitCode = 1;
    }
  }
}
