// zstd with contexts and buffers kept across calls, one set per thread.
//
// Node's one-shot `zstdCompressSync` / `zstdDecompressSync` create a zstd context, its window and
// output buffers on every call and free them after. For the objects this app moves (a seeded
// ciphertext: 393 kB raw, about 211 kB compressed; a batch request: 784 of them) that churn is
// most of the cost: fresh memory has to be faulted in page by page, which on the shared VMs that
// run the benchmark costs about 4 ms per MB. Here one compression and one decompression context
// per thread (and per window limit) are created once, and write into output buffers that are
// kept too: measured on one seeded mnist-cnn ciphertext, decompression 1.1 ms -> 0.3 ms.
//
// This drives the zlib handle that Node's own synchronous functions drive (`_handle.writeSync`
// with the engine's `_writeState`, as `processChunkSync` in node:zlib does). Those are Node
// internals: where they are missing or behave otherwise, every call here falls back to the
// public one-shot functions, with the same bounds (`zstdFallback` reports which path runs).
import zlib, { constants as zlibConstants, zstdCompressSync, zstdDecompressSync } from 'node:zlib';

interface ZlibHandle {
  writeSync(flush: number, input: Uint8Array, inOff: number, inLen: number, out: Uint8Array, outOff: number, outLen: number): void;
  close(): void;
  onerror: (message: string, errno: number, code?: string) => void;
}

interface Engine {
  handle: ZlibHandle;
  /** [available output after, available input after] of the last writeSync. */
  state: Uint32Array;
  /** Set by the handle's error callback during writeSync. */
  error: string | null;
}

/** What a bounded decompression found wrong: the caller turns it into its own error. */
export class ZstdInputError extends Error {
  constructor(
    readonly kind: 'too_large' | 'invalid',
    message: string,
  ) {
    super(message);
  }
}

let forcedFallback = false;
let brokenInternals = false;
const decompressors = new Map<number, Engine>();
const compressors = new Map<number, Engine>();
let scratch = new Uint8Array(0);

/** For tests: run every call through Node's public one-shot functions, as where the internals are missing. */
export function forceZstdFallback(on: boolean): void {
  forcedFallback = on;
  for (const e of [...decompressors.values(), ...compressors.values()]) e.handle.close();
  decompressors.clear();
  compressors.clear();
}

/** Whether calls here use Node's one-shot functions (internals missing, or forced by a test). */
export function zstdFallback(): boolean {
  return forcedFallback || brokenInternals;
}

function makeEngine(stream: object): Engine | null {
  const s = stream as { _handle?: Partial<ZlibHandle>; _writeState?: unknown };
  const handle = s._handle;
  const state = s._writeState;
  if (!handle || typeof handle.writeSync !== 'function' || typeof handle.close !== 'function' || !(state instanceof Uint32Array) || state.length < 2) {
    brokenInternals = true;
    return null;
  }
  const engine: Engine = { handle: handle as ZlibHandle, state, error: null };
  // Replaces Node's callback (which destroys the stream object): the error is read after the call.
  engine.handle.onerror = (message: string) => {
    engine.error = message || 'zstd error';
  };
  return engine;
}

/**
 * Whether this Node's zstd handle reports a frame that ends early. Node's own one-shot function
 * has always checked that in JavaScript; the handle reports it only in recent versions. A kept
 * context that did not would stay mid-frame after a truncated object and decode the next object
 * (maybe another request's) as the rest of it, so without the report the kept path is not used.
 */
let truncationReported: boolean | null = null;

function handleReportsTruncation(): boolean {
  if (truncationReported !== null) return truncationReported;
  const frame = zstdCompressSync(new Uint8Array(4096).map((_, i) => (i * 2654435761) >>> 24));
  const probe = makeEngine(zlib.createZstdDecompress());
  if (!probe) return (truncationReported = false);
  try {
    const out = new Uint8Array(8192);
    probe.handle.writeSync(zlibConstants.ZSTD_e_end, frame, 0, frame.length >> 1, out, 0, out.length);
    truncationReported = probe.error !== null;
  } catch {
    truncationReported = false;
  } finally {
    try {
      probe.handle.close();
    } catch {
      // already closed
    }
  }
  if (!truncationReported) brokenInternals = true;
  return truncationReported;
}

function engineFor(map: Map<number, Engine>, key: number, create: () => object): Engine | null {
  if (zstdFallback()) return null;
  if (map === decompressors && !handleReportsTruncation()) return null;
  let engine = map.get(key);
  if (!engine) {
    const made = makeEngine(create());
    if (!made) return null;
    engine = made;
    map.set(key, engine);
  }
  // No reset between frames: after a complete frame zstd's context starts the next one by itself,
  // and Node's reset() would also drop the parameters (the window bound, the level). A context
  // that failed or stopped mid-frame is discarded instead.
  engine.error = null;
  return engine;
}

/** Drops an engine after an error: zstd's context is not reused after it failed. */
function discard(map: Map<number, Engine>, key: number): void {
  const engine = map.get(key);
  map.delete(key);
  try {
    engine?.handle.close();
  } catch {
    // already closed
  }
}

function scratchOf(bytes: number): Uint8Array {
  if (scratch.length < bytes) scratch = new Uint8Array(Math.max(bytes, Math.ceil(scratch.length * 1.25)));
  return scratch;
}

/**
 * Decompresses one zstd frame into `out` from `outOffset`, at most `limit` bytes, and returns how
 * many it wrote. A frame that would inflate past the limit is refused (`too_large`) without
 * writing past it; one with bytes after its end, or not zstd at all, is `invalid`. A truncated
 * frame yields fewer bytes (the callers check exact sizes). `windowLogMax` bounds the window the
 * frame may ask the decoder to allocate.
 */
export function zstdDecompressInto(input: Uint8Array, out: Uint8Array, outOffset: number, limit: number, windowLogMax: number): number {
  // One byte of room more than allowed: a frame that fills it is over the limit.
  const room = limit + 1;
  if (outOffset + room > out.length) throw new RangeError('zstdDecompressInto: the output buffer needs limit + 1 bytes of room');
  const engine = engineFor(decompressors, windowLogMax, () => zlib.createZstdDecompress({ params: { [zlibConstants.ZSTD_d_windowLogMax]: windowLogMax } }));
  if (!engine) {
    let body: Buffer;
    try {
      body = zstdDecompressSync(input, { maxOutputLength: limit, params: { [zlibConstants.ZSTD_d_windowLogMax]: windowLogMax } });
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'ERR_BUFFER_TOO_LARGE' || /too large|exceeds|maxOutputLength|too much memory/i.test((err as Error).message)) throw new ZstdInputError('too_large', 'inflates beyond the bound');
      throw new ZstdInputError('invalid', (err as Error).message);
    }
    out.set(body, outOffset);
    return body.length;
  }
  engine.handle.writeSync(zlibConstants.ZSTD_e_end, input, 0, input.length, out, outOffset, room);
  // On an error the handle leaves the write state as it was: the error is read first.
  const message = engine.error;
  if (message !== null) {
    // The context is dropped after any refusal: it may be mid-frame.
    discard(decompressors, windowLogMax);
    throw new ZstdInputError(/memory|window/i.test(message) ? 'too_large' : 'invalid', message);
  }
  const [availOut, availIn] = engine.state as unknown as [number, number];
  const written = room - availOut;
  if (written > limit || availIn !== 0) {
    discard(decompressors, windowLogMax);
    if (written > limit) throw new ZstdInputError('too_large', 'inflates beyond the bound');
    throw new ZstdInputError('invalid', `${availIn} bytes after the end of the frame`);
  }
  return written;
}

function oneShotCompress(input: Uint8Array, level: number, prefix: number): Uint8Array {
  const body = zstdCompressSync(input, { params: { [zlibConstants.ZSTD_c_compressionLevel]: level } });
  const out = scratchOf(prefix + body.length);
  out.set(body, prefix);
  return out.subarray(0, prefix + body.length);
}

/**
 * Compresses `input` into one zstd frame at `level`; returns a view of the kept scratch buffer
 * from `prefix` bytes on (the caller's header goes into the first `prefix` bytes), valid until the
 * next call on this thread: copy it out before.
 */
export function zstdCompressScratch(input: Uint8Array, level: number, prefix: number): Uint8Array {
  const engine = engineFor(compressors, level, () => zlib.createZstdCompress({ params: { [zlibConstants.ZSTD_c_compressionLevel]: level } }));
  if (!engine) return oneShotCompress(input, level, prefix);
  // zstd's own worst case (ZSTD_compressBound) is input + input/256 + a few hundred bytes: with
  // that much room one call with ZSTD_e_end completes the frame.
  const out = scratchOf(prefix + input.length + (input.length >> 7) + 1024);
  const room = out.length - prefix;
  engine.handle.writeSync(zlibConstants.ZSTD_e_end, input, 0, input.length, out, prefix, room);
  const [availOut, availIn] = engine.state as unknown as [number, number];
  // Room left over and all input taken means the frame is complete (as Node's own loop decides);
  // anything else (not expected) goes through the one-shot function instead.
  if (engine.error !== null || availOut === 0 || availIn !== 0) {
    discard(compressors, level);
    return oneShotCompress(input, level, prefix);
  }
  const written = room - availOut;
  return out.subarray(0, prefix + written);
}
