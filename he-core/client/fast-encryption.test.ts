import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Plaintext } from 'node-seal';
import { KeySwitchKernel } from '../evaluator/keyswitch.js';
import { keyedContextWithChain } from '../testing/keyed-context.js';
import type { KeyedContext } from '../testing/keyed-context.js';
import { mulberry32 } from '../testing/mulberry32.js';
import { plaintextData } from '../seal/layout.js';
import { free } from '../seal/scope.js';
import { ClientKeyPair } from './client-keys.js';
import { NOISE_BOUND, centeredBinomial } from './fast-encryption.js';

// SeededEncryptor (ClientKeyPair.encryptSeeded): seeded symmetric encryption with SEAL expanding
// our seed. Its ciphertexts are random, so no bytes can be compared with SEAL's; what is pinned
// instead: SEAL loads them (expanding the seed as the service does) and decrypts them to the
// plaintext plus a noise of at most 21 per coefficient, the same in every limb; that noise has
// SEAL's centered binomial distribution (mean 0, variance 10.5), measured beside SEAL's own
// encryptions; every seed and noise is fresh; and the fallbacks to SEAL.

/** decrypt(ct) − m back in coefficient form: one centred integer per coefficient, or null if the limbs disagree. */
function noiseOf(k: KeyedContext, pair: ClientKeyPair, kernel: KeySwitchKernel, bytes: Uint8Array, m: Plaintext): Int32Array | null {
  const { seal, context, runtime } = k.ctx;
  const N = k.ctx.params.polyModulusDegree;
  const L = k.ctx.params.primes.length - 1;
  const ct = new seal.Ciphertext();
  const out = new seal.Plaintext();
  try {
    ct.loadFromArray(context, bytes);
    pair.decryptor.decrypt(ct, out);
    const d = plaintextData(runtime, out)!;
    const mAt = plaintextData(runtime, m)!;
    const primes = k.ctx.params.primes.slice(0, -1).map(Number);
    let words = new Uint32Array(runtime.heapBuffer());
    for (let j = 0; j < L; j++) {
      const q = primes[j]!;
      for (let i = 0; i < N; i++) {
        const w = (d + 8 * (j * N + i)) / 4;
        const v = (words[w]! + words[w + 1]! * 4294967296) - (words[(mAt + 8 * (j * N + i)) / 4]! + words[(mAt + 8 * (j * N + i)) / 4 + 1]! * 4294967296);
        const r = v < 0 ? v + q : v;
        const low = r >>> 0;
        words[w] = low;
        words[w + 1] = (r - low) / 4294967296;
      }
      kernel.inverseNtt(d + j * N * 8, j);
    }
    words = new Uint32Array(runtime.heapBuffer());
    const noise = new Int32Array(N);
    for (let i = 0; i < N; i++) {
      for (let j = 0; j < L; j++) {
        const q = primes[j]!;
        const w = (d + 8 * (j * N + i)) / 4;
        const v = words[w]! + words[w + 1]! * 4294967296;
        const c = v > q / 2 ? v - q : v;
        if (j === 0) noise[i] = c;
        else if (c !== noise[i]) return null;
      }
    }
    return noise;
  } finally {
    free(ct, out);
  }
}

function stats(samples: Int32Array[]): { mean: number; variance: number; max: number; count: number } {
  let sum = 0;
  let sq = 0;
  let max = 0;
  let count = 0;
  for (const s of samples) for (const v of s) {
    sum += v;
    sq += v * v;
    max = Math.max(max, Math.abs(v));
    count++;
  }
  const mean = sum / count;
  return { mean, variance: sq / count - mean * mean, max, count };
}

for (const chain of [
  { name: "breast-cancer-mlp's chain (37, 3 × 26; 48)", bits: [37, 26, 26, 26, 48] },
  { name: "mnist-cnn's chain (42, 5 × 26; 46)", bits: [42, 26, 26, 26, 26, 26, 46] },
]) {
  describe(`SeededEncryptor on ${chain.name}`, () => {
    let k: KeyedContext;
    let pair: ClientKeyPair;
    let kernel: KeySwitchKernel;
    let m: Plaintext;
    const values = (() => {
      const next = mulberry32(chain.bits.length);
      return Float64Array.from({ length: 4096 }, () => (next() - 0.5) * 8);
    })();

    beforeAll(async () => {
      k = await keyedContextWithChain(8192, chain.bits, 26);
      pair = ClientKeyPair.generate(k.ctx);
      kernel = KeySwitchKernel.create(k.ctx)!;
      m = new k.ctx.seal.Plaintext();
      pair.encode(values, 2 ** 26, m);
    });
    afterAll(() => {
      free(m);
      kernel?.dispose();
      pair?.dispose();
      k?.dispose();
    });

    it('SEAL loads its ciphertexts and decrypts them to the plaintext plus a noise of at most 21, the same in every limb', () => {
      const first = pair.encryptSeeded(m)!; // SEAL's (the template)
      expect(pair.fastEncryptions).toBe(0);
      const ours = pair.encryptSeeded(m)!;
      expect(pair.fastEncryptions).toBe(1);
      expect(pair.encryptionProblem).toBeNull();
      expect(ours.length).toBe(first.length);
      for (const bytes of [first, ours]) {
        const noise = noiseOf(k, pair, kernel, bytes, m);
        expect(noise).not.toBeNull();
        expect(stats([noise!]).max).toBeLessThanOrEqual(NOISE_BOUND);
      }
    });

    it('decodes to the values (tolerance 2^-14 at scale 2^26)', () => {
      const bytes = pair.encryptSeeded(m)!;
      const ct = new k.ctx.seal.Ciphertext();
      const out = new k.ctx.seal.Plaintext();
      try {
        ct.loadFromArray(k.ctx.context, bytes);
        pair.decryptor.decrypt(ct, out);
        const decoded = k.ctx.encoder.decodeFloat64(out) as Float64Array;
        let worst = 0;
        for (let i = 0; i < values.length; i++) worst = Math.max(worst, Math.abs(decoded[i]! - values[i]!));
        expect(worst).toBeLessThan(2 ** -14);
      } finally {
        free(ct, out);
      }
    });

    it('draws a fresh seed and a fresh noise every time', () => {
      const a = pair.encryptSeeded(m)!;
      const b = pair.encryptSeeded(m)!;
      const seedA = a.subarray(a.length - 64);
      const seedB = b.subarray(b.length - 64);
      expect(Buffer.from(seedA).equals(Buffer.from(seedB))).toBe(false);
      expect(seedA.some((x) => x !== 0)).toBe(true);
      const na = noiseOf(k, pair, kernel, a, m)!;
      const nb = noiseOf(k, pair, kernel, b, m)!;
      let same = 0;
      for (let i = 0; i < na.length; i++) if (na[i] === nb[i]) same++;
      // Two independent noises agree on about 12% of coefficients (Σ P(v)^2 for CBD(21)).
      expect(same / na.length).toBeLessThan(0.2);
    });

    it('with reuse, writes each encryption into one buffer that the next call overwrites; both decrypt', () => {
      const a = pair.encryptSeeded(m, true)!;
      const first = a.slice();
      const b = pair.encryptSeeded(m, true)!;
      expect(b).toBe(a);
      expect(Buffer.from(first).equals(Buffer.from(b))).toBe(false);
      for (const bytes of [first, b]) expect(stats([noiseOf(k, pair, kernel, bytes, m)!]).max).toBeLessThanOrEqual(NOISE_BOUND);
    });

    it("has SEAL's noise distribution: centered binomial, mean 0, variance 10.5, beside SEAL's own encryptions", () => {
      const ours: Int32Array[] = [];
      const seals: Int32Array[] = [];
      for (let i = 0; i < 12; i++) {
        ours.push(noiseOf(k, pair, kernel, pair.encryptSeeded(m)!, m)!);
        const serializable = pair.encryptor.encryptSymmetricSerializable(m);
        try {
          seals.push(noiseOf(k, pair, kernel, serializable.saveToArray(k.ctx.seal.ComprModeType.none) as Uint8Array, m)!);
        } finally {
          free(serializable);
        }
      }
      const a = stats(ours);
      const b = stats(seals);
      // 98,304 samples each: the standard error of the mean is 0.010, of the variance about 0.05.
      expect(Math.abs(a.mean)).toBeLessThan(0.05);
      expect(Math.abs(a.variance - 10.5)).toBeLessThan(0.25);
      expect(a.max).toBeLessThanOrEqual(NOISE_BOUND);
      expect(Math.abs(b.mean)).toBeLessThan(0.05);
      expect(Math.abs(b.variance - 10.5)).toBeLessThan(0.25);
      expect(Math.abs(a.variance - b.variance)).toBeLessThan(0.35);
    });
  });
}

describe('SeededEncryptor: its noise and its fallbacks', () => {
  let k: KeyedContext;
  beforeAll(async () => {
    k = await keyedContextWithChain(8192, [37, 26, 26, 26, 48], 26);
  });
  afterAll(() => k?.dispose());

  it("centeredBinomial is SEAL's sample_poly_cbd: popcounts of 8 + 8 + 5 bits minus 8 + 8 + 5 bits", () => {
    const out = new Int8Array(4);
    centeredBinomial(Uint8Array.from([0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x80, 0x20, 0x03, 0, 0xe0]), out);
    expect(Array.from(out)).toEqual([21, -21, 0, 2 - 2]);
  });

  it('with fast encryption off, or after a failed first check, the key pair encrypts with SEAL, and its requests still decrypt', () => {
    const pair = ClientKeyPair.generate(k.ctx);
    const m = new k.ctx.seal.Plaintext();
    try {
      pair.encode(new Float64Array(4096).fill(1.5), 2 ** 26, m);
      pair.fastEncryption = false;
      expect(pair.encryptSeeded(m)).toBeNull();
      pair.fastEncryption = true;
      expect(pair.encryptSeeded(m)).not.toBeNull(); // SEAL's, the template
      // White box: corrupt −s, so that the first own encryption does not decrypt.
      const negS = (pair as unknown as { seeded: { negS: Plaintext } }).seeded.negS;
      const at = plaintextData(k.ctx.runtime, negS)!;
      new Uint32Array(k.ctx.runtime.heapBuffer(), at, 16).fill(7);
      expect(pair.encryptSeeded(m)).toBeNull();
      expect(pair.encryptionProblem).toMatch(/did not decrypt/);
      expect(pair.encryptSeeded(m)).toBeNull();
      expect(pair.fastEncryptions).toBe(0);
    } finally {
      free(m);
      pair.dispose();
    }
  });

  it('falls back to SEAL, with the reason, when SEAL refuses to load its serialisation (a corrupted template)', () => {
    const pair = ClientKeyPair.generate(k.ctx);
    const m = new k.ctx.seal.Plaintext();
    try {
      pair.encode(new Float64Array(4096).fill(-2), 2 ** 26, m);
      expect(pair.encryptSeeded(m)).not.toBeNull(); // SEAL's, the template
      // White box: a degree of 4096 in the template's header, which SEAL's load refuses.
      const template = (pair as unknown as { seeded: { template: Uint8Array } }).seeded.template;
      new DataView(template.buffer, template.byteOffset).setBigUint64(16 + 32 + 1 + 8, 4096n, true);
      expect(pair.encryptSeeded(m)).toBeNull();
      expect(pair.encryptionProblem).toMatch(/^it failed: /);
      expect(pair.fastEncryptions).toBe(0);
    } finally {
      free(m);
      pair.dispose();
    }
  });

  it('is not made where the kernel cannot serve the primes (a 52-bit data prime)', async () => {
    const big = await keyedContextWithChain(8192, [52, 40, 60], 40);
    const pair = ClientKeyPair.generate(big.ctx);
    const m = new big.ctx.seal.Plaintext();
    try {
      big.ctx.encoder.encode(new Float64Array(4096).fill(0.5), 2 ** 40, m);
      expect(pair.encryptSeeded(m)).toBeNull();
      expect(pair.encryptionProblem).toMatch(/cannot serve/);
    } finally {
      free(m);
      pair.dispose();
      big.dispose();
    }
  });
});
