import { readFileSync, readdirSync } from 'node:fs';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadSeal } from '../../he-core/index.js';
import type { ModelFile } from '../../he-core/index.js';
import { ProviderError } from '../../main/provider/errors.js';
import { DEADLINE_CEILING_MS, DEADLINE_FLOOR_MS, EVALUATION_MS_PER_UNIT, UNKNOWN_EVALUATION_MS, computeDeadlineMs, evaluationCostUnits, predictionDeadlineMs, secondsToDeadlineMs } from '../../main/provider/deadline.js';
import { ProviderClient } from '../../main/provider/provider-client.js';
import { buildCatalog } from '../../mock-service/catalog.js';
import { DEFAULT_MODELS_DIR } from '../../mock-service/config.js';

/** Server evaluation times measured by `npm run bench` (docs/benchmarks.md), ms. */
const MEASURED_EVALUATION_MS: Record<string, { single: number; batch: number }> = {
  'breast-cancer': { single: 5.8, batch: 20.2 },
  'breast-cancer-mlp': { single: 52.9, batch: 135 },
  'diabetes-progression': { single: 5.1, batch: 7.7 },
  'mnist-cnn': { single: 377, batch: 7567 },
};

describe('deadlines scaled from the plan', () => {
  it('give every bundled plan at least 10x its measured evaluation time, on top of the floor and the transfer', async () => {
    const { seal } = await loadSeal();
    const models = readdirSync(DEFAULT_MODELS_DIR).filter((f) => f.endsWith('.json')).map((f) => JSON.parse(readFileSync(join(DEFAULT_MODELS_DIR, f), 'utf8')) as ModelFile);
    const catalog = buildCatalog(seal, models);
    expect(catalog.map((m) => m.id).sort()).toEqual(Object.keys(MEASURED_EVALUATION_MS).sort());
    for (const model of catalog) {
      for (const mode of ['single', 'batch'] as const) {
        const plan = model.plans[mode];
        const allowance = EVALUATION_MS_PER_UNIT * evaluationCostUnits(plan);
        expect(allowance, `${model.id} ${mode}`).toBeGreaterThan(10 * MEASURED_EVALUATION_MS[model.id]![mode]);
        const deadline = predictionDeadlineMs(plan, model.expectedSizes[mode].requestBytes);
        expect(deadline).toBeGreaterThanOrEqual(DEADLINE_FLOOR_MS + allowance);
        expect(deadline).toBeLessThanOrEqual(DEADLINE_CEILING_MS);
        // Growing with the request, never restarting: a bigger request gets more time, once.
        expect(predictionDeadlineMs(plan, 2 * model.expectedSizes[mode].requestBytes)).toBeGreaterThan(deadline);
      }
    }
  });

  it('are bounded: the floor below, one hour above; an unknown plan gets 10 minutes of evaluation', () => {
    expect(computeDeadlineMs({ upBytes: 0, downBytes: 0, evaluationMs: 0 })).toBe(DEADLINE_FLOOR_MS);
    expect(computeDeadlineMs({ upBytes: 2 ** 40, downBytes: 0, evaluationMs: 0 })).toBe(DEADLINE_CEILING_MS);
    expect(predictionDeadlineMs(undefined, 0)).toBe(DEADLINE_FLOOR_MS + UNKNOWN_EVALUATION_MS);
    expect(secondsToDeadlineMs('2.5')).toBe(2500);
    for (const bad of ['', '0', '-1', 'soon', 'NaN', 'Infinity']) expect(secondsToDeadlineMs(bad), bad).toBeUndefined();
  });

  it('the client refuses a deadline that is not a positive number of milliseconds', () => {
    for (const deadlineMs of [0, -5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => new ProviderClient({ kind: 'bundled', url: 'http://127.0.0.1:1', credential: 't', deadlineMs })).toThrow(expect.objectContaining({ code: 'bad_request' }));
    }
  });
});

describe('the deadline covers the whole call', () => {
  let server: Server | undefined;
  const sockets = new Set<Socket>();
  afterEach(async () => {
    for (const socket of sockets) socket.destroy();
    sockets.clear();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server = undefined;
  });

  async function listen(handler: Parameters<typeof createServer>[1]): Promise<string> {
    server = createServer(handler);
    server.on('connection', (socket: Socket) => {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    return `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  }

  async function timed(call: () => Promise<unknown>): Promise<{ error: unknown; ms: number }> {
    const started = performance.now();
    const error = await call().then(() => undefined, (e: unknown) => e);
    return { error, ms: performance.now() - started };
  }

  it('a provider that accepts the connection and never answers', async () => {
    const url = await listen(() => undefined);
    const client = new ProviderClient({ kind: 'bundled', url, credential: 't', deadlineMs: 800 });
    const { error, ms } = await timed(() => client.health());
    expect((error as ProviderError).code).toBe('provider_deadline');
    expect((error as ProviderError).message).toMatch(/did not complete GET \/v1\/health within its deadline of 0\.8 s/);
    expect(ms).toBeGreaterThanOrEqual(750);
    expect(ms).toBeLessThan(800 + 500);
  });

  it('retries of 503s count against the same deadline (a provider asking to come back every 10 s)', async () => {
    let calls = 0;
    const url = await listen((_req, res) => {
      calls++;
      res.writeHead(503, { 'content-type': 'application/problem+json', 'retry-after': '10' });
      res.end(JSON.stringify({ type: 'about:blank', title: 'overloaded', status: 503, detail: 'busy', code: 'overloaded' }));
    });
    const client = new ProviderClient({ kind: 'bundled', url, credential: 't', deadlineMs: 1_000, attempts: 5 });
    const { error, ms } = await timed(() => client.catalog());
    expect(error).toBeInstanceOf(ProviderError);
    expect((error as ProviderError).code).toBe('provider_deadline');
    expect(calls).toBe(1);
    expect(ms).toBeLessThan(1_000 + 500);
  });

  it('a per-call deadline overrides the configured one; cancelling stays `cancelled`', async () => {
    const url = await listen(() => undefined);
    const client = new ProviderClient({ kind: 'bundled', url, credential: 't', deadlineMs: 60_000 });
    const short = await timed(() => client.health({ deadlineMs: 300 }));
    expect((short.error as ProviderError).code).toBe('provider_deadline');
    expect(short.ms).toBeLessThan(300 + 500);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 200);
    const cancelled = await timed(() => client.health({ signal: controller.signal }));
    expect((cancelled.error as ProviderError).code).toBe('cancelled');
  });
});
