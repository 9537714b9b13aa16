import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HeContext, encodeEnvelope, encodeKeyEnvelope, loadSeal, EnvelopeKind } from '../../he-core/index.js';
import type { CatalogModel } from '../../he-core/index.js';
import type { RunningService } from '../../mock-service/service.js';
import { TestClient, catalogOf, startTestService } from './harness.js';

// The catalog's expectedSizes against real bodies: the response exactly; keys and requests as
// upper estimates that real bodies reach to within 25%, both with Node's native zstd (what the
// app sends) and with SEAL's own zstd (what a plain node-seal client sends).
describe('expectedSizes in the catalog', () => {
  let service: RunningService;
  let models: CatalogModel[];

  beforeAll(async () => {
    service = await startTestService();
    models = await catalogOf(service);
  });
  afterAll(async () => {
    await service?.close();
  });

  const within = (real: number, expected: number): void => {
    expect(real).toBeLessThanOrEqual(expected);
    expect(real).toBeGreaterThanOrEqual(0.75 * expected);
  };

  for (const id of ['breast-cancer', 'breast-cancer-mlp', 'diabetes-progression', 'mnist-cnn']) {
    for (const mode of ['single', 'batch'] as const) {
      it(`${id} (${mode})`, async () => {
        const model = models.find((m) => m.id === id)!;
        const sizes = model.expectedSizes[mode];
        const client = new TestClient(service, model, mode);
        const rt = await loadSeal();
        const ctx = HeContext.create(rt, client.plan.params);
        const { seal } = rt;
        const keygen = new seal.KeyGenerator(ctx.context);
        const secretKey = keygen.secretKey();
        const publicKey = keygen.createPublicKey();
        const encryptor = new seal.Encryptor(ctx.context, publicKey, secretKey);
        const pt = new seal.Plaintext();
        try {
          await client.open();
          const plan = client.plan;
          const keysExpected = plan.relinearization || plan.galoisSteps.length > 0;
          if (keysExpected) within(client.keyEnvelope.length, sizes.evaluationKeyBytes);
          else expect(client.keyEnvelope.length).toBe(sizes.evaluationKeyBytes);

          // The same keys with SEAL's own zstd.
          const relin = plan.relinearization ? keygen.createRelinKeysSerializable() : null;
          const galois = plan.galoisSteps.length > 0 ? keygen.createGaloisKeysSerializableWithSteps(Int32Array.from(plan.galoisSteps)) : null;
          const sealKeys = encodeKeyEnvelope(plan.params.fingerprint, relin?.saveToArray(seal.ComprModeType.zstd) as Uint8Array | undefined ?? null, galois?.saveToArray(seal.ComprModeType.zstd) as Uint8Array | undefined ?? null);
          relin?.delete();
          galois?.delete();
          if (keysExpected) within(sealKeys.length, sizes.evaluationKeyBytes);

          const samples = mode === 'batch' ? model.testVectors.map((tv) => tv.input) : [model.testVectors[0]!.input];
          const request = client.encrypt(samples);
          within(request.length, sizes.requestBytes);
          // SEAL's zstd: every input ciphertext is the same size to within a few bytes; one, counted as many.
          ctx.encoder.encode(new Float64Array(ctx.slots).fill(0.25), plan.input.scale, pt);
          const serializable = encryptor.encryptSymmetricSerializable(pt);
          const one = serializable.saveToArray(seal.ComprModeType.zstd) as Uint8Array;
          serializable.delete();
          const sealRequest = encodeEnvelope({ kind: EnvelopeKind.ciphertexts, fingerprint: plan.params.fingerprint, items: [one] });
          within(sealRequest.length + (plan.input.count - 1) * (4 + one.length), sizes.requestBytes);

          const response = await client.post(request);
          expect(response.status).toBe(200);
          expect(response.body.length).toBe(sizes.responseBytes);
          expect(Number(response.headers['content-length'])).toBe(sizes.responseBytes);
        } finally {
          client.close();
          for (const o of [pt, encryptor, publicKey, secretKey, keygen]) o.delete();
          ctx.dispose();
        }
      }, 600_000); // mnist-cnn batch: 784 ciphertexts, 55 to 115 s measured on 2 busy cores
    }
  }
});
