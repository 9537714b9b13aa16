import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postprocess, referenceForward } from '../../he-core/index.js';
import { ClientKeyring } from '../../main/flow/client-keys.js';
import { PredictionFlow } from '../../main/flow/prediction-flow.js';
import type { PredictionResult, StageEvent } from '../../main/flow/prediction-flow.js';
import { launchBundledService } from '../../main/provider/bundled-service.js';
import type { BundledService } from '../../main/provider/bundled-service.js';
import { ProviderError } from '../../main/provider/errors.js';
import { ProviderClient } from '../../main/provider/provider-client.js';
import { SCRYPT_FLOOR, Vault } from '../../main/vault/index.js';
import { PASSPHRASE } from '../client/fixtures.js';
import { loadBundledModel } from '../encrypted/harness.js';
import { startServiceChild, waitBusy } from './helpers.js';
import type { Endpoint, ServiceChild } from './helpers.js';

// Faults around a real service process and a real vault: the service SIGKILLed while it evaluates
// a request (not back: a clear error; back at the same address: the client uploads its keys again
// and completes), nothing stored half-way, and a corrupted history row reported on its own.
// mnist-cnn: its evaluation takes about a second, a wide window to kill the service in.
const MODEL = 'mnist-cnn';

describe('faults: the service killed in the middle of a request', () => {
  const model = loadBundledModel(MODEL);
  const inputs = model.testVectors.map((tv) => tv.input);
  const expectedClass = (x: readonly number[]): number | undefined => postprocess(model.postprocess, referenceForward(model, x)).classIndex;
  let dir: string;
  let vault: Vault;
  let keyring: ClientKeyring;
  const services: { stop(): Promise<void> }[] = [];
  /** The service the next test starts from (each test leaves one running). */
  let current: { endpoint: Endpoint; kill(): Promise<void> } | null = null;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ciphercare-faults-'));
    vault = await Vault.create(dir, PASSPHRASE, { kdf: SCRYPT_FLOOR });
    keyring = new ClientKeyring(vault);
  }, 60_000);
  afterAll(async () => {
    keyring?.dispose();
    vault?.close();
    await Promise.all(services.map((s) => s.stop().catch(() => undefined)));
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  function track(service: BundledService): { endpoint: Endpoint; kill(): Promise<void> } {
    services.push(service);
    const child = service.child!;
    return {
      endpoint: { url: service.url, token: service.token },
      async kill() {
        const exited = once(child, 'exit');
        child.kill('SIGKILL');
        await exited;
      },
    };
  }

  function flowFor(endpoint: Endpoint, attempts: number, backoffMs: number): PredictionFlow {
    return new PredictionFlow(vault, keyring, new ProviderClient({ kind: 'bundled', url: endpoint.url, credential: endpoint.token, attempts, backoffMs }), 'bundled');
  }

  /** Starts a prediction and SIGKILLs the service once a worker is evaluating it (before any answer). */
  async function predictAndKill(flow: PredictionFlow, x: readonly number[], target: { endpoint: Endpoint; kill(): Promise<void> }, afterKill?: () => Promise<void>): Promise<{ outcome: Promise<PredictionResult>; stages: StageEvent[] }> {
    const stages: StageEvent[] = [];
    let evaluating!: () => void;
    const evaluateStarted = new Promise<void>((resolve) => (evaluating = resolve));
    const outcome = flow.predict(MODEL, x, {
      onStage: (e) => {
        stages.push(e);
        if (e.stage === 'evaluate' && e.state === 'start') evaluating();
      },
    });
    outcome.catch(() => undefined);
    await evaluateStarted;
    await waitBusy(target.endpoint, 30_000);
    expect(stages.some((e) => e.stage === 'evaluate' && e.state === 'done'), 'the answer came before the kill').toBe(false);
    await target.kill();
    await afterKill?.();
    return { outcome, stages };
  }

  it('not back: the user gets a clear network error and nothing is stored; a new service then works', async () => {
    const a = track(await launchBundledService({ workers: 1 }));
    const flowA = flowFor(a.endpoint, 3, 100);
    const warm = await flowA.predict(MODEL, inputs[0]!);
    expect(warm.classIndex).toBe(expectedClass(inputs[0]!));
    const before = vault.listHistory({ limit: 1000 });
    expect(before.total).toBe(1);

    const started = performance.now();
    const { outcome } = await predictAndKill(flowA, inputs[1]!, a);
    const error = await outcome.then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(ProviderError);
    expect((error as ProviderError).code).toBe('network');
    expect((error as ProviderError).message).toMatch(/cannot reach the provider at http:\/\/127\.0\.0\.1:\d+/);
    const failedAfterMs = performance.now() - started;
    // Nothing of the failed attempt is stored.
    const after = vault.listHistory({ limit: 1000 });
    expect(after.total).toBe(before.total);
    expect(after.entries.map((e) => e.id)).toEqual(before.entries.map((e) => e.id));
    expect(after.unreadable).toEqual([]);

    // A new service (new port and token, as the app gets after relaunching it): same vault and keys, a new flow.
    const b = track(await launchBundledService({ workers: 1 }));
    const flowB = flowFor(b.endpoint, 10, 200);
    const res = await flowB.predict(MODEL, inputs[1]!);
    expect(res.classIndex).toBe(expectedClass(inputs[1]!));
    expect(vault.listHistory({ limit: 1000 }).total).toBe(before.total + 1);
    expect(vault.historyEntry(res.historyId)?.result).toEqual({ values: res.values, classIndex: res.classIndex, label: res.label });
    // One key pair throughout: the failed attempt made no new key version either.
    const fingerprint = (await flowB.model(MODEL)).plans.single.params.fingerprint;
    expect(vault.secretKeyVersions(fingerprint)).toEqual([1]);
    current = b;
    console.log(`fault: service killed mid-request, not restarted: ProviderError network after ${failedAfterMs.toFixed(0)} ms; nothing stored; a new service then answered`);
  }, 150_000);

  it('restarted at the same address: the client uploads its keys again and completes; stored once', async () => {
    const b = current!;
    expect(b).not.toBeNull();
    const flow = flowFor(b.endpoint, 10, 200);
    await flow.predict(MODEL, inputs[2]!);
    const before = vault.listHistory({ limit: 1000 });
    const port = Number(new URL(b.endpoint.url).port);
    let restarted: ServiceChild | undefined;
    const started = performance.now();
    const { outcome, stages } = await predictAndKill(flow, inputs[3]!, b, async () => {
      restarted = await startServiceChild(port, b.endpoint.token, 1);
      services.push(restarted);
    });
    const restartMs = performance.now() - started;
    const res = await outcome;
    const completedMs = performance.now() - started;
    expect(restarted!.url).toBe(b.endpoint.url);
    // The keys went up again after the kill (the restarted service had forgotten them: session_not_found).
    const killAt = stages.findIndex((e) => e.stage === 'evaluate' && e.state === 'start');
    expect(stages.slice(killAt).some((e) => e.stage === 'upload' && e.state === 'done')).toBe(true);
    expect(res.classIndex).toBe(expectedClass(inputs[3]!));
    const after = vault.listHistory({ limit: 1000 });
    expect(after.total).toBe(before.total + 1);
    expect(after.entries.filter((e) => e.id === res.historyId)).toHaveLength(1);
    expect(after.unreadable).toEqual([]);
    current = { endpoint: { url: restarted!.url, token: b.endpoint.token }, kill: () => restarted!.stop() };
    console.log(`fault: service killed mid-request and restarted on port ${port}: up again after ${restartMs.toFixed(0)} ms, prediction completed after ${completedMs.toFixed(0)} ms with a key re-upload; stored once`);
  }, 150_000);

  it('a corrupted history row is reported on its own; the rest works and a new prediction is stored', async () => {
    const service = current!;
    expect(service).not.toBeNull();
    const ids = vault.listHistory({ limit: 1000 }).entries.map((e) => e.id).sort((p, q) => p - q);
    expect(ids.length).toBeGreaterThanOrEqual(4);
    const target = ids[1]!;
    const file = vault.file;
    keyring.dispose();
    vault.close();
    // Flip one byte of that row's sealed result, behind the vault's back.
    const raw = new Database(file);
    try {
      const row = raw.prepare<[number], { result: Buffer }>('SELECT result FROM history WHERE id = ?').get(target)!;
      const flipped = Buffer.from(row.result);
      flipped[20] = flipped[20]! ^ 0x01;
      raw.prepare('UPDATE history SET result = ? WHERE id = ?').run(flipped, target);
    } finally {
      raw.close();
    }
    vault = Vault.open(dir, { kdf: SCRYPT_FLOOR });
    await vault.unlock(PASSPHRASE);
    keyring = new ClientKeyring(vault);
    const page = vault.listHistory({ limit: 1000 });
    expect(page.unreadable).toEqual([{ id: target, code: 'row_tampered', message: expect.stringContaining('result') }]);
    expect(page.entries.map((e) => e.id).sort((p, q) => p - q)).toEqual(ids.filter((id) => id !== target));
    expect(() => vault.historyEntry(target)).toThrow(expect.objectContaining({ code: 'row_tampered' }));
    for (const id of ids.filter((i) => i !== target)) expect(vault.historyEntry(id)?.modelId).toBe(MODEL);

    // The keys (another table) still load, and a new prediction is stored and readable.
    const flow = flowFor(service.endpoint, 10, 200);
    const res = await flow.predict(MODEL, inputs[0]!);
    expect(res.classIndex).toBe(expectedClass(inputs[0]!));
    expect(vault.historyEntry(res.historyId)?.result).toEqual({ values: res.values, classIndex: res.classIndex, label: res.label });
    const final = vault.listHistory({ limit: 1000 });
    expect(final.unreadable.map((u) => u.id)).toEqual([target]);
    expect(final.total).toBe(ids.length + 1);
    expect(vault.secretKeyVersions((await flow.model(MODEL)).plans.single.params.fingerprint)).toEqual([1]);
    console.log(`fault: history row ${target} of ${ids.length} corrupted: reported alone as row_tampered; ${ids.length - 1} others readable; a new prediction stored (id ${res.historyId})`);
  }, 150_000);
});
