// Hand-built SEAL objects and zstd frames for the decompression tests (seal-object.test.ts,
// zstd.test.ts), and a helper that reads an HeError's code and message.
import { HeError } from '../errors.js';

/** A SEAL 4.1 header (16 bytes) followed by `payload`, with the declared size equal to the real one. */
export function sealObject(mode: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(16 + payload.length);
  const view = new DataView(out.buffer);
  view.setUint16(0, 0xa15e, true);
  view.setUint8(2, 16);
  view.setUint8(3, 4);
  view.setUint8(4, 1);
  view.setUint8(5, mode);
  view.setUint16(6, 0, true);
  view.setBigUint64(8, BigInt(out.length), true);
  out.set(payload, 16);
  return out;
}

/** The code and message of the HeError `fn` throws, or code 'no error'; any other error propagates. */
export function failure(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof HeError)) throw new Error(`expected an HeError, got ${String(err)}`);
    return { code: err.code, message: err.message };
  }
  return { code: 'no error', message: '' };
}

/**
 * A zstd frame of `blocks` RLE blocks of 128 KiB of zeros each, declaring its content size: 4 bytes per
 * 128 KiB, so 4 GiB of output from 128 KiB of input. A decompressor that trusted it would allocate it all.
 */
export function zstdRleBomb(blocks: number): Uint8Array {
  const blockSize = 128 * 1024;
  const out = new Uint8Array(4 + 1 + 1 + 8 + 4 * blocks);
  const view = new DataView(out.buffer);
  view.setUint32(0, 0xfd2fb528, true); // magic
  view.setUint8(4, 0xc0); // frame header descriptor: 8-byte content size, no single segment, no checksum, no dictionary
  view.setUint8(5, 7 << 3); // window descriptor: 2^(10+7) = 128 KiB
  view.setBigUint64(6, BigInt(blocks) * BigInt(blockSize), true);
  for (let b = 0; b < blocks; b++) {
    const last = b === blocks - 1 ? 1 : 0;
    const header = (blockSize << 3) | (1 << 1) | last; // RLE block of blockSize bytes
    const at = 14 + 4 * b;
    out[at] = header & 0xff;
    out[at + 1] = (header >> 8) & 0xff;
    out[at + 2] = (header >> 16) & 0xff;
    out[at + 3] = 0; // the repeated byte
  }
  return out;
}
