import type { IncomingMessage } from 'node:http';
import { ServiceError } from '../pool/errors.js';

/**
 * Reads a request body up to `limit` bytes. A declared Content-Length above the limit is refused
 * before a byte is read; an undeclared body is refused as soon as it passes the limit. The stream
 * is never destroyed here: what follows a refusal is drained (see `lingerAfterRefusal`), so that
 * the client reads its 413 instead of a reset.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Uint8Array> {
  const declared = req.headers['content-length'];
  if (declared !== undefined) {
    const length = Number(declared);
    if (!Number.isSafeInteger(length) || length < 0) return Promise.reject(new ServiceError('bad_request', 400, 'Content-Length is not a valid length'));
    if (length > limit) return Promise.reject(new ServiceError('payload_too_large', 413, `the body declares ${length} bytes; the limit for this request is ${limit}`));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    let refused = false;
    req.on('data', (chunk: Buffer) => {
      if (refused) return;
      total += chunk.length;
      if (total > limit) {
        refused = true;
        chunks.length = 0;
        reject(new ServiceError('payload_too_large', 413, `the body exceeds the limit of ${limit} bytes for this request`));
        return;
      }
      chunks.push(chunk);
    });
    req.once('end', () => {
      if (refused) return;
      const body = Buffer.concat(chunks, total);
      resolve(new Uint8Array(body.buffer, body.byteOffset, body.byteLength));
    });
    req.once('error', (err) => {
      if (!refused) reject(new ServiceError('bad_request', 400, `the request body could not be read: ${err.message}`));
    });
  });
}

/** A request body read into pooled shared memory (`BodyBuffers`); `release` gives the memory back. */
export interface PooledBody {
  bytes: Uint8Array;
  /** Call once nothing reads `bytes` any more (every worker that got it has finished or ended). */
  release(): void;
}

/**
 * Shared memory for large request bodies (a mnist-cnn batch request is 164 MB), reused from one
 * request to the next. A body is read straight into it from the socket, and workers get it
 * without a copy (a SharedArrayBuffer is shared, not cloned, by postMessage). Freshly allocated
 * memory of that size has to be faulted in page by page on every request (about 0.7 s per
 * 164 MB on the benchmark's VMs, twice: the chunks' concatenation, then the shared copy for the
 * workers); kept memory costs nothing. Bodies below `minBytes` are not pooled. At most
 * `maxIdleBytes` wait for reuse, and those idle for `idleMs` are dropped, so a service that saw
 * one large batch does not keep its memory forever.
 */
export class BodyBuffers {
  private idle: { buffer: SharedArrayBuffer; since: number }[] = [];
  private timer: NodeJS.Timeout | null = null;
  /** Bodies served from kept memory / freshly allocated (the service test reads them). */
  reused = 0;
  allocated = 0;

  constructor(
    readonly minBytes = 1 << 20,
    readonly maxIdleBytes = 512 << 20,
    readonly idleMs = 60_000,
  ) {}

  /** Whether a body of `bytes` is read into pooled memory. */
  pools(bytes: number): boolean {
    return bytes >= this.minBytes;
  }

  /** A view of `bytes` bytes of shared memory, kept (the smallest idle buffer that fits, if not over twice the size) or new. */
  take(bytes: number): PooledBody {
    let best = -1;
    for (let i = 0; i < this.idle.length; i++) {
      const size = this.idle[i]!.buffer.byteLength;
      if (size >= bytes && size <= 2 * bytes && (best < 0 || size < this.idle[best]!.buffer.byteLength)) best = i;
    }
    let buffer: SharedArrayBuffer;
    if (best >= 0) {
      buffer = this.idle.splice(best, 1)[0]!.buffer;
      this.reused++;
    } else {
      buffer = new SharedArrayBuffer(bytes);
      this.allocated++;
    }
    let released = false;
    return {
      bytes: new Uint8Array(buffer, 0, bytes),
      release: () => {
        if (released) return;
        released = true;
        this.give(buffer);
      },
    };
  }

  /** Bytes waiting for reuse. */
  get idleBytes(): number {
    return this.idle.reduce((a, b) => a + b.buffer.byteLength, 0);
  }

  private give(buffer: SharedArrayBuffer): void {
    this.idle.push({ buffer, since: Date.now() });
    // Over the bound: the oldest go first.
    while (this.idleBytes > this.maxIdleBytes) this.idle.shift();
    if (!this.timer && this.idle.length > 0) {
      this.timer = setTimeout(() => this.expire(), this.idleMs);
      this.timer.unref();
    }
  }

  private expire(): void {
    this.timer = null;
    const now = Date.now();
    this.idle = this.idle.filter((b) => now - b.since < this.idleMs);
    if (this.idle.length > 0) {
      this.timer = setTimeout(() => this.expire(), this.idleMs);
      this.timer.unref();
    }
  }

  /** Drops every idle buffer (service shutdown). */
  clear(): void {
    this.idle = [];
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}

/**
 * `readBody` into `buffers` when the body declares a length that is pooled (the declared length is
 * checked against `limit` first, and a body that ends short of it is refused); otherwise as
 * `readBody`, with a `release` that does nothing.
 */
export function readPooledBody(req: IncomingMessage, limit: number, buffers: BodyBuffers): Promise<PooledBody> {
  const declared = req.headers['content-length'];
  const length = declared === undefined ? Number.NaN : Number(declared);
  if (!(Number.isSafeInteger(length) && length >= 0 && length <= limit && buffers.pools(length))) {
    return readBody(req, limit).then((bytes) => ({ bytes, release: () => undefined }));
  }
  return new Promise((resolve, reject) => {
    const body = buffers.take(length);
    let total = 0;
    // Settled once: after the body is complete (resolved), a later error or abort must not give
    // its memory back while the caller still uses it.
    let failed = false;
    const fail = (err: ServiceError): void => {
      if (failed) return;
      failed = true;
      body.release();
      reject(err);
    };
    req.on('data', (chunk: Buffer) => {
      if (failed) return;
      // HTTP's framing stops at the declared length; kept as a guard.
      if (total + chunk.length > length) return fail(new ServiceError('bad_request', 400, 'the request body is longer than its Content-Length'));
      body.bytes.set(chunk, total);
      total += chunk.length;
    });
    req.once('end', () => {
      if (failed) return;
      if (total !== length) return fail(new ServiceError('bad_request', 400, `the request body ended after ${total} of the ${length} bytes its Content-Length declares`));
      failed = true;
      resolve(body);
    });
    req.once('error', (err) => fail(new ServiceError('bad_request', 400, `the request body could not be read: ${err.message}`)));
    req.once('aborted', () => fail(new ServiceError('bad_request', 400, 'the client aborted the request body')));
  });
}

/** Most a refused request may still send before its connection is closed, and for how long. */
const LINGER_BYTES = 64 * 2 ** 20;
const LINGER_MS = 10_000;

/**
 * After refusing a request whose body was not read, keep reading (and discarding) what the client
 * is still sending, up to a bound, so that its 413 arrives instead of a connection reset; past the
 * bound, or a declared length beyond it, the connection is closed.
 */
export function lingerAfterRefusal(req: IncomingMessage): void {
  if (req.complete) return;
  const declared = Number(req.headers['content-length'] ?? Number.NaN);
  if (Number.isFinite(declared) && declared > LINGER_BYTES) {
    req.socket.destroySoon();
    return;
  }
  let drained = 0;
  const timer = setTimeout(() => req.socket.destroy(), LINGER_MS);
  timer.unref();
  req.on('data', (chunk: Buffer) => {
    drained += chunk.length;
    if (drained > LINGER_BYTES) req.socket.destroy();
  });
  req.once('end', () => clearTimeout(timer));
  req.once('close', () => clearTimeout(timer));
  req.resume();
}
