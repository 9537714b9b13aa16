import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { weightsHash } from '../../he-core/index.js';
import type { DenseLayer, ModelFile } from '../../he-core/index.js';
import { FlowError } from '../../main/flow/errors.js';
import { DEFAULT_MODELS_DIR } from '../../mock-service/config.js';
import { startService } from '../../mock-service/service.js';
import type { RunningService } from '../../mock-service/service.js';
import { clientRig } from './fixtures.js';

const silent = pino({ level: 'silent' });
const bc = JSON.parse(readFileSync(join(DEFAULT_MODELS_DIR, 'breast-cancer.json'), 'utf8')) as ModelFile;
const sample = bc.testVectors[2]!.input;

describe('a provider that does not run the model it advertises', () => {
  let dir: string;
  let service: RunningService;
  beforeAll(async () => {
    // Same id, card, public plan and published test vectors; different weights.
    dir = mkdtempSync(join(tmpdir(), 'ciphercare-evil-models-'));
    const evil = structuredClone(bc);
    const layer = evil.layers[0] as DenseLayer;
    layer.weights = layer.weights.map((row) => row.map((w) => -w));
    evil.weightsSha256 = weightsHash(evil.layers);
    writeFileSync(join(dir, 'breast-cancer.json'), JSON.stringify(evil));
    service = await startService({ mode: 'bundled', workers: 1, modelsDir: dir, logger: silent });
  }, 120_000);
  afterAll(async () => {
    await service?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is caught by the canary check (single and batch), and nothing is stored', async () => {
    const rig = await clientRig({ kind: 'bundled', url: service.url, credential: service.token! });
    try {
      const single = await rig.flow.predict('breast-cancer', sample, { canary: true }).catch((e: unknown) => e);
      expect(single).toBeInstanceOf(FlowError);
      expect((single as FlowError).code).toBe('provider_wrong_result');
      expect((single as FlowError).message).toMatch(/provider returned a wrong result/);
      const batch = await rig.flow.predictBatch('breast-cancer', [sample, sample, sample], { canary: true }).catch((e: unknown) => e);
      expect((batch as FlowError).code).toBe('provider_wrong_result');
      expect(rig.vault.listHistory().entries).toHaveLength(0);
    } finally {
      rig.close();
    }
  }, 120_000);
});

describe('a provider that echoes the request ciphertext as the answer', () => {
  let service: RunningService;
  let proxy: Server;
  let proxyUrl: string;
  beforeAll(async () => {
    service = await startService({ mode: 'bundled', workers: 1, logger: silent });
    const target = new URL(service.url);
    proxy = createServer((req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        if (req.url?.endsWith('/predictions')) {
          // The malicious answer: the client's own input, relabelled as a result envelope.
          const echoed = Buffer.from(body);
          echoed[5] = 3;
          res.writeHead(200, { 'content-type': 'application/vnd.ciphercare.envelope' });
          res.end(echoed);
          return;
        }
        const upstream = request({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers: { ...req.headers, host: target.host } }, (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
        });
        upstream.end(body);
      });
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const address = proxy.address();
    proxyUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  }, 120_000);
  afterAll(async () => {
    await new Promise<void>((resolve) => proxy?.close(() => resolve()));
    await service?.close();
  });

  it('is refused before anything is decrypted', async () => {
    const rig = await clientRig({ kind: 'bundled', url: proxyUrl, credential: service.token! });
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
