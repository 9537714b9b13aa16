import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postprocess } from '../../he-core/index.js';
import { startService } from '../../mock-service/service.js';
import type { RunningService } from '../../mock-service/service.js';
import { clientRig } from './fixtures.js';
import type { ClientRig } from './fixtures.js';

// The app prepares the next single prediction's encryptions once an answer is shown
// (PredictionFlow.prepareNext, he-core/client/zeros.ts), and the next prediction uses them: a real
// service on 127.0.0.1, a real vault. Each shown probability is compared with the plaintext model
// on the same input, within 1e-3 (the model's precision of 3 decimals; CKKS's error here is about
// 2e-3 on the logit, 5e-4 on the probability).
const TOLERANCE = 1e-3;

describe('prepared encryptions in the prediction flow (breast-cancer-mlp)', () => {
  let service: RunningService;
  let rig: ClientRig;
  beforeAll(async () => {
    service = await startService({ mode: 'bundled', workers: 1, logger: pino({ level: 'silent' }) });
    rig = await clientRig({ kind: 'bundled', url: service.url, credential: service.token! });
  }, 120_000);
  afterAll(async () => {
    rig?.close();
    await service?.close();
  });

  it('after an answer the key pair holds two prepared zeros; the next prediction uses them, and both answers equal the plaintext model', async () => {
    const model = (await rig.flow.models()).find((m) => m.id === 'breast-cancer-mlp')!;
    const plan = model.plans.single;
    const inputs = model.testVectors.map((v) => v.input);
    // The card's test vectors: the plaintext model's raw outputs, post-processed as the app does.
    const expected = (i: number): number => postprocess(plan.model.postprocess, model.testVectors[i]!.expected).values[0]!;

    const first = await rig.flow.predict(model.id, inputs[0]!);
    expect(first.checks?.placement).toBe('replicas');
    expect(Math.abs(first.values[0]! - expected(0))).toBeLessThan(TOLERANCE);
    await new Promise((resolve) => setImmediate(resolve));
    const { pair } = await rig.keyring.pairFor(plan.params);
    expect(pair.zeros.count(plan)).toBe(2);

    // The next prediction takes one (its checks ride in the same ciphertext's replicas: one
    // request), and the stock is made whole again once it is shown.
    const second = await rig.flow.predict(model.id, inputs[1]!);
    expect(pair.zeros.count(plan)).toBe(1);
    expect(Math.abs(second.values[0]! - expected(1))).toBeLessThan(TOLERANCE);
    await new Promise((resolve) => setImmediate(resolve));
    expect(pair.zeros.count(plan)).toBe(2);
  }, 120_000);
});
