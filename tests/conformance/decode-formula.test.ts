import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { HeContext, compile, loadSeal, parseModel } from '../../he-core/index.js';

// docs/protocol.md section 7.3 (b) tells a client with its own CKKS arithmetic how to decrypt an
// answer without SEAL's loader: m = c0 + c1·s mod q0, centred, then slot j is
// Re(m(ζ^(3^j mod 2N))) / scale with ζ = e^(iπ/N). This checks the decoding half of it (the slot
// order above all) against SEAL's own decoder on a level-0 plaintext, whose coefficients are read
// by the same serialisation steps the document gives (section 5.1).

const HEADER = 16;

function sealHeader(view: DataView, at: number, size: number): void {
  view.setUint16(at, 0xa15e, true);
  view.setUint8(at + 2, 16);
  view.setUint8(at + 3, 4);
  view.setUint8(at + 4, 1);
  view.setBigUint64(at + 8, BigInt(size), true);
}

describe('decoding a level-0 answer without SEAL (protocol.md 7.3 b)', () => {
  it('the documented slot formula gives what SEAL decodes', async () => {
    const rt = await loadSeal();
    const { seal } = rt;
    const model = parseModel(readFileSync(new URL('../../assets/models/breast-cancer.json', import.meta.url), 'utf8'));
    const plan = compile(seal, model).public;
    const ctx = HeContext.create(rt, plan.params);
    const N = plan.params.polyModulusDegree;
    const q = BigInt(plan.params.primes[0]!);
    const keygen = new seal.KeyGenerator(ctx.context);
    const sk = keygen.secretKey();
    const pk = keygen.createPublicKey();
    const encryptor = new seal.Encryptor(ctx.context, pk, sk);
    const decryptor = new seal.Decryptor(ctx.context, sk);
    const pt = new seal.Plaintext();
    const ct = new seal.Ciphertext();
    const carrier = new seal.Ciphertext();
    try {
      const values = Float64Array.from({ length: N / 2 }, (_, j) => Math.sin(j / 7) * 3 + (j % 5) / 10);
      ctx.encoder.encode(values, plan.input.scale, pt);
      encryptor.encrypt(pt, ct);
      ctx.evaluator.cipherModSwitchToInplace(ct, ctx.parmsId(0));
      decryptor.decrypt(ct, pt); // m = c0 + c1·s, in NTT form modulo q0
      const expected = Float64Array.from(ctx.encoder.decodeFloat64(pt) as Float64Array);

      // The plaintext's N residues (NTT form), carried out of NTT form as c0 of a ciphertext.
      const saved = pt.saveToArray(seal.ComprModeType.none) as Uint8Array;
      const ptView = new DataView(saved.buffer, saved.byteOffset, saved.byteLength);
      expect(ptView.getBigUint64(HEADER + 32 + 16 + HEADER, true)).toBe(BigInt(N));
      const scale = ptView.getFloat64(HEADER + 32 + 8, true);
      const raw = new Uint8Array(113 + 16 * N);
      const out = new DataView(raw.buffer);
      sealHeader(out, 0, raw.length);
      (ctx.parmsId(0).values() as BigUint64Array).forEach((w, i) => out.setBigUint64(16 + 8 * i, w, true));
      out.setUint8(48, 1);
      out.setBigUint64(49, 2n, true);
      out.setBigUint64(57, BigInt(N), true);
      out.setBigUint64(65, 1n, true);
      out.setFloat64(73, scale, true);
      out.setBigUint64(81, 1n, true);
      sealHeader(out, 89, 24 + 16 * N);
      out.setBigUint64(105, BigInt(2 * N), true);
      const residues = saved.subarray(HEADER + 32 + 16 + HEADER + 8, HEADER + 32 + 16 + HEADER + 8 + 8 * N);
      // c0 = c1 = the residues (SEAL refuses to transform a ciphertext whose c1 is zero); c0 is read.
      raw.set(residues, 113);
      raw.set(residues, 113 + 8 * N);
      carrier.loadFromArray(ctx.context, raw);
      ctx.evaluator.cipherTransformFromNttInplace(carrier);
      const plain = carrier.saveToArray(seal.ComprModeType.none) as Uint8Array;
      const view = new DataView(plain.buffer, plain.byteOffset, plain.byteLength);

      // m centred into (−q0/2, q0/2], then the documented formula.
      const m = Float64Array.from({ length: N }, (_, k) => {
        const c = view.getBigUint64(113 + 8 * k, true);
        return Number(c > q / 2n ? c - q : c);
      });
      const cos = Float64Array.from({ length: 2 * N }, (_, t) => Math.cos((Math.PI * t) / N));
      let e = 1;
      let worst = 0;
      for (let j = 0; j < N / 2; j++) {
        let re = 0;
        for (let k = 0; k < N; k++) re += m[k]! * cos[(e * k) % (2 * N)]!;
        worst = Math.max(worst, Math.abs(re / scale - expected[j]!));
        e = (e * 3) % (2 * N);
      }
      expect(worst).toBeLessThan(1e-6);
      // And SEAL's decoding is the encoded vector, up to the encryption noise.
      expect(Math.max(...expected.map((x, j) => Math.abs(x - values[j]!)))).toBeLessThan(1e-3);
    } finally {
      for (const o of [carrier, ct, pt, decryptor, encryptor, pk, sk, keygen]) o.delete();
      ctx.dispose();
    }
  });
});
