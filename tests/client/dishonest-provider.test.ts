// A dishonest provider against the known-answer checks (docs/SECURITY.md, "A dishonest provider"),
// with real HE round trips through a tampering proxy on 127.0.0.1 in front of the real service:
// a tampered model behind an honest, signed catalog; an answer replayed within a session and
// across sessions; the real answer swapped with a check's. Each is refused with
// provider_check_failed, and the history count does not move.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { referenceForward, weightsHash } from '../../he-core/index.js';
import type { DenseLayer, ModelFile } from '../../he-core/index.js';
import { FlowError } from '../../main/flow/errors.js';
import { PredictionFlow } from '../../main/flow/prediction-flow.js';
import { ProviderClient } from '../../main/provider/provider-client.js';
import { DEFAULT_MODELS_DIR } from '../../mock-service/config.js';
import { startService } from '../../mock-service/service.js';
import type { RunningService } from '../../mock-service/service.js';
import { clientRig } from './fixtures.js';
import type { ClientRig } from './fixtures.js';
import { rewritingProxy } from './tampering-proxy.js';

const silent = pino({ level: 'silent' });
const load = (id: string): ModelFile => JSON.parse(readFileSync(join(DEFAULT_MODELS_DIR, `${id}.json`), 'utf8')) as ModelFile;
const bc = load('breast-cancer');
const mnist = load('mnist-cnn');
const patientA = bc.testVectors[0]!.input;
const patientB = bc.testVectors[2]!.input;

/** The model with its dense layer `index` negated, its hash and its test vectors recomputed: a self-consistent catalog entry. */
function negated(model: ModelFile, index: number): ModelFile {
  const evil = structuredClone(model);
  const layer = evil.layers[index] as DenseLayer;
  layer.weights = layer.weights.map((row) => row.map((w) => -w));
  layer.bias = layer.bias.map((b) => -b);
  evil.weightsSha256 = weightsHash(evil.layers);
  evil.testVectors = evil.testVectors.map((tv) => ({ ...tv, expected: Array.from(referenceForward(evil, tv.input)) }));
  return evil;
}

async function refusal(promise: Promise<unknown>): Promise<FlowError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(FlowError);
  return err as FlowError;
}

function expectCheckRefusal(err: FlowError): void {
  expect(err.code).toBe('provider_check_failed');
  // What was checked, what failed, what to do next.
  expect(err.message).toMatch(/the provider's answer was refused: .*check/);
  expect(err.message).toMatch(/did not match|disagree|shifted/);
  expect(err.message).toMatch(/nothing was stored\. Use another provider, and report this one/);
}

const token = randomBytes(32).toString('base64url');

describe('a provider that evaluates tampered weights behind an honest, signed catalog', () => {
  let dir: string;
  let honest: RunningService;
  let evil: RunningService;
  let proxy: { url: string; close(): Promise<void> };
  let rig: ClientRig;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ciphercare-evil-models-'));
    writeFileSync(join(dir, 'breast-cancer.json'), JSON.stringify(negated(bc, 0)));
    writeFileSync(join(dir, 'mnist-cnn.json'), JSON.stringify(negated(mnist, mnist.layers.length - 1)));
    honest = await startService({ mode: 'bundled', workers: 1, token, logger: silent });
    evil = await startService({ mode: 'bundled', workers: 1, token, modelsDir: dir, logger: silent });
    proxy = await rewritingProxy(evil, (_body, forward) => forward(), { catalogFrom: honest });
    // A local service at a URL: not the one this app launched, so checks are on by default.
    rig = await clientRig({ kind: 'bundled', url: proxy.url, credential: token }, 'local');
  }, 180_000);
  afterAll(async () => {
    rig?.close();
    await proxy?.close();
    await evil?.close();
    await honest?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('breast-cancer single (checks inside the ciphertext) and batch (checks in random slots): refused, nothing stored', async () => {
    expectCheckRefusal(await refusal(rig.flow.predict('breast-cancer', patientA)));
    expectCheckRefusal(await refusal(rig.flow.predictBatch('breast-cancer', [patientA, patientB])));
    expect(rig.vault.listHistory().entries).toHaveLength(0);
  }, 120_000);

  it('mnist-cnn single (a separate check request, fresh): refused, nothing stored', async () => {
    const err = await refusal(rig.flow.predict('mnist-cnn', mnist.testVectors[1]!.input, { checks: 1 }));
    expectCheckRefusal(err);
    expect(err.message).toMatch(/1 check request with fresh inputs whose answers this app computed itself/);
    expect(rig.vault.listHistory().entries).toHaveLength(0);
  }, 120_000);
});

describe('a provider that replays or swaps answers', () => {
  let service: RunningService;
  let proxy: { url: string; close(): Promise<void> };
  let rig: ClientRig;
  /** What the proxy does with the next prediction requests. */
  let mode: 'honest' | 'record' | 'replay' | 'swap' = 'honest';
  let recorded: Buffer[] = [];
  let replayAt = 0;
  let held: { forward: () => Promise<Buffer>; resolve: (b: Buffer) => void }[] = [];
  beforeAll(async () => {
    service = await startService({ mode: 'bundled', workers: 1, logger: silent });
    proxy = await rewritingProxy(service, async (_body, forward) => {
      if (mode === 'record') {
        const out = await forward();
        recorded.push(out);
        return out;
      }
      if (mode === 'replay') return recorded[replayAt++ % recorded.length]!;
      if (mode === 'swap') {
        // Holds the first request until the second arrives, then answers each with the other's answer.
        return new Promise<Buffer>((resolve) => {
          held.push({ forward, resolve });
          if (held.length === 2) {
            const [a, b] = held as [(typeof held)[0], (typeof held)[0]];
            held = [];
            void Promise.all([a.forward(), b.forward()]).then(([x, y]) => {
              a.resolve(y);
              b.resolve(x);
            });
          }
        });
      }
      return forward();
    });
    rig = await clientRig({ kind: 'bundled', url: proxy.url, credential: service.token! }, 'local');
  }, 120_000);
  afterAll(async () => {
    rig?.close();
    await proxy?.close();
    await service?.close();
  });

  it('an earlier answer of the same session, given for a new patient: refused, nothing stored', async () => {
    mode = 'record';
    recorded = [];
    const first = await rig.flow.predict('breast-cancer', patientA);
    expect(first.checks).toMatchObject({ source: 'fresh', placement: 'replicas' });
    const before = rig.vault.listHistory().entries.length;
    mode = 'replay';
    replayAt = 0;
    for (let i = 0; i < 3; i++) expectCheckRefusal(await refusal(rig.flow.predict('breast-cancer', patientB)));
    expect(rig.vault.listHistory().entries).toHaveLength(before);
    mode = 'honest';
  }, 120_000);

  it('an answer of an earlier session (another flow, the same vault and keys), replayed: refused, nothing stored', async () => {
    mode = 'record';
    recorded = [];
    await rig.flow.predict('breast-cancer', patientA);
    await rig.flow.predictBatch('breast-cancer', [patientA]);
    const before = rig.vault.listHistory().entries.length;
    // A new app session: a new flow, new provider sessions, the same vault and HE keys.
    const later = new PredictionFlow(rig.vault, rig.keyring, new ProviderClient({ kind: 'bundled', url: proxy.url, credential: service.token! }), 'local');
    mode = 'replay';
    for (let i = 0; i < 3; i++) {
      replayAt = 0;
      expectCheckRefusal(await refusal(later.predict('breast-cancer', i === 0 ? patientB : patientA)));
    }
    replayAt = 1;
    expectCheckRefusal(await refusal(later.predictBatch('breast-cancer', [patientB])));
    expect(rig.vault.listHistory().entries).toHaveLength(before);
    mode = 'honest';
  }, 120_000);

  it('mnist-cnn: the answers of the real request and its check request swapped, or all replayed: refused, nothing stored', async () => {
    const image = mnist.testVectors[0]!.input;
    mode = 'honest';
    await rig.flow.predict('mnist-cnn', image, { checks: 1 });
    const before = rig.vault.listHistory().entries.length;
    mode = 'swap';
    for (let i = 0; i < 2; i++) expectCheckRefusal(await refusal(rig.flow.predict('mnist-cnn', mnist.testVectors[2]!.input, { checks: 1 })));
    // Every answer of an earlier prediction (with 3 checks) replayed in the order received.
    mode = 'record';
    recorded = [];
    await rig.flow.predict('mnist-cnn', image, { checks: 3 });
    const recordedBefore = rig.vault.listHistory().entries.length;
    mode = 'replay';
    replayAt = 0;
    expectCheckRefusal(await refusal(rig.flow.predict('mnist-cnn', mnist.testVectors[2]!.input, { checks: 3 })));
    expect(rig.vault.listHistory().entries).toHaveLength(recordedBefore);
    expect(recordedBefore).toBe(before + 1);
    mode = 'honest';
  }, 180_000);
});
