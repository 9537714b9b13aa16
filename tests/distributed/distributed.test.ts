import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postprocess, referenceForward } from '../../he-core/index.js';
import type { CatalogModel, ModelFile } from '../../he-core/index.js';
import { ClientKeyring } from '../../main/flow/client-keys.js';
import { PredictionFlow } from '../../main/flow/prediction-flow.js';
import type { StageEvent } from '../../main/flow/prediction-flow.js';
import { ProviderClient } from '../../main/provider/provider-client.js';
import { SCRYPT_FLOOR, Vault } from '../../main/vault/index.js';
import { PASSPHRASE } from '../client/fixtures.js';
import { loadBundledModel } from '../encrypted/harness.js';
import { API_KEY, metricSum, metricValue, startProcess, startRedis } from '../../scripts/distributed/cluster.js';
import type { RedisServer, ServiceProcess } from '../../scripts/distributed/cluster.js';
import { DistributedClient, call, catalogAt, problemOf } from '../../scripts/distributed/client.js';

// The distributed service as a provider runs it, on 127.0.0.1: redis-server (no persistence),
// fronts A and B (the HTTP API, sessions in Redis, jobs on BullMQ queues), a third front C whose
// sessions expire after 2 s, and two worker processes (one evaluation thread each). Every answer is
// decrypted and compared with the plaintext reference; the tolerances are stated where they apply.

const SHORT_TTL_MS = 2_000;

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}

describe('the distributed service: 2 fronts and 2 workers on one Redis', () => {
  let redis: RedisServer;
  let frontA: ServiceProcess;
  let frontB: ServiceProcess;
  let frontC: ServiceProcess;
  const workers: ServiceProcess[] = [];
  let catalog: CatalogModel[];
  const clients = new Map<string, DistributedClient>();
  let replacement: Promise<ServiceProcess> | undefined;

  beforeAll(async () => {
    redis = await startRedis();
    const started = await Promise.allSettled([
      startProcess(redis.url, 'front', { maxQueue: 3 }),
      startProcess(redis.url, 'front', { maxQueue: 3 }),
      startProcess(redis.url, 'front', { sessionTtlMs: SHORT_TTL_MS }),
      startProcess(redis.url, 'worker'),
      startProcess(redis.url, 'worker'),
    ]);
    const failed = started.find((s) => s.status === 'rejected');
    const ok = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    if (failed) {
      await Promise.all(ok.map((p) => p.kill()));
      throw (failed as PromiseRejectedResult).reason;
    }
    [frontA, frontB, frontC] = ok as [ServiceProcess, ServiceProcess, ServiceProcess];
    workers.push(ok[3]!, ok[4]!);
    catalog = await catalogAt(frontA.url);
  }, 300_000);

  afterAll(async () => {
    for (const c of clients.values()) c.close();
    const extra = replacement ? await replacement.catch(() => undefined) : undefined;
    await Promise.all([frontA, frontB, frontC, ...workers, extra].map((p) => p?.stop().catch(() => p.kill())));
    await redis?.stop();
  }, 60_000);

  async function clientFor(id: string): Promise<DistributedClient> {
    let client = clients.get(id);
    if (!client) {
      client = new DistributedClient(catalog.find((m) => m.id === id)!, 'single');
      await client.generate();
      clients.set(id, client);
    }
    return client;
  }

  // The answer through the queue must be the answer of the same evaluation in this process (the
  // same computation: equal within 1e-9) and agree with the model's published test vectors (each
  // within its own tolerance) and with the plaintext reference (the same class).
  for (const [id, vectors] of [['diabetes-progression', 3], ['breast-cancer-mlp', 3], ['mnist-cnn', 1]] as const) {
    it(`same answers: keys uploaded through front A, predictions through front B (${id}, single)`, async () => {
      const model: ModelFile = loadBundledModel(id);
      const client = await clientFor(id);
      const session = await client.upload(frontA.url);
      expect(session.reused).toBe(false);
      for (const tv of model.testVectors.slice(0, vectors)) {
        const body = client.encrypt([tv.input]);
        const res = await client.post(frontB.url, body);
        expect(res.status, Buffer.from(res.body).toString()).toBe(200);
        expect(String(res.headers['server-timing'])).toMatch(/queue;dur=[\d.]+, runs;desc="1"/);
        const remote = client.decrypt(res.body, 1)[0]!;
        const here = client.decrypt(await client.evaluateHere(model, body), 1)[0]!;
        expect(maxDiff(remote, here)).toBeLessThanOrEqual(1e-9);
        expect(maxDiff(remote, tv.expected)).toBeLessThanOrEqual(tv.tolerance);
        if (model.task !== 'regression') {
          expect(postprocess(model.postprocess, remote).classIndex).toBe(postprocess(model.postprocess, referenceForward(model, tv.input)).classIndex);
        }
      }
    }, 120_000);
  }

  it('key affinity: over 20 requests of one session, its keys are loaded once per worker that served it', async () => {
    const model = loadBundledModel('breast-cancer-mlp');
    const client = new DistributedClient(catalog.find((m) => m.id === model.id)!, 'single');
    clients.set('affinity', client);
    await client.generate();
    const before = await Promise.all(workers.map((w) => w.metricsText()));
    await client.upload(frontA.url);
    const tolerance = Math.max(...model.testVectors.map((tv) => tv.tolerance));
    for (let i = 0; i < 20; i++) {
      const tv = model.testVectors[i % model.testVectors.length]!;
      const res = await client.post(i % 2 ? frontA.url : frontB.url, client.encrypt([tv.input]));
      expect(res.status).toBe(200);
      expect(maxDiff(client.decrypt(res.body, 1)[0]!, tv.expected)).toBeLessThanOrEqual(tolerance);
    }
    const after = await Promise.all(workers.map((w) => w.metricsText()));
    let jobs = 0;
    let servedBy = 0;
    for (let w = 0; w < workers.length; w++) {
      const served = metricSum(after[w]!, 'ciphercare_worker_jobs_total') - metricSum(before[w]!, 'ciphercare_worker_jobs_total');
      const loads = metricValue(after[w]!, 'ciphercare_key_loads_total') - metricValue(before[w]!, 'ciphercare_key_loads_total');
      const hits = metricValue(after[w]!, 'ciphercare_key_cache_hits_total') - metricValue(before[w]!, 'ciphercare_key_cache_hits_total');
      jobs += served;
      if (served > 0) servedBy++;
      // Once per worker that served the session (its upload check included), never per request.
      expect(loads).toBe(served > 0 ? 1 : 0);
      expect(hits).toBe(Math.max(0, served - 1));
    }
    // The upload's key check and the 20 predictions.
    expect(jobs).toBe(21);
    expect(servedBy).toBeGreaterThanOrEqual(1);
  }, 120_000);

  it('no lost request: a worker killed with SIGKILL mid-job; the call still answers 200, right, and the job ran twice', async () => {
    const model = loadBundledModel('mnist-cnn');
    const client = await clientFor('mnist-cnn');
    const tv = model.testVectors[1 % model.testVectors.length]!;
    const pending = client.post(frontA.url, client.encrypt([tv.input]));
    // Find the worker running it, then kill that process outright.
    let victim: ServiceProcess | undefined;
    const deadline = Date.now() + 30_000;
    while (!victim && Date.now() < deadline) {
      for (const w of workers) {
        if (metricValue(await w.metricsText(), 'ciphercare_worker_jobs_active') > 0) victim = w;
      }
      if (!victim) await new Promise((r) => setTimeout(r, 20));
    }
    expect(victim, 'no worker started the job within 30 s').toBeDefined();
    await victim!.kill();
    workers.splice(workers.indexOf(victim!), 1);
    const survivor = workers[0]!;
    const res = await pending;
    expect(res.status, Buffer.from(res.body).toString()).toBe(200);
    expect(String(res.headers['server-timing'])).toContain('runs;desc="2"');
    const output = client.decrypt(res.body, 1)[0]!;
    expect(maxDiff(output, tv.expected)).toBeLessThanOrEqual(tv.tolerance);
    expect(postprocess(model.postprocess, output).classIndex).toBe(postprocess(model.postprocess, referenceForward(model, tv.input)).classIndex);
    const text = await survivor.metricsText();
    expect(metricValue(text, 'ciphercare_jobs_rerun_total{role="worker"}')).toBe(1);
    expect(metricValue(text, 'ciphercare_jobs_stalled_total')).toBeGreaterThanOrEqual(1);
    // A new worker joins while the next tests run.
    replacement = startProcess(redis.url, 'worker');
  }, 120_000);

  it('back-pressure: above the global queue depth a front answers 503 overloaded with Retry-After; accepted requests are answered right', async () => {
    const model = loadBundledModel('mnist-cnn');
    const client = await clientFor('mnist-cnn');
    const tv = model.testVectors[0]!;
    const body = client.encrypt([tv.input]);
    const calls: Promise<Awaited<ReturnType<typeof client.post>>>[] = [];
    // Fronts A and B allow 3 waiting jobs in all; mnist-cnn takes most of a second per request.
    for (let i = 0; i < 9; i++) {
      calls.push(client.post(i % 2 ? frontA.url : frontB.url, body));
      await new Promise((r) => setTimeout(r, 60));
    }
    const results = await Promise.all(calls);
    const refused = results.filter((r) => r.status === 503);
    const answered = results.filter((r) => r.status === 200);
    expect(refused.length + answered.length).toBe(results.length);
    expect(refused.length).toBeGreaterThanOrEqual(1);
    expect(answered.length).toBeGreaterThanOrEqual(3);
    for (const r of refused) {
      expect(problemOf(r).code).toBe('overloaded');
      expect(Number(r.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    }
    for (const r of answered) expect(maxDiff(client.decrypt(r.body, 1)[0]!, tv.expected)).toBeLessThanOrEqual(tv.tolerance);
    const text = await frontA.metricsText();
    expect(metricValue(text, 'ciphercare_queue_refused_total') + metricValue(await frontB.metricsText(), 'ciphercare_queue_refused_total')).toBe(refused.length);
  }, 120_000);

  it('expiry: an expired session answers 404 session_not_found, and the real client uploads its keys again and succeeds', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ciphercare-distributed-'));
    const vault = await Vault.create(dir, PASSPHRASE, { kdf: SCRYPT_FLOOR });
    const keyring = new ClientKeyring(vault);
    try {
      const provider = new ProviderClient({ kind: 'bundled', url: frontC.url, credential: API_KEY, attempts: 1 });
      const flow = new PredictionFlow(vault, keyring, provider, frontC.url);
      const model = loadBundledModel('diabetes-progression');
      const x = model.testVectors[0]!.input;
      const reference = postprocess(model.postprocess, referenceForward(model, x)).values[0]!;
      // Regression: within 0.5 target units of the plaintext reference (the shown value is rounded).
      const first = await flow.predict(model.id, x);
      expect(Math.abs(first.values[0]! - reference)).toBeLessThan(0.5);
      expect(first.bytes.keys).toBeGreaterThan(0);
      const notFound = (text: string): number =>
        text.split('\n').filter((l) => l.startsWith('ciphercare_http_requests_total{') && l.includes('status="404"')).reduce((a, l) => a + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
      const notFoundBefore = notFound(await frontC.metricsText());
      await new Promise((r) => setTimeout(r, SHORT_TTL_MS + 600));
      const stages: StageEvent[] = [];
      const second = await flow.predict(model.id, x, { onStage: (e) => stages.push(e) });
      expect(Math.abs(second.values[0]! - reference)).toBeLessThan(0.5);
      // It asked with its old session, got 404 session_not_found, uploaded the keys again and succeeded.
      expect(stages.filter((e) => e.stage === 'upload' && e.state === 'done')).toHaveLength(1);
      expect(second.bytes.keys).toBeGreaterThan(0);
      expect(notFound(await frontC.metricsText()) - notFoundBefore).toBe(1);
    } finally {
      keyring.dispose();
      vault.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it('an expired session id answers 404 session_not_found on every front', async () => {
    const client = await clientFor('diabetes-progression');
    const body = client.encrypt([loadBundledModel('diabetes-progression').testVectors[0]!.input]);
    // Uploaded through front C: its sessions live 2 s without use.
    await client.upload(frontC.url);
    await new Promise((r) => setTimeout(r, SHORT_TTL_MS + 600));
    for (const front of [frontA, frontB, frontC]) {
      const res = await client.post(front.url, body);
      expect(res.status).toBe(404);
      expect(problemOf(res).code).toBe('session_not_found');
    }
    // Uploading again opens it again, and the prediction goes through.
    await client.upload(frontA.url);
    expect((await client.post(frontB.url, body)).status).toBe(200);
    const joined = await replacement!;
    workers.push(joined);
    const health = await call(frontA.url, 'GET', '/v1/health');
    expect(JSON.parse(Buffer.from(health.body).toString()).workers.total).toBe(2);
  }, 120_000);
});
