import { HeError } from '../errors.js';

/**
 * The wire envelope around SEAL's own serialisation:
 *   magic "CCHE" | version u8 | kind u8 | reserved u16 | parameter fingerprint (32 bytes)
 *   | count u32 | count x length u32 | payloads.
 * All integers little-endian; the fixed header is 44 bytes (docs/protocol.md, section 2). Every
 * length is checked against caps before anything is read.
 */
export const ENVELOPE_MAGIC = Uint8Array.from([0x43, 0x43, 0x48, 0x45]);
export const ENVELOPE_VERSION = 1;
const FIXED_BYTES = 4 + 1 + 1 + 2 + 32 + 4;

export const EnvelopeKind = {
  evaluationKeys: 1,
  ciphertexts: 2,
  results: 3,
} as const;
export type EnvelopeKind = (typeof EnvelopeKind)[keyof typeof EnvelopeKind];

export interface Envelope {
  kind: EnvelopeKind;
  fingerprint: string;
  items: Uint8Array[];
}

export interface EnvelopeCaps {
  maxCount: number;
  maxItemBytes: number;
  maxTotalBytes: number;
}

export function encodeEnvelope(envelope: Envelope): Uint8Array {
  return joinEnvelope(encodeEnvelopeParts(envelope));
}

/**
 * An encoded envelope as its pieces, in order: the fixed header with the length table, then the
 * items as they are. Sent piece by piece (ProviderClient), a large request (a mnist-cnn batch:
 * 784 items, 164 MB) is never copied into one buffer: that copy alone needs 164 MB of fresh
 * memory, about 0.55 s on the benchmark's VMs. `joinEnvelope` gives the bytes of `encodeEnvelope`.
 */
export interface EnvelopeParts {
  readonly parts: readonly Uint8Array[];
  readonly byteLength: number;
}

/** `encodeEnvelope` without joining: the header and length table, then the items (not copied). */
export function encodeEnvelopeParts(envelope: Envelope): EnvelopeParts {
  const fp = Buffer.from(envelope.fingerprint, 'hex');
  if (fp.length !== 32) throw new HeError('params_mismatch', 'a parameter fingerprint is 32 bytes of hex');
  const header = new Uint8Array(FIXED_BYTES + 4 * envelope.items.length);
  const view = new DataView(header.buffer);
  header.set(ENVELOPE_MAGIC, 0);
  view.setUint8(4, ENVELOPE_VERSION);
  view.setUint8(5, envelope.kind);
  view.setUint16(6, 0, true);
  header.set(fp, 8);
  view.setUint32(40, envelope.items.length, true);
  envelope.items.forEach((item, i) => view.setUint32(FIXED_BYTES + 4 * i, item.length, true));
  return { parts: [header, ...envelope.items], byteLength: envelope.items.reduce((a, i) => a + i.length, header.length) };
}

/** The envelope's bytes in one buffer (the parts copied once; a whole envelope as it is). */
export function joinEnvelope(envelope: Uint8Array | EnvelopeParts): Uint8Array {
  if (envelope instanceof Uint8Array) return envelope;
  const out = new Uint8Array(envelope.byteLength);
  let at = 0;
  for (const part of envelope.parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/**
 * Parses an envelope, refusing anything malformed with a typed error: truncation, bad magic or
 * version, an unexpected kind, a count or length beyond the caps, trailing bytes.
 */
export function decodeEnvelope(bytes: Uint8Array, expectedKind: EnvelopeKind, caps: EnvelopeCaps): Envelope {
  if (bytes.length > caps.maxTotalBytes) throw new HeError('envelope_too_large', `the body is ${bytes.length} bytes; the limit is ${caps.maxTotalBytes}`);
  if (bytes.length < FIXED_BYTES) throw new HeError('envelope_truncated', `an envelope needs at least ${FIXED_BYTES} bytes, got ${bytes.length}`);
  for (let i = 0; i < 4; i++) if (bytes[i] !== ENVELOPE_MAGIC[i]) throw new HeError('envelope_bad_magic', 'not a CipherCare envelope (bad magic)');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint8(4);
  if (version !== ENVELOPE_VERSION) throw new HeError('envelope_bad_version', `envelope version ${version} is not supported (this build speaks ${ENVELOPE_VERSION})`);
  const kind = view.getUint8(5);
  if (kind !== expectedKind) throw new HeError('envelope_bad_kind', `expected an envelope of kind ${expectedKind}, got ${kind}`);
  if (view.getUint16(6, true) !== 0) throw new HeError('envelope_bad_version', 'reserved envelope bytes must be zero');
  const fingerprint = Buffer.from(bytes.subarray(8, 40)).toString('hex');
  const count = view.getUint32(40, true);
  if (count === 0 || count > caps.maxCount) throw new HeError('envelope_bad_count', `the envelope holds ${count} items; 1 to ${caps.maxCount} are allowed`);
  const header = FIXED_BYTES + 4 * count;
  if (bytes.length < header) throw new HeError('envelope_truncated', `the envelope ends inside its length table (${bytes.length} < ${header} bytes)`);
  const lengths: number[] = [];
  let total = header;
  for (let i = 0; i < count; i++) {
    const len = view.getUint32(FIXED_BYTES + 4 * i, true);
    if (len > caps.maxItemBytes) throw new HeError('envelope_too_large', `item ${i} declares ${len} bytes; the limit is ${caps.maxItemBytes}`);
    lengths.push(len);
    total += len;
  }
  if (total > bytes.length) throw new HeError('envelope_truncated', `the envelope declares ${total} bytes but has ${bytes.length}`);
  if (total < bytes.length) throw new HeError('envelope_trailing_bytes', `${bytes.length - total} bytes follow the last item`);
  const items: Uint8Array[] = [];
  let at = header;
  for (const len of lengths) {
    items.push(bytes.subarray(at, at + len));
    at += len;
  }
  return { kind: kind as EnvelopeKind, fingerprint, items };
}
