// Hostile bodies for the reliability tests: random bytes, truncations, bit flips, envelope fields
// set to huge values, wrong fingerprints, compression bombs inside a valid SEAL header, and valid
// SEAL objects of other parameters under this parameter set's fingerprint.
import { deflateSync, zstdCompressSync } from 'node:zlib';
import { EnvelopeKind, decodeEnvelope, encodeEnvelope } from '../../he-core/index.js';
import type { Envelope } from '../../he-core/index.js';

const FIXED = 44;
const LOOSE = { maxCount: 1 << 16, maxItemBytes: 2 ** 30, maxTotalBytes: 2 ** 31 };

export type Rng = () => number;

export function int(rnd: Rng, n: number): number {
  return Math.floor(rnd() * n);
}

export function pick<T>(rnd: Rng, items: readonly T[]): T {
  return items[int(rnd, items.length)]!;
}

export function randomBytes(rnd: Rng, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = int(rnd, 256);
  return out;
}

/** Lengths spread over orders of magnitude, 0 to `max`. */
export function randomLength(rnd: Rng, max: number): number {
  return Math.min(max, Math.floor(Math.exp(rnd() * Math.log(max + 1))) - 1 + int(rnd, 2));
}

export function parse(bytes: Uint8Array, kind: EnvelopeKind): Envelope {
  return decodeEnvelope(bytes, kind, LOOSE);
}

function withU32(bytes: Uint8Array, at: number, value: number): Uint8Array {
  const out = bytes.slice();
  if (at + 4 <= out.length) new DataView(out.buffer).setUint32(at, value >>> 0, true);
  return out;
}

/** A SEAL object header (magic a15e, header 16, version 4.0, compression) around `payload`, its size field right. */
export function sealObject(compression: 0 | 1 | 2, payload: Uint8Array, declared?: bigint): Uint8Array {
  const out = new Uint8Array(16 + payload.length);
  out.set([0x5e, 0xa1, 16, 4, 0, compression, 0, 0]);
  new DataView(out.buffer).setBigUint64(8, declared ?? BigInt(out.length), true);
  out.set(payload, 16);
  return out;
}

/** Compression bombs: 64 MiB of zeros (zstd and zlib) inside a valid SEAL header; made once. */
export function makeBombs(): Uint8Array[] {
  const zeros = Buffer.alloc(64 * 2 ** 20);
  const zstd = new Uint8Array(zstdCompressSync(zeros));
  const zlib = new Uint8Array(deflateSync(zeros, { level: 9 }));
  return [sealObject(2, zstd), sealObject(1, zlib), sealObject(2, zstd, 64n * 2n ** 20n), sealObject(0, zstd)];
}

export interface Material {
  /** The valid envelope this body derives from. */
  base: Uint8Array;
  kind: EnvelopeKind;
  fingerprint: string;
  /** Fingerprints of other parameter sets. */
  otherFingerprints: string[];
  /** Valid SEAL objects (compressed, as sent) of other parameter sets or kinds. */
  foreignItems: Uint8Array[];
  bombs: Uint8Array[];
}

export type Mutation =
  | 'random'
  | 'random-with-magic'
  | 'truncated'
  | 'bit-flips'
  | 'header-flips'
  | 'overwrite'
  | 'count-huge'
  | 'count-zero'
  | 'length-huge'
  | 'length-off-by-one'
  | 'trailing-bytes'
  | 'wrong-fingerprint'
  | 'other-fingerprint'
  | 'wrong-kind'
  | 'compression-bomb'
  | 'foreign-seal-object'
  | 'seal-header-edit'
  | 'duplicate-item'
  | 'empty';

export const MUTATIONS: readonly Mutation[] = [
  'random', 'random-with-magic', 'truncated', 'bit-flips', 'header-flips', 'overwrite', 'count-huge', 'count-zero', 'length-huge', 'length-off-by-one',
  'trailing-bytes', 'wrong-fingerprint', 'other-fingerprint', 'wrong-kind', 'compression-bomb', 'foreign-seal-object', 'seal-header-edit', 'duplicate-item', 'empty',
];

/** Mutations whose result can still be a well-formed envelope of the right parameters (a 200/201 is then fine). */
export const MAY_PASS: ReadonlySet<Mutation> = new Set(['bit-flips', 'header-flips', 'overwrite']);

/** Mutations that always break the envelope's own structure: even decodeEnvelope must refuse them. */
export const STRUCTURAL: ReadonlySet<Mutation> = new Set(['truncated', 'count-huge', 'count-zero', 'length-huge', 'length-off-by-one', 'trailing-bytes', 'wrong-kind']);

/** Whether a body made by `mutation` from `base` may be accepted: a may-pass mutation, or one that changed nothing. */
export function mayPass(mutation: Mutation, body: Uint8Array, base: Uint8Array): boolean {
  return MAY_PASS.has(mutation) || Buffer.compare(body, base) === 0;
}

/** One hostile body derived from `m` by `mutation`. */
export function mutate(rnd: Rng, m: Material, mutation: Mutation): Uint8Array {
  const { base } = m;
  const env = parse(base, m.kind);
  switch (mutation) {
    case 'random':
      return randomBytes(rnd, randomLength(rnd, 64 * 1024));
    case 'random-with-magic': {
      const out = randomBytes(rnd, FIXED + randomLength(rnd, 4096));
      out.set([0x43, 0x43, 0x48, 0x45, 1, m.kind, 0, 0]);
      return out;
    }
    case 'truncated':
      return base.slice(0, int(rnd, base.length));
    case 'bit-flips': {
      const out = base.slice();
      for (let f = 0, n = 1 + int(rnd, 16); f < n; f++) out[int(rnd, out.length)]! ^= 1 << int(rnd, 8);
      return out;
    }
    case 'header-flips': {
      const out = base.slice();
      for (let f = 0, n = 1 + int(rnd, 4); f < n; f++) out[int(rnd, Math.min(out.length, FIXED + 4 * env.items.length + 32))]! ^= 1 << int(rnd, 8);
      return out;
    }
    case 'overwrite': {
      const out = base.slice();
      const at = int(rnd, out.length);
      out.set(randomBytes(rnd, Math.min(out.length - at, 1 + int(rnd, 64))), at);
      return out;
    }
    case 'count-huge':
      return withU32(base, 40, pick(rnd, [0xffffffff, 0x80000000, 0x7fffffff, 0x10000, env.items.length + 1]));
    case 'count-zero':
      return withU32(base, 40, 0);
    case 'length-huge':
      return withU32(base, FIXED + 4 * int(rnd, env.items.length), pick(rnd, [0xffffffff, 0x80000000, 0x7fffffff, 2 ** 28]));
    case 'length-off-by-one': {
      const i = int(rnd, env.items.length);
      return withU32(base, FIXED + 4 * i, env.items[i]!.length + pick(rnd, [-1, 1]));
    }
    case 'trailing-bytes': {
      const out = new Uint8Array(base.length + 1 + int(rnd, 64));
      out.set(base);
      out.set(randomBytes(rnd, out.length - base.length), base.length);
      return out;
    }
    case 'wrong-fingerprint':
      return encodeEnvelope({ ...env, fingerprint: Buffer.from(randomBytes(rnd, 32)).toString('hex') });
    case 'other-fingerprint':
      return encodeEnvelope({ ...env, fingerprint: pick(rnd, m.otherFingerprints) });
    case 'wrong-kind': {
      const out = base.slice();
      out[5] = pick(rnd, [0, 1, 2, 3, 4, 255].filter((k) => k !== m.kind));
      return out;
    }
    case 'compression-bomb': {
      const items = env.items.map((item) => item);
      items[int(rnd, items.length)] = pick(rnd, m.bombs);
      return encodeEnvelope({ ...env, items });
    }
    case 'foreign-seal-object': {
      // Valid SEAL objects of other parameters, under this parameter set's fingerprint: they reach SEAL's loader.
      const items = env.items.map(() => pick(rnd, m.foreignItems));
      return encodeEnvelope({ ...env, items });
    }
    case 'seal-header-edit': {
      const items: Uint8Array[] = env.items.map((item) => item.slice());
      // An item with a SEAL header to edit; an envelope of empty items gets one (zeros after it).
      const withHeader = items.map((item, at) => (item.length >= 16 ? at : -1)).filter((at) => at >= 0);
      const i = withHeader.length > 0 ? pick(rnd, withHeader) : int(rnd, items.length);
      if (withHeader.length === 0) items[i] = sealObject(2, new Uint8Array(16));
      const item = items[i]!;
      {
        const view = new DataView(item.buffer, item.byteOffset, item.byteLength);
        switch (int(rnd, 5)) {
          case 0:
            view.setBigUint64(8, pick(rnd, [0n, 2n ** 63n, 2n ** 64n - 1n, BigInt(item.length + 1)]), true);
            break;
          case 1:
            view.setUint8(5, pick(rnd, [0, 1, 3, 255]));
            break;
          case 2:
            view.setUint8(3, pick(rnd, [0, 3, 5, 255]));
            break;
          case 3:
            view.setUint16(0, int(rnd, 65536), true);
            break;
          default:
            view.setUint8(2, pick(rnd, [0, 8, 32, 255]));
        }
      }
      return encodeEnvelope({ ...env, items });
    }
    case 'duplicate-item':
      return encodeEnvelope({ ...env, items: [...env.items, ...env.items] });
    case 'empty':
      return encodeEnvelope({ ...env, items: env.items.map(() => new Uint8Array(0)) });
  }
}

export { EnvelopeKind };
