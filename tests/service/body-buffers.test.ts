// Large request bodies read into pooled shared memory (mock-service/http/body.ts), over real HTTP
// on 127.0.0.1, and the client's sliced upload with its own progress (main/provider).
import { createHash, randomBytes } from 'node:crypto';
import { createServer, request as httpRequest } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { BodyBuffers, readPooledBody } from '../../mock-service/http/body.js';
import type { PooledBody } from '../../mock-service/http/body.js';
import { ServiceError } from '../../mock-service/pool/errors.js';
import { ProviderClient } from '../../main/provider/provider-client.js';
import { EnvelopeKind, encodeEnvelopeParts, joinEnvelope } from '../../he-core/index.js';
import type { TransferProgress } from '../../main/provider/provider-client.js';

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

let server: Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<number> {
  server = createServer(handler);
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', () => resolve()));
  return (server.address() as AddressInfo).port;
}

describe('request bodies in pooled shared memory', () => {
  it('reads a body into shared memory exactly, reuses it for the next request of a size that fits, and not for a much smaller one', async () => {
    const buffers = new BodyBuffers(1 << 20);
    const seen: { hash: string; shared: boolean; bytes: Uint8Array }[] = [];
    const port = await listen((req, res) => {
      readPooledBody(req, 64 << 20, buffers).then(
        (body) => {
          seen.push({ hash: sha(body.bytes), shared: body.bytes.buffer instanceof SharedArrayBuffer, bytes: body.bytes });
          body.release();
          res.end('ok');
        },
        (err: ServiceError) => res.writeHead(err.status).end(err.message),
      );
    });
    const send = (body: Uint8Array): Promise<number> =>
      new Promise((resolve, reject) => {
        const req = httpRequest({ host: '127.0.0.1', port, method: 'POST', path: '/', headers: { 'content-length': body.length } }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.on('error', reject);
        req.end(body);
      });
    const a = randomBytes(5_000_000);
    const b = randomBytes(4_000_000);
    const c = randomBytes(1_500_000);
    const small = randomBytes(1000);
    for (const body of [a, b, c, small]) expect(await send(body)).toBe(200);
    expect(seen.map((s) => s.hash)).toEqual([a, b, c, small].map(sha));
    expect(seen.map((s) => s.shared)).toEqual([true, true, true, false]);
    // b fits a's 5 MB (at most twice its size): the same memory; c (1.5 MB) gets its own.
    expect(seen[1]!.bytes.buffer).toBe(seen[0]!.bytes.buffer);
    expect(seen[2]!.bytes.buffer).not.toBe(seen[0]!.bytes.buffer);
    expect({ reused: buffers.reused, allocated: buffers.allocated }).toEqual({ reused: 1, allocated: 2 });
    expect(buffers.idleBytes).toBe(5_000_000 + 1_500_000);
  });

  it('a body in use is never handed out again; a double release is harmless; the idle bound and the idle time drop memory', async () => {
    const buffers = new BodyBuffers(1000, 10_000, 50);
    const one = buffers.take(4000);
    const two = buffers.take(4000);
    expect(two.bytes.buffer).not.toBe(one.bytes.buffer);
    one.release();
    one.release();
    expect(buffers.idleBytes).toBe(4000);
    const three = buffers.take(3000);
    expect(three.bytes.buffer).toBe(one.bytes.buffer);
    expect(three.bytes.length).toBe(3000);
    // Over the 10 kB bound of idle memory, the oldest go.
    const big = buffers.take(9000);
    two.release();
    three.release();
    big.release();
    expect(buffers.idleBytes).toBeLessThanOrEqual(10_000);
    expect(buffers.idleBytes).toBe(9000);
    await new Promise((r) => setTimeout(r, 150));
    expect(buffers.idleBytes).toBe(0);
  });

  it('refuses a body that ends short of its Content-Length and gives its memory back', async () => {
    const buffers = new BodyBuffers(1000);
    let outcome: Promise<PooledBody> | undefined;
    const port = await listen((req) => {
      outcome = readPooledBody(req, 1 << 20, buffers);
      outcome.catch(() => undefined);
    });
    await new Promise<void>((resolve) => {
      const req = httpRequest({ host: '127.0.0.1', port, method: 'POST', path: '/', headers: { 'content-length': 100_000 } });
      req.on('error', () => resolve());
      req.write(randomBytes(30_000), () => setTimeout(() => req.destroy(), 50));
    });
    const err = await outcome!.then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ServiceError);
    expect((err as ServiceError).code).toBe('bad_request');
    expect(buffers.idleBytes).toBe(100_000);
  });

  it('refuses a declared length over the limit before reading, as readBody does', async () => {
    const buffers = new BodyBuffers(1000);
    let outcome: Promise<PooledBody> | undefined;
    const port = await listen((req, res) => {
      outcome = readPooledBody(req, 50_000, buffers);
      outcome.then(
        () => res.end(),
        (e: ServiceError) => res.writeHead(e.status).end(),
      );
    });
    const status = await new Promise<number>((resolve) => {
      const req = httpRequest({ host: '127.0.0.1', port, method: 'POST', path: '/', headers: { 'content-length': 60_000 } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', () => resolve(-1));
      req.end(randomBytes(60_000));
    });
    expect(status).toBe(413);
    expect(buffers.allocated).toBe(0);
  });
});

describe('the client uploads large bodies in slices', () => {
  it('sends every byte with its length declared, reports upload progress up to the total, and re-sends the body on a retry', async () => {
    let calls = 0;
    const received: { hash: string; length: string | undefined }[] = [];
    const port = await listen((req, res) => {
      calls++;
      if (calls === 1) {
        // A provider restarting: 503 before reading the body; the client retries with the whole body.
        res.writeHead(503, { 'retry-after': '0', 'content-type': 'application/problem+json' }).end(JSON.stringify({ code: 'overloaded', detail: 'busy' }));
        req.resume();
        return;
      }
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push({ hash: sha(Buffer.concat(chunks)), length: req.headers['content-length'] });
        res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(Buffer.from('answer'));
      });
    });
    const client = new ProviderClient({ kind: 'bundled', url: `http://127.0.0.1:${port}`, credential: 't', backoffMs: 1 });
    const body = randomBytes(5_500_000);
    const progress: TransferProgress[] = [];
    const answer = await client.predict('s1', body, { onProgress: (p) => progress.push(p) });
    expect(Buffer.from(answer).toString()).toBe('answer');
    expect(calls).toBe(2);
    expect(received).toEqual([{ hash: sha(body), length: String(body.length) }]);
    const uploads = progress.filter((p) => p.direction === 'upload');
    // 1 MiB slices: at least 6 events per attempt, each within the total, the last of each attempt at it.
    expect(uploads.length).toBeGreaterThanOrEqual(6);
    expect(uploads.every((p) => p.total === body.length && p.loaded > 0 && p.loaded <= body.length)).toBe(true);
    expect(uploads.at(-1)!.loaded).toBe(body.length);
    const lastAttempt = uploads.slice(uploads.findLastIndex((p, i) => i > 0 && p.loaded < uploads[i - 1]!.loaded));
    for (let i = 1; i < lastAttempt.length; i++) expect(lastAttempt[i]!.loaded).toBeGreaterThan(lastAttempt[i - 1]!.loaded);

    // Envelope parts (a batch request's items, sent without joining them): every byte, in order,
    // with and without a listener; progress at most once per MiB and at the total.
    const items = Array.from({ length: 40 }, (_, i) => randomBytes(150_000 + i * 997));
    const parts = encodeEnvelopeParts({ kind: EnvelopeKind.ciphertexts, fingerprint: 'ab'.repeat(32), items });
    const joined = joinEnvelope(parts);
    for (const listen of [true, false]) {
      received.length = 0;
      const events: TransferProgress[] = [];
      await client.predict('s1', parts, listen ? { onProgress: (p) => events.push(p) } : {});
      expect(received).toEqual([{ hash: sha(joined), length: String(joined.length) }]);
      const ups = events.filter((p) => p.direction === 'upload');
      if (listen) {
        expect(ups.at(-1)).toEqual({ direction: 'upload', loaded: joined.length, total: joined.length });
        expect(ups.length).toBeLessThanOrEqual(Math.ceil(joined.length / (1 << 20)) + 1);
        expect(ups.length).toBeGreaterThanOrEqual(5);
      } else expect(ups).toEqual([]);
    }

    // A listener that throws does not fail the upload, sliced or in one piece.
    for (const b of [parts, randomBytes(1000)]) {
      received.length = 0;
      const before = calls;
      await client.predict('s1', b, {
        onProgress: () => {
          throw new Error('listener bug');
        },
      });
      expect(received).toEqual([{ hash: sha(joinEnvelope(b)), length: String(b.byteLength) }]);
      expect(calls).toBe(before + 1);
    }

    // Without a listener, and for a small body with one, the buffer goes in one piece.
    for (const [b, listen] of [
      [randomBytes(3_000_000), false],
      [randomBytes(1000), true],
    ] as const) {
      received.length = 0;
      const events: TransferProgress[] = [];
      await client.predict('s1', b, listen ? { onProgress: (p) => events.push(p) } : {});
      expect(received).toEqual([{ hash: sha(b), length: String(b.length) }]);
      if (listen) expect(events.filter((p) => p.direction === 'upload')).toEqual([{ direction: 'upload', loaded: b.length, total: b.length }]);
    }
  });
});
