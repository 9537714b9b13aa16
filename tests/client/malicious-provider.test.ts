import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EnvelopeKind, compile, decodeEnvelope, encodeEnvelope, loadSeal, packedResultBytes } from '../../he-core/index.js';
import type { ModelFile } from '../../he-core/index.js';
import { FlowError } from '../../main/flow/errors.js';
import { ClientModels } from '../../main/flow/checks.js';
import { DEFAULT_MODELS_DIR } from '../../mock-service/config.js';
import { startService } from '../../mock-service/service.js';
import type { RunningService } from '../../mock-service/service.js';
import { clientRig } from './fixtures.js';
import { rewritingProxy } from './tampering-proxy.js';

const silent = pino({ level: 'silent' });
const bc = JSON.parse(readFileSync(join(DEFAULT_MODELS_DIR, 'breast-cancer.json'), 'utf8')) as ModelFile;
const sample = bc.testVectors[2]!.input;

// A provider that evaluates other weights than its catalog's: dishonest-provider.test.ts (behind an
// honest, signed catalog; without the bundled publisher's card, signed-cards.test.ts refuses the catalog).

describe('a provider that echoes the request ciphertext as the answer', () => {
  let service: RunningService;
  let proxy: { url: string; close(): Promise<void> };
  beforeAll(async () => {
    service = await startService({ mode: 'bundled', workers: 1, logger: silent });
    // The malicious answer: the client's own input, relabelled as a result envelope.
    proxy = await rewritingProxy(service, (body) => {
      const echoed = Buffer.from(body);
      echoed[5] = 3;
      return Promise.resolve(echoed);
    });
  }, 120_000);
  afterAll(async () => {
    await proxy?.close();
    await service?.close();
  });

  it('is refused before anything is decrypted', async () => {
    const rig = await clientRig({ kind: 'bundled', url: proxy.url, credential: service.token! });
    try {
      const err = await rig.flow.predict('breast-cancer', sample, { canary: false }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(FlowError);
      expect((err as FlowError).code).toBe('provider_wrong_result');
      // The request is no packed answer: it is refused by its size before anything is read.
      expect((err as FlowError).message).toMatch(/is not this model's answer \(the body is \d+ bytes; the limit is \d+\)/);
      expect(rig.vault.listHistory().entries).toHaveLength(0);
    } finally {
      rig.close();
    }
  }, 120_000);
});

describe('a provider that shifts the answer beyond the model\'s range', () => {
  let service: RunningService;
  let proxy: { url: string; close(): Promise<void> };
  let predictions = 0;
  beforeAll(async () => {
    service = await startService({ mode: 'bundled', workers: 1, logger: silent });
    const { seal } = await loadSeal();
    const plans = (['single', 'batch'] as const).map((mode) => compile(seal, bc, { mode }).public);
    proxy = await rewritingProxy(service, async (_request, forward) => {
      predictions++;
      const envelope = decodeEnvelope(await forward(), EnvelopeKind.results, { maxCount: 1, maxItemBytes: 1 << 20, maxTotalBytes: 1 << 21 });
      const item = Uint8Array.from(envelope.items[0]!);
      // Which plan answered: the packed sizes differ.
      const { output, params } = plans.find((p) => packedResultBytes(p.params.polyModulusDegree, p.output.packing) === item.length)!;
      const { bits, multiplier, bound } = output.packing;
      // Adding a constant to c0's first coefficient adds it to every slot (a constant polynomial):
      // the real answer + 2 × bound, in packed units of c0 (q0 / 2^bits[0]).
      const shift = Math.round((2 * bound * output.scale * multiplier * 2 ** bits[0]) / Number(params.primes[0]));
      const view = new DataView(item.buffer);
      // The first value sits in the low bits of the 32-bit word after the 16-byte header (bits[0] < 32).
      const word = view.getUint32(16, true);
      const value = word % 2 ** bits[0];
      const shifted = (value + shift) % 2 ** bits[0];
      view.setUint32(16, word - value + shifted, true);
      return Buffer.from(encodeEnvelope({ ...envelope, items: [item] }));
    });
  }, 120_000);
  afterAll(async () => {
    await proxy?.close();
    await service?.close();
  });

  it('is refused after decryption, without the value, and nothing is stored', async () => {
    const rig = await clientRig({ kind: 'bundled', url: proxy.url, credential: service.token! });
    try {
      const err = await rig.flow.predict('breast-cancer', sample, { canary: false }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(FlowError);
      expect((err as FlowError).code).toBe('result_out_of_range');
      expect((err as FlowError).message).toMatch(/beyond ±95\.1, the range this model's answers are checked against/);
      expect((err as FlowError).message).toMatch(/the provider altered the answer/);
      expect(rig.vault.listHistory().entries).toHaveLength(0);
    } finally {
      rig.close();
    }
  }, 120_000);

  // What goes on the network must not depend on a decrypted value: every request of a prediction
  // is sent before any answer is checked, whatever the order of the real one and the checks.
  // Checks as separate requests: a client without the model's weights (the card's known answers).
  it('sees every request of a prediction (real and checks; every chunk of a batch) before any answer is refused', async () => {
    const rig = await clientRig({ kind: 'bundled', url: proxy.url, credential: service.token! }, 'bundled', { clientModels: new ClientModels(null) });
    try {
      for (let run = 0; run < 4; run++) {
        predictions = 0;
        const err = await rig.flow.predict('breast-cancer', sample, { canary: true }).catch((e: unknown) => e);
        expect((err as FlowError).code).toBe('result_out_of_range');
        expect(predictions).toBe(2);
      }
      const capacity = (await rig.flow.model('breast-cancer')).plans.batch.samplesPerRequest;
      predictions = 0;
      const err = await rig.flow.predictBatch('breast-cancer', new Array<number[]>(capacity + 1).fill(sample), { canary: false }).catch((e: unknown) => e);
      expect((err as FlowError).code).toBe('result_out_of_range');
      expect(predictions).toBe(2);
      expect(rig.vault.listHistory().entries).toHaveLength(0);
    } finally {
      rig.close();
    }
  }, 120_000);
});
