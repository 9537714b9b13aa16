import { describe, it, expect } from 'vitest';
import { HeError } from '../errors.js';
import type { HeErrorCode } from '../errors.js';
import { ENVELOPE_MAGIC, ENVELOPE_VERSION, EnvelopeKind, decodeEnvelope, encodeEnvelope, encodeEnvelopeParts, joinEnvelope } from './envelope.js';
import type { Envelope, EnvelopeCaps } from './envelope.js';
import { mulberry32 } from '../testing/mulberry32.js';

const FIXED = 44; // magic 4 + version 1 + kind 1 + reserved 2 + fingerprint 32 + count 4
const FP = 'a1'.repeat(16) + '0f'.repeat(16);
const CAPS: EnvelopeCaps = { maxCount: 4, maxItemBytes: 1000, maxTotalBytes: 5000 };


function bytesOf(...values: number[]): Uint8Array {
  return Uint8Array.from(values);
}

function sample(): Envelope {
  return { kind: EnvelopeKind.ciphertexts, fingerprint: FP, items: [bytesOf(1, 2, 3), new Uint8Array(0), bytesOf(9, 8, 7, 6, 5)] };
}

/** The error code decodeEnvelope throws, or 'ok'. Anything but an HeError fails the test. */
function codeOf(bytes: Uint8Array, kind: EnvelopeKind = EnvelopeKind.ciphertexts, caps: EnvelopeCaps = CAPS): HeErrorCode | 'ok' {
  try {
    decodeEnvelope(bytes, kind, caps);
    return 'ok';
  } catch (err) {
    if (!(err instanceof HeError)) throw new Error(`decodeEnvelope threw a non-HeError: ${String(err)}`);
    return err.code;
  }
}

function withU32(bytes: Uint8Array, at: number, value: number): Uint8Array {
  const out = bytes.slice();
  new DataView(out.buffer).setUint32(at, value, true);
  return out;
}

describe('envelope encode/decode', () => {
  it('round-trips kind, fingerprint and items, with the documented layout', () => {
    const env = sample();
    const bytes = encodeEnvelope(env);
    expect(bytes.length).toBe(FIXED + 4 * 3 + 8);
    expect([...bytes.subarray(0, 4)]).toEqual([...ENVELOPE_MAGIC]);
    expect(bytes[4]).toBe(ENVELOPE_VERSION);
    expect(bytes[5]).toBe(EnvelopeKind.ciphertexts);
    const view = new DataView(bytes.buffer);
    expect(view.getUint16(6, true)).toBe(0);
    expect(Buffer.from(bytes.subarray(8, 40)).toString('hex')).toBe(FP);
    expect(view.getUint32(40, true)).toBe(3);
    expect([view.getUint32(44, true), view.getUint32(48, true), view.getUint32(52, true)]).toEqual([3, 0, 5]);

    const back = decodeEnvelope(bytes, EnvelopeKind.ciphertexts, CAPS);
    expect(back.kind).toBe(EnvelopeKind.ciphertexts);
    expect(back.fingerprint).toBe(FP);
    expect(back.items.map((i) => [...i])).toEqual([[1, 2, 3], [], [9, 8, 7, 6, 5]]);
  });

  it('as parts: the header with its length table, then the items themselves (not copied); joined, the bytes of encodeEnvelope', () => {
    const items = [bytesOf(1, 2, 3), new Uint8Array(0), bytesOf(9)];
    const envelope: Envelope = { kind: EnvelopeKind.ciphertexts, fingerprint: FP, items };
    const parts = encodeEnvelopeParts(envelope);
    expect(parts.parts.length).toBe(4);
    expect(parts.parts[0]!.length).toBe(FIXED + 4 * 3);
    parts.parts.slice(1).forEach((p, i) => expect(p).toBe(items[i]));
    const joined = joinEnvelope(parts);
    expect(parts.byteLength).toBe(joined.length);
    expect(Buffer.from(joined).equals(Buffer.from(encodeEnvelope(envelope)))).toBe(true);
    expect(decodeEnvelope(joined, EnvelopeKind.ciphertexts, CAPS).items.map((i) => Array.from(i))).toEqual([[1, 2, 3], [], [9]]);
    // A whole envelope joins to itself.
    expect(joinEnvelope(joined)).toBe(joined);
    expect(() => encodeEnvelopeParts({ ...envelope, fingerprint: 'abc' })).toThrow(HeError);
  });

  it('decodes from a subarray with a non-zero byte offset', () => {
    const bytes = encodeEnvelope(sample());
    const padded = new Uint8Array(bytes.length + 7);
    padded.set(bytes, 3);
    const back = decodeEnvelope(padded.subarray(3, 3 + bytes.length), EnvelopeKind.ciphertexts, CAPS);
    expect(back.items.map((i) => [...i])).toEqual([[1, 2, 3], [], [9, 8, 7, 6, 5]]);
  });

  it('round-trips every kind', () => {
    for (const kind of Object.values(EnvelopeKind)) {
      const bytes = encodeEnvelope({ kind, fingerprint: FP, items: [bytesOf(kind)] });
      expect(decodeEnvelope(bytes, kind, CAPS).items.map((i) => [...i])).toEqual([[kind]]);
    }
  });

  it('refuses to encode a fingerprint that is not 32 bytes of hex', () => {
    for (const fingerprint of ['abcd', FP + '00', 'zz'.repeat(32)]) {
      let code: string | undefined;
      try {
        encodeEnvelope({ ...sample(), fingerprint });
      } catch (err) {
        code = err instanceof HeError ? err.code : String(err);
      }
      expect([fingerprint, code]).toEqual([fingerprint, 'params_mismatch']);
    }
  });
});

describe('decodeEnvelope refuses malformed input with a typed code', () => {
  const valid = encodeEnvelope(sample());

  it('accepts the valid envelope itself (control)', () => {
    expect(codeOf(valid)).toBe('ok');
  });

  it('every strict prefix is envelope_truncated', () => {
    for (let n = 0; n < valid.length; n++) {
      expect([n, codeOf(valid.subarray(0, n))]).toEqual([n, 'envelope_truncated']);
    }
  });

  it('every strict prefix of a larger envelope (sampled) is envelope_truncated', () => {
    const rand = mulberry32(7);
    const items = Array.from({ length: 4 }, (_, i) => Uint8Array.from({ length: 200 + i * 50 }, () => Math.floor(rand() * 256)));
    const big = encodeEnvelope({ kind: EnvelopeKind.results, fingerprint: FP, items });
    expect(codeOf(big, EnvelopeKind.results)).toBe('ok');
    const lengths = new Set<number>([0, 1, 3, 4, 5, 43, 44, 45, 59, 60, 61, big.length - 1]);
    while (lengths.size < 200) lengths.add(Math.floor(rand() * big.length));
    for (const n of lengths) expect([n, codeOf(big.subarray(0, n), EnvelopeKind.results)]).toEqual([n, 'envelope_truncated']);
  });

  it('bad magic', () => {
    for (let i = 0; i < 4; i++) {
      const b = valid.slice();
      b[i]! ^= 0x20;
      expect(codeOf(b)).toBe('envelope_bad_magic');
    }
  });

  it('bad version', () => {
    for (const v of [0, 2, 255]) {
      const b = valid.slice();
      b[4] = v;
      expect(codeOf(b)).toBe('envelope_bad_version');
    }
  });

  it('non-zero reserved bytes', () => {
    const b = valid.slice();
    b[7] = 1;
    expect(codeOf(b)).toBe('envelope_bad_version');
  });

  it('wrong kind: the expected kind is not the encoded one, or the kind byte is unknown', () => {
    expect(codeOf(valid, EnvelopeKind.results)).toBe('envelope_bad_kind');
    expect(codeOf(valid, EnvelopeKind.evaluationKeys)).toBe('envelope_bad_kind');
    const b = valid.slice();
    b[5] = 0;
    expect(codeOf(b)).toBe('envelope_bad_kind');
    b[5] = 200;
    expect(codeOf(b)).toBe('envelope_bad_kind');
  });

  it('count 0 and count over the cap are envelope_bad_count', () => {
    const zero = encodeEnvelope({ kind: EnvelopeKind.ciphertexts, fingerprint: FP, items: [] });
    expect(zero.length).toBe(FIXED);
    expect(codeOf(zero)).toBe('envelope_bad_count');
    const five = encodeEnvelope({ kind: EnvelopeKind.ciphertexts, fingerprint: FP, items: Array.from({ length: 5 }, () => bytesOf(1)) });
    expect(codeOf(five)).toBe('envelope_bad_count');
    expect(codeOf(five, EnvelopeKind.ciphertexts, { ...CAPS, maxCount: 5 })).toBe('ok');
    // A huge declared count is refused before the length table is read.
    expect(codeOf(withU32(valid, 40, 0xffffffff))).toBe('envelope_bad_count');
  });

  it('item length over the cap is envelope_too_large (also when the body is short)', () => {
    const over = encodeEnvelope({ kind: EnvelopeKind.ciphertexts, fingerprint: FP, items: [new Uint8Array(1001)] });
    expect(codeOf(over)).toBe('envelope_too_large');
    const exact = encodeEnvelope({ kind: EnvelopeKind.ciphertexts, fingerprint: FP, items: [new Uint8Array(1000)] });
    expect(codeOf(exact)).toBe('ok');
    // A declared 4 GiB item in a 56-byte body.
    expect(codeOf(withU32(valid, 44, 0xffffffff))).toBe('envelope_too_large');
  });

  it('declared total beyond the body is envelope_truncated', () => {
    // Item 2 declares 6 bytes but only 5 follow.
    expect(codeOf(withU32(valid, 52, 6))).toBe('envelope_truncated');
    // Every item at its cap: 3000 declared bytes, 8 present.
    let b = valid;
    for (const at of [44, 48, 52]) b = withU32(b, at, 1000);
    expect(codeOf(b)).toBe('envelope_truncated');
  });

  it('trailing bytes are envelope_trailing_bytes', () => {
    for (const extra of [1, 2, 100]) {
      const b = new Uint8Array(valid.length + extra);
      b.set(valid);
      expect(codeOf(b)).toBe('envelope_trailing_bytes');
    }
    // A declared length shorter than the payload also leaves trailing bytes.
    expect(codeOf(withU32(valid, 52, 4))).toBe('envelope_trailing_bytes');
  });

  it('a body over maxTotalBytes is envelope_too_large, before anything else is looked at', () => {
    expect(codeOf(valid, EnvelopeKind.ciphertexts, { ...CAPS, maxTotalBytes: valid.length - 1 })).toBe('envelope_too_large');
    expect(codeOf(valid, EnvelopeKind.ciphertexts, { ...CAPS, maxTotalBytes: valid.length })).toBe('ok');
    expect(codeOf(new Uint8Array(5001))).toBe('envelope_too_large');
  });

  it('random and mutated bodies (seeded, 2,000 each) only ever throw envelope HeErrors', () => {
    const allowed = new Set<HeErrorCode | 'ok'>([
      'ok',
      'envelope_truncated',
      'envelope_bad_magic',
      'envelope_bad_version',
      'envelope_bad_kind',
      'envelope_too_large',
      'envelope_bad_count',
      'envelope_trailing_bytes',
    ]);
    const rand = mulberry32(20240601);
    const seen = new Map<string, number>();
    const check = (body: Uint8Array): void => {
      const code = codeOf(body);
      expect(allowed.has(code)).toBe(true);
      seen.set(code, (seen.get(code) ?? 0) + 1);
      if (code === 'ok') {
        const env = decodeEnvelope(body, EnvelopeKind.ciphertexts, CAPS);
        const sum = env.items.reduce((a, i) => a + 4 + i.length, FIXED);
        expect(sum).toBe(body.length);
      }
    };
    for (let n = 0; n < 2000; n++) {
      // Fully random bytes, half of them behind a valid magic/version/kind prefix to get past the first checks.
      const body = Uint8Array.from({ length: Math.floor(rand() * 120) }, () => Math.floor(rand() * 256));
      if (n % 2 === 0 && body.length >= 8) body.set([...ENVELOPE_MAGIC, ENVELOPE_VERSION, EnvelopeKind.ciphertexts, 0, 0]);
      check(body);
    }
    for (let n = 0; n < 2000; n++) {
      // A valid envelope with a few bytes changed in the header or length table, maybe cut or extended.
      const body = valid.slice();
      const flips = 1 + Math.floor(rand() * 3);
      for (let f = 0; f < flips; f++) body[40 + Math.floor(rand() * (valid.length - 40))] = Math.floor(rand() * 256);
      const cut = rand() < 0.3 ? Math.floor(rand() * body.length) : body.length;
      check(rand() < 0.2 ? Uint8Array.from([...body, ...bytesOf(1, 2, 3)]) : body.subarray(0, cut));
    }
    // The generator reached the deep checks, not only the magic test.
    for (const code of ['envelope_truncated', 'envelope_bad_magic', 'envelope_bad_count', 'envelope_too_large', 'envelope_trailing_bytes', 'ok']) {
      expect([code, (seen.get(code) ?? 0) > 0]).toEqual([code, true]);
    }
  });
});
