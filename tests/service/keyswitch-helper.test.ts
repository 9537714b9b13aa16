// The key-switching kernel's helper thread in the service (he-core/evaluator/keyswitch-threads.ts):
// a worker borrows the second core only while it is the only busy worker of a pool of two or more.
// Counted by the workers' helper tasks (ciphercare_keyswitch_helper_tasks); every answer is
// compared with the plaintext model (the class, and the logits within the test vectors' tolerance).
import { afterEach, describe, expect, it } from 'vitest';
import { referenceForward } from '../../he-core/index.js';
import type { RunningService } from '../../mock-service/service.js';
import { loadMnist } from '../../scripts/datasets/mnist.js';
import { loadBundledModel } from '../encrypted/harness.js';
import { TestClient, call, catalogOf, startTestService } from './harness.js';

const model = loadBundledModel('mnist-cnn');
const tolerance = Math.max(...model.testVectors.map((tv) => tv.tolerance));
const images = loadMnist().test.x.slice(0, 4);

async function metric(service: RunningService, name: string): Promise<number> {
  const res = await call(service, 'GET', '/v1/metrics');
  const line = Buffer.from(res.body).toString('utf8').split('\n').find((l) => l.startsWith(`${name} `));
  if (!line) throw new Error(`no ${name} in /v1/metrics`);
  return Number(line.split(' ')[1]);
}

const helperTasks = (service: RunningService): Promise<number> => metric(service, 'ciphercare_keyswitch_helper_tasks');
const helperBytes = (service: RunningService): Promise<number> => metric(service, 'ciphercare_keyswitch_helper_bytes');

function expectAgrees(out: Float64Array, image: readonly number[]): void {
  const reference = referenceForward(model, image);
  for (let i = 0; i < reference.length; i++) expect(Math.abs(out[i]! - reference[i]!)).toBeLessThanOrEqual(tolerance);
}

describe('the key-switching helper thread in the service', () => {
  let service: RunningService | undefined;
  afterEach(async () => {
    await service?.close();
    service = undefined;
  });

  it('a lone mnist-cnn request on a pool of two takes the second core; answers agree with the plaintext model', async () => {
    service = await startTestService({ workers: 2 });
    const entry = (await catalogOf(service)).find((m) => m.id === 'mnist-cnn')!;
    const client = new TestClient(service, entry, 'single');
    await client.open();
    expect(await helperTasks(service)).toBe(0);
    expect(await helperBytes(service)).toBe(0);
    for (const image of images.slice(0, 2)) expectAgrees((await client.predict([image]))[0]!, image);
    // 52 rotations and 2 squares, each 3D + 3 tasks or so: the helper took a share of them.
    expect(await helperTasks(service)).toBeGreaterThan(20);
    // Its shared memory is reported (the key accounting does not count it): mnist-cnn's holds
    // the NTT tables, 5 keys of 6 limbs × 2 × 7 primes and the buffers, about 30 MB.
    const bytes = await helperBytes(service);
    expect(bytes).toBeGreaterThan(25e6);
    expect(bytes).toBeLessThan(2 * 40e6);
  }, 120_000);

  it('a pool of one keeps to its core: no helper tasks', async () => {
    service = await startTestService({ workers: 1 });
    const entry = (await catalogOf(service)).find((m) => m.id === 'mnist-cnn')!;
    const client = new TestClient(service, entry, 'single');
    await client.open();
    for (const image of images.slice(0, 2)) expectAgrees((await client.predict([image]))[0]!, image);
    expect(await helperTasks(service)).toBe(0);
    expect(await helperBytes(service)).toBe(0);
  }, 120_000);

  it('two requests at once on a pool of two (the helper in use, or giving way): both answers agree with the plaintext model', async () => {
    service = await startTestService({ workers: 2 });
    const entry = (await catalogOf(service)).find((m) => m.id === 'mnist-cnn')!;
    const clients = [new TestClient(service, entry, 'single'), new TestClient(service, entry, 'single')];
    for (const c of clients) await c.open();
    const answers = await Promise.all(clients.map((c, i) => c.predict([images[i]!])));
    answers.forEach((a, i) => expectAgrees(a[0]!, images[i]!));
  }, 120_000);
});
