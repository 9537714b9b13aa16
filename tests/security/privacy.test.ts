import { readFileSync, readdirSync } from 'node:fs';
import { createServer, request } from 'node:http';
import type { Server } from 'node:http';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HeContext, loadSeal } from '../../he-core/index.js';
import { ClientKeyPair } from '../../he-core/client/index.js';
import { startService } from '../../mock-service/service.js';
import type { RunningService } from '../../mock-service/service.js';
import { clientRig } from '../client/fixtures.js';
import type { ClientRig } from '../client/fixtures.js';
import { loadBundledModel } from '../encrypted/harness.js';

// Everything the client sends in a full flow (catalog, sessions, predictions, batch) is captured
// by a proxy; no serialisation of a secret key, no input value and no decrypted result may appear
// in it, nor in the service's logs, nor in clear in the vault file.

function float64Bytes(v: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeDoubleLE(v);
  return b;
}

/** Distinctive text forms of a number (short ones like "1" would match anywhere). */
function textForms(v: number): string[] {
  return [String(v), v.toFixed(3), v.toFixed(4)].filter((t) => t.replace(/[^0-9]/g, '').length >= 5);
}

describe('nothing private leaves the client', () => {
  let service: RunningService;
  let proxy: Server;
  let rig: ClientRig;
  const sent: Buffer[] = [];
  const logs: string[] = [];
  beforeAll(async () => {
    const logStream = new Writable({
      write(chunk: Buffer, _enc, done) {
        logs.push(chunk.toString());
        done();
      },
    });
    service = await startService({ mode: 'bundled', workers: 1, logger: pino({ level: 'info' }, logStream) });
    const target = new URL(service.url);
    proxy = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        sent.push(Buffer.from(`${req.method} ${req.url}\n${JSON.stringify(req.headers)}\n`), body);
        const upstream = request({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers: { ...req.headers, host: target.host } }, (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
        });
        upstream.end(body);
      });
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const address = proxy.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    // The proxy forwards the Host header of the service, so the service accepts the requests.
    rig = await clientRig({ kind: 'bundled', url: `http://127.0.0.1:${port}`, credential: service.token! });
  }, 120_000);
  afterAll(async () => {
    rig?.close();
    await new Promise<void>((resolve) => proxy?.close(() => resolve()));
    await service?.close();
  });

  it('captures a full flow for every model and finds no secret, input or result in it', async () => {
    const inputs: number[][] = [];
    const results: number[][] = [];
    for (const id of ['breast-cancer', 'breast-cancer-mlp', 'diabetes-progression', 'mnist-cnn']) {
      const model = loadBundledModel(id);
      const x = model.testVectors[3]!.input;
      const single = await rig.flow.predict(id, x, { canary: true });
      inputs.push(x);
      results.push(single.values);
      if (model.input.kind === 'features') {
        const batch = await rig.flow.predictBatch(id, [model.testVectors[1]!.input, model.testVectors[2]!.input], { canary: true });
        inputs.push(model.testVectors[1]!.input, model.testVectors[2]!.input);
        for (const r of batch.rows) results.push(r.values!);
      }
    }
    const wire = Buffer.concat(sent);
    const logText = logs.join('');
    expect(wire.length).toBeGreaterThan(1_000_000);

    // Secret keys: every 48-byte window of each stored key's payload, compressed and uncompressed.
    const rt = await loadSeal();
    const models = await rig.flow.models();
    const fingerprints = new Map(models.flatMap((m) => [m.plans.single.params, m.plans.batch.params]).map((p) => [p.fingerprint, p]));
    let keysChecked = 0;
    for (const [fp, params] of fingerprints) {
      const stored = rig.vault.currentSecretKey(fp);
      if (!stored) continue;
      const ctx = HeContext.create(rt, params);
      const pair = ClientKeyPair.fromSecretKeyBytes(ctx, stored.bytes);
      const forms = [Buffer.from(stored.bytes)];
      pair.dispose();
      ctx.dispose();
      for (const form of forms) {
        for (let at = 64; at + 48 <= form.length; at += 4096) {
          const window = form.subarray(at, at + 48);
          expect(wire.includes(window), `secret key ${fp.slice(0, 8)} bytes at ${at} on the wire`).toBe(false);
        }
      }
      keysChecked++;
    }
    expect(keysChecked).toBeGreaterThanOrEqual(3);

    // Inputs and results: as text and as float64.
    const values = [...inputs.flat().filter((v) => v !== 0 && !Number.isInteger(v)), ...results.flat().filter((v) => v !== 0 && v !== 1)];
    for (const v of values) {
      expect(wire.includes(float64Bytes(v)), `float64 ${v} on the wire`).toBe(false);
      for (const t of textForms(v)) {
        expect(wire.includes(Buffer.from(t)), `"${t}" on the wire`).toBe(false);
        expect(logText.includes(t), `"${t}" in the service log`).toBe(false);
      }
    }
    expect(logText).not.toContain(service.token!);

    // The vault file and its WAL hold none of them in clear.
    const files = readdirSync(rig.dir).filter((f) => f.startsWith('vault.sqlite'));
    const disk = Buffer.concat(files.map((f) => readFileSync(join(rig.dir, f))));
    for (const v of values) for (const t of textForms(v)) expect(disk.includes(Buffer.from(t)), `"${t}" in the vault file`).toBe(false);
  }, 300_000);
});
