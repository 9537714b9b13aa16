import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CatalogModel, PlanMode } from '../../he-core/index.js';
import type { RunningService } from '../../mock-service/service.js';
import { startTestService } from '../service/harness.js';

// The conformance client (examples/minimal-client/client.mjs) is written from docs/protocol.md
// alone, with node-seal and fetch. It runs here against the real service for every bundled model
// in both modes and must reproduce each test vector within that vector's own tolerance (1e-2 on
// the raw network output, before sigmoid or softmax, for every bundled model): the proof that the
// specification suffices.

const CLIENT = new URL('../../examples/minimal-client/client.mjs', import.meta.url);

interface MinimalClient {
  catalog(base: string, token: string): Promise<CatalogModel[]>;
  parameterFingerprint(params: CatalogModel['plans']['single']['params']): Promise<string>;
  checkTestVectors(base: string, token: string, model: CatalogModel, mode: PlanMode): Promise<{ total: number; passed: number; worstRatio: number }>;
  openSession(base: string, token: string, model: CatalogModel, mode: PlanMode): Promise<{ session: { sessionId: string }; predict(samples: number[][]): Promise<number[][]>; close(): Promise<void> }>;
  ServiceProblem: new (...args: never[]) => Error & { status: number; code: string };
}

const BUNDLED = ['breast-cancer', 'breast-cancer-mlp', 'diabetes-progression', 'mnist-cnn'];

describe('the conformance client', () => {
  const source = readFileSync(CLIENT, 'utf8');

  it('is plain JavaScript under 300 lines that imports node-seal only', () => {
    expect(source.split('\n').length).toBeLessThan(300);
    const imports = [...source.matchAll(/^\s*import\s[^'"]*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/gm)].map((m) => m[1] ?? m[2]);
    expect(imports).toEqual(['node-seal']);
    expect(source).not.toMatch(/require\(/);
  });

  describe('against the real service', () => {
    let service: RunningService;
    let client: MinimalClient;
    let models: CatalogModel[];

    beforeAll(async () => {
      service = await startTestService();
      client = (await import(CLIENT.href)) as MinimalClient;
      models = await client.catalog(service.url, service.token!);
    });
    afterAll(async () => {
      await service?.close();
    });

    it('reads the catalog and recomputes every plan fingerprint', async () => {
      expect(models.map((m) => m.id).sort()).toEqual(BUNDLED);
      for (const model of models) {
        for (const mode of ['single', 'batch'] as const) {
          const params = model.plans[mode].params;
          expect(await client.parameterFingerprint(params)).toBe(params.fingerprint);
        }
      }
    });

    for (const id of BUNDLED) {
      for (const mode of ['single', 'batch'] as const) {
        it(`${id} (${mode}): every test vector within its tolerance`, async () => {
          const model = models.find((m) => m.id === id)!;
          const result = await client.checkTestVectors(service.url, service.token!, model, mode);
          expect(result.total).toBe(model.testVectors.length);
          expect(result.total).toBeGreaterThan(0);
          expect(result.passed).toBe(result.total);
          expect(result.worstRatio).toBeLessThanOrEqual(1);
        }, 600_000); // mnist-cnn batch: 784 ciphertexts up, 10 answers down; 105 to 165 s measured on 2 busy cores
      }
    }

    it('surfaces the problem document of a refusal: an unknown session is 404 session_not_found', async () => {
      const model = models.find((m) => m.id === 'breast-cancer')!;
      const session = await client.openSession(service.url, service.token!, model, 'single');
      const forget = await fetch(`${service.url}/v1/sessions/${session.session.sessionId}`, { method: 'DELETE', headers: { authorization: `Bearer ${service.token}` } });
      expect(forget.status).toBe(204);
      const error = await session.predict([model.testVectors[0]!.input]).then(
        () => null,
        (err: unknown) => err,
      );
      // Closing forgets the session again (404 now) and still frees every SEAL object.
      await expect(session.close()).rejects.toThrow(/session_not_found/);
      expect(error).toBeInstanceOf(client.ServiceProblem);
      expect((error as { status: number; code: string }).status).toBe(404);
      expect((error as { status: number; code: string }).code).toBe('session_not_found');
    });

    it('runs as a command and prints no input or result', async () => {
      // Asynchronously: the service answers from this very process.
      const run = await promisify(execFile)(process.execPath, [fileURLToPath(CLIENT), service.url, service.token!, 'diabetes-progression'], { encoding: 'utf8', timeout: 120_000 });
      expect(run.stderr).toBe('');
      const n = models.find((m) => m.id === 'diabetes-progression')!.testVectors.length;
      expect(run.stdout.trim().split('\n')).toEqual([`diabetes-progression single: ${n} of ${n} test vectors within tolerance`, `diabetes-progression batch: ${n} of ${n} test vectors within tolerance`]);
    });
  });
});
