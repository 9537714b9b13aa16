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
