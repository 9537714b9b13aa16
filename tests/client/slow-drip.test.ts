import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModelFile } from '../../he-core/index.js';
import type { StageEvent } from '../../main/flow/prediction-flow.js';
import { ProviderError } from '../../main/provider/errors.js';
import { DEADLINE_FLOOR_MS, predictionDeadlineMs } from '../../main/provider/deadline.js';
import { DEFAULT_MODELS_DIR } from '../../mock-service/config.js';
import { startService } from '../../mock-service/service.js';
import type { RunningService } from '../../mock-service/service.js';
import { clientRig } from './fixtures.js';
import { slowDripProxy } from './slow-drip-proxy.js';
import type { DripProxy } from './slow-drip-proxy.js';

const silent = pino({ level: 'silent' });
const bc = JSON.parse(readFileSync(join(DEFAULT_MODELS_DIR, 'breast-cancer.json'), 'utf8')) as ModelFile;
const sample = bc.testVectors[2]!.input;

/** How late the refusal may come after the deadline: the abort is a timer, plus an event loop busy with SEAL. */
const MARGIN_MS = 500;

/** Runs a prediction and measures its evaluate stage: from the request's start to the refusal. */
async function timedPredict(rig: Awaited<ReturnType<typeof clientRig>>): Promise<{ error: unknown; evaluateMs: number }> {
  let evaluateStart = 0;
  const onStage = (event: StageEvent): void => {
    if (event.stage === 'evaluate' && event.state === 'start') evaluateStart = performance.now();
  };
  const error = await rig.flow.predict('breast-cancer', sample, { canary: false, onStage }).then(() => undefined, (e: unknown) => e);
  return { error, evaluateMs: performance.now() - evaluateStart };
}

describe('a provider that sends its answer one byte per second', () => {
  let service: RunningService;
  let proxy: DripProxy;
  beforeAll(async () => {
    service = await startService({ mode: 'bundled', workers: 1, logger: silent });
    proxy = await slowDripProxy(service);
  }, 120_000);
  afterAll(async () => {
    await proxy?.close();
    await service?.close();
  });

  it('is cut off at a configured deadline: provider_deadline, socket closed, nothing stored', async () => {
    const deadlineMs = 2_500;
    const rig = await clientRig({ kind: 'bundled', url: proxy.url, credential: service.token!, deadlineMs });
    try {
      const { error, evaluateMs } = await timedPredict(rig);
      expect(error).toBeInstanceOf(ProviderError);
      const err = error as ProviderError;
      expect(err.code).toBe('provider_deadline');
      expect(err.message).toMatch(/did not complete the encrypted prediction within its deadline of 2\.5 s \(waited 2\.\d s\); the request was aborted and nothing was stored/);
      expect(err.message).toMatch(/--deadline SECONDS/);
      expect(err.details?.deadlineMs).toBe(deadlineMs);
      expect(evaluateMs).toBeGreaterThanOrEqual(deadlineMs - 50);
      expect(evaluateMs).toBeLessThan(deadlineMs + MARGIN_MS);
      // Without a deadline the drip would go on for as many seconds as the answer has bytes.
      const last = proxy.dripped.at(-1)!;
      expect(last.bytesSent).toBeLessThan(5);
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(last.closed, 'the client closed the dripping connection').toBe(true);
      expect(rig.vault.listHistory().total).toBe(0);
      console.log(`slow drip: refused after ${Math.round(evaluateMs)} ms (deadline ${deadlineMs} ms, margin ${MARGIN_MS} ms), ${last.bytesSent} bytes of the answer received`);
    } finally {
      rig.close();
    }
  }, 60_000);

  it('is cut off at the deadline computed from the plan (floor lowered for the test)', async () => {
    const minDeadlineMs = 1_000;
    const rig = await clientRig({ kind: 'bundled', url: proxy.url, credential: service.token!, minDeadlineMs });
    try {
      const plan = (await rig.flow.model('breast-cancer')).plans.single;
      const { error, evaluateMs } = await timedPredict(rig);
      const err = error as ProviderError;
      expect(err).toBeInstanceOf(ProviderError);
      expect(err.code).toBe('provider_deadline');
      const expected = err.details!.deadlineMs;
      // What the plan's cost gives: floor + transfer at 256 KiB/s + evaluation allowance, seconds, not minutes.
      // (the request is one seeded ciphertext, tens of kB: between an empty and a 1 MiB request).
      expect(expected).toBeGreaterThan(predictionDeadlineMs(plan, 0, minDeadlineMs));
      expect(expected).toBeLessThan(predictionDeadlineMs(plan, 2 ** 20, minDeadlineMs));
      expect(expected).toBeGreaterThan(minDeadlineMs);
      expect(expected).toBeLessThan(5_000);
      expect(evaluateMs).toBeLessThan(expected + MARGIN_MS);
      expect(rig.vault.listHistory().total).toBe(0);
      console.log(`slow drip, computed deadline: ${expected} ms for breast-cancer single; refused after ${Math.round(evaluateMs)} ms`);
    } finally {
      rig.close();
    }
  }, 60_000);

  it('a normal provider still works under the computed deadline, and the default floor is 30 s', async () => {
    expect(DEADLINE_FLOOR_MS).toBe(30_000);
    const rig = await clientRig({ kind: 'bundled', url: service.url, credential: service.token!, minDeadlineMs: 1_000 });
    try {
      const result = await rig.flow.predict('breast-cancer', sample, { canary: false });
      expect(result.historyId).toBeGreaterThan(0);
      expect(rig.vault.listHistory().total).toBe(1);
    } finally {
      rig.close();
    }
  }, 60_000);
});
