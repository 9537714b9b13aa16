import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyedContextWithChain } from '../testing/keyed-context.js';
import type { KeyedContext } from '../testing/keyed-context.js';
import { mulberry32 } from '../testing/mulberry32.js';
import { samePlaintext } from '../testing/same-plaintext.js';
import { free } from '../seal/scope.js';
import { ClientKeyPair } from './client-keys.js';

// The key pair's encoding (ClientKeyPair.encode): he-core/evaluator/encoder.ts's FastEncoder by
// default, SEAL's encoder when asked or where the kernel cannot serve the primes; the same bits.

describe('ClientKeyPair.encode', () => {
  let k: KeyedContext;
  beforeAll(async () => {
    k = await keyedContextWithChain(8192, [37, 26, 26, 26, 48], 26);
  });
  afterAll(() => k?.dispose());

  it('is not made where the kernel cannot serve the primes (a 52-bit data prime): the key pair encodes with SEAL', async () => {
    const big = await keyedContextWithChain(8192, [52, 40, 60], 40);
    const pair = ClientKeyPair.generate(big.ctx);
    const pt = new big.ctx.seal.Plaintext();
    try {
      pair.encode(new Float64Array(big.ctx.slots).fill(0.5), 2 ** 40, pt);
      expect(pair.encodingProblem).toBe('the kernel cannot serve these primes');
      expect(pair.fastEncodings).toBe(0);
      expect(pt.coeffCount()).toBe(8192 * 2);
    } finally {
      free(pt);
      pair.dispose();
      big.dispose();
    }
  });

  it('a key pair encodes with it by default and with SEAL when fastEncoding is off: the same plaintexts', () => {
    const pair = ClientKeyPair.generate(k.ctx);
    const a = new k.ctx.seal.Plaintext();
    const b = new k.ctx.seal.Plaintext();
    try {
      const next = mulberry32(11);
      const values = Float64Array.from({ length: k.ctx.slots }, () => (next() - 0.5) * 6);
      pair.encode(values, 2 ** 26, a);
      expect(pair.fastEncodings).toBe(1);
      pair.fastEncoding = false;
      pair.encode(values, 2 ** 26, b);
      expect(pair.fastEncodings).toBe(1);
      expect(samePlaintext(k.ctx.runtime, a, b)).toBe(true);
      expect(pair.encodingProblem).toBeNull();
    } finally {
      free(a, b);
      pair.dispose();
    }
  });
});
