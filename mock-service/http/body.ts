import type { IncomingMessage } from 'node:http';
import { ServiceError } from '../pool/errors.js';

/**
 * Reads a request body up to `limit` bytes. A declared Content-Length above the limit is refused
 * before a byte is read; an undeclared body is refused as soon as it passes the limit.
 */
export async function readBody(req: IncomingMessage, limit: number): Promise<Uint8Array> {
  const declared = req.headers['content-length'];
  if (declared !== undefined) {
    const length = Number(declared);
    if (!Number.isSafeInteger(length) || length < 0) throw new ServiceError('bad_request', 400, 'Content-Length is not a valid length');
    if (length > limit) throw new ServiceError('payload_too_large', 413, `the body declares ${length} bytes; the limit for this request is ${limit}`);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > limit) throw new ServiceError('payload_too_large', 413, `the body exceeds the limit of ${limit} bytes for this request`);
    chunks.push(chunk);
  }
  const body = Buffer.concat(chunks, total);
  return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
}
