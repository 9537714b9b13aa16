import { zstdCompressSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EnvelopeKind, Routes, decodeEnvelope, encodeEnvelope } from '../../he-core/index.js';
import { mulberry32 } from '../../scripts/train/prng.js';
import type { RunningService } from '../../mock-service/service.js';
import { referenceForward } from '../../he-core/index.js';
import { loadBundledModel } from '../encrypted/harness.js';
import { TestClient, call, catalogOf, problemOf, startTestService } from './harness.js';

// Hostile bodies against the session and prediction endpoints: every answer is a 4xx with a
// problem document (a mutated but well-formed ciphertext may also evaluate: 200), never a 5xx,
// and the service keeps answering correctly afterwards.
const ROUNDS = 600;

describe('hostile bodies', () => {
  const model = loadBundledModel('breast-cancer');
  const sample = model.testVectors[0]!.input;
  let service: RunningService;
  let client: TestClient;
  let other: TestClient;
  let sameSize: TestClient;
  beforeAll(async () => {
    service = await startTestService();
    const catalog = await catalogOf(service);
    client = new TestClient(service, catalog.find((m) => m.id === model.id)!, 'single');
    other = new TestClient(service, catalog.find((m) => m.id === 'breast-cancer-mlp')!, 'single');
    await client.open();
    sameSize = new TestClient(service, catalog.find((m) => m.id === 'diabetes-progression')!, 'single');
    await other.open();
    await sameSize.open();
  }, 120_000);
  afterAll(async () => {
    client?.close();
    other?.close();
    sameSize?.close();
    await service?.close();
  });

  async function stillCorrect(): Promise<void> {
    const out = (await client.predict([sample]))[0]!;
    // Tolerance: the model's published test-vector tolerance.
    expect(Math.abs(out[0]! - referenceForward(model, sample)[0]!)).toBeLessThan(model.testVectors[0]!.tolerance);
  }

  function expectRefused(status: number, body: Uint8Array, allowOk = false): void {
    if (allowOk && (status === 200 || status === 201)) return;
    expect(status, Buffer.from(body).toString().slice(0, 200)).toBeGreaterThanOrEqual(400);
    expect(status).toBeLessThan(500);
  }

  it('random, truncated and mutated bodies get 4xx on both endpoints', async () => {
    const rnd = mulberry32(7);
    const valid = client.encrypt([sample]);
    const keys = client.keyEnvelope;
    const statuses = new Map<number, number>();
    for (let i = 0; i < ROUNDS; i++) {
      const kind = i % 3;
      const base = i % 2 === 0 ? valid : keys;
      let body: Uint8Array;
      if (kind === 0) body = Uint8Array.from({ length: Math.floor(rnd() * 4096) }, () => Math.floor(rnd() * 256));
      else if (kind === 1) body = base.slice(0, Math.floor(rnd() * base.length));
      else {
        body = base.slice();
        for (let f = 0; f < 1 + Math.floor(rnd() * 8); f++) body[Math.floor(rnd() * Math.min(body.length, 4096))]! ^= 1 << Math.floor(rnd() * 8);
      }
      const target = i % 2 === 0 ? Routes.predictions(client.sessionId) : `${Routes.sessions}?model=${model.id}&mode=single`;
      const res = await call(service, 'POST', target, body);
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      expectRefused(res.status, res.body, kind === 2);
      if (res.status >= 400) expect(problemOf(res).code).toMatch(/^[a-z_]+$/);
    }
    expect(statuses.get(400) ?? 0).toBeGreaterThan(ROUNDS / 2);
    await stillCorrect();
  }, 300_000);

  it('refuses a declared oversized body before reading it', async () => {
    const res = await call(service, 'POST', Routes.predictions(client.sessionId), new Uint8Array(16), { 'content-length': String(2 ** 31) }).catch(() => null);
    // Either a 413 problem or, if the socket was closed while the client still wrote, no answer at all.
    if (res) {
      expect(res.status).toBe(413);
      expect(problemOf(res).code).toBe('payload_too_large');
    }
    await stillCorrect();
  });

  it('refuses bodies of other parameters, kinds and a compression bomb', async () => {
    // Keys for another parameter set of the same degree (diabetes-progression: N=4096, other primes).
    const wrongKeys = await call(service, 'POST', `${Routes.sessions}?model=${model.id}&mode=single`, sameSize.keyEnvelope);
    expect(wrongKeys.status).toBe(400);
    expect(problemOf(wrongKeys).code).toBe('parameter_mismatch');
    // Keys of a larger parameter set exceed this model's key-size bound: refused before reading.
    const largeKeys = await call(service, 'POST', `${Routes.sessions}?model=${model.id}&mode=single`, other.keyEnvelope).catch(() => null);
    if (largeKeys) expect(largeKeys.status).toBe(413);
    // A ciphertext made under other parameters.
    const foreign = await call(service, 'POST', Routes.predictions(client.sessionId), other.encrypt([sample]));
    expect(foreign.status).toBe(400);
    expect(problemOf(foreign).code).toBe('parameter_mismatch');
    // A results envelope sent as a request.
    const valid = client.encrypt([sample]);
    const env = decodeEnvelope(valid, EnvelopeKind.ciphertexts, { maxCount: 1, maxItemBytes: 2 ** 24, maxTotalBytes: 2 ** 25 });
    const wrongKind = encodeEnvelope({ ...env, kind: EnvelopeKind.results });
    const kindRes = await call(service, 'POST', Routes.predictions(client.sessionId), wrongKind);
    expect(kindRes.status).toBe(400);
    expect(problemOf(kindRes).code).toBe('invalid_envelope');
    // A SEAL header (zstd) around 64 MiB of zeros compressed: refused, not inflated.
    const zeros = zstdCompressSync(Buffer.alloc(64 * 2 ** 20));
    const bomb = new Uint8Array(16 + zeros.length);
    bomb.set([0x5e, 0xa1, 16, 4, 1, 2, 0, 0]);
    new DataView(bomb.buffer).setBigUint64(8, BigInt(bomb.length), true);
    bomb.set(zeros, 16);
    const bombRes = await call(service, 'POST', Routes.predictions(client.sessionId), encodeEnvelope({ ...env, items: [bomb] }));
    expect(bombRes.status).toBe(400);
    expect(problemOf(bombRes).code).toBe('invalid_ciphertext');
    // Wrong content type.
    const text = await call(service, 'POST', Routes.predictions(client.sessionId), valid, { 'content-type': 'text/plain' });
    expect(text.status).toBe(415);
    await stillCorrect();
  }, 120_000);
});
