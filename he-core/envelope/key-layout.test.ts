import { describe, expect, it } from 'vitest';
import { HeError } from '../errors.js';
import { HeContext, compile, encodeKeyEnvelope, loadSeal, openKeyEnvelope, parseModel } from '../index.js';
import { ClientKeyPair } from '../client/index.js';
import { checkKeySwitchingKeys, decompressSealObject } from './seal-object.js';
import { readFileSync } from 'node:fs';

// Regression: SEAL's key loader resized its tables to whatever the bytes declared, so one flipped
// bit in an uploaded key grew a worker's heap by over a gigabyte. The layout is now checked first.
describe('evaluation-key layout check', () => {
  it('refuses declared sizes that do not fit the plan before SEAL allocates anything', async () => {
    const rt = await loadSeal();
    const model = parseModel(readFileSync(new URL('../../assets/models/breast-cancer.json', import.meta.url), 'utf8'));
    const plan = compile(rt.seal, model).public;
    const ctx = HeContext.create(rt, plan.params);
    const pair = ClientKeyPair.generate(ctx);
    const keys = pair.createEvaluationKeys(plan);
    // The seeded form as a client sends it, inflated: what the service checks.
    const plain = decompressSealObject(keys.galois!, 64 * 2 ** 20);
    const shape = { polyModulusDegree: plan.params.polyModulusDegree, primes: plan.params.primes.length, decomposition: plan.params.primes.length - 1, keys: plan.galoisSteps.length, maxIndices: plan.params.polyModulusDegree };
    expect(() => checkKeySwitchingKeys(plain, shape)).not.toThrow();

    const code = (bytes: Uint8Array): string => {
      try {
        checkKeySwitchingKeys(bytes, shape);
        return 'accepted';
      } catch (err) {
        return (err as HeError).code;
      }
    };
    const at = (offset: number, value: bigint): Uint8Array => {
      const b = plain.slice();
      new DataView(b.buffer).setBigUint64(offset, value, true);
      return b;
    };
    // The slot count (after the 16-byte header and the 32-byte parms id), a component count, a nested size.
    expect(code(at(48, 2n ** 40n))).toBe('keys_invalid');
    expect(code(at(48, 1n))).toBe('keys_invalid');
    // Slot counts follow one another (8 bytes each) until the first present key.
    const view = new DataView(plain.buffer, plain.byteOffset);
    let firstCount = 56;
    while (view.getBigUint64(firstCount, true) === 0n) firstCount += 8;
    expect(code(at(firstCount, 1_000_000_000n))).toBe('keys_invalid');
    expect(code(at(firstCount + 8 + 8, 2n ** 33n))).toBe('keys_invalid');
    expect(code(plain.slice(0, plain.length - 5))).toBe('seal_object_invalid');
    // The seed object that ends each seeded component: its declared size must be what is left.
    const componentStart = firstCount + 8;
    const componentSize = Number(view.getBigUint64(componentStart + 8, true));
    const seedHeader = componentStart + componentSize - 81;
    expect(view.getUint16(seedHeader, true)).toBe(0xa15e);
    expect(code(at(seedHeader + 8, 0x51_0000_0000n))).toBe('keys_invalid');

    // Through the real loader: a flipped slot count costs no memory.
    const before = rt.heapBytes();
    const flipped = at(48, 2n ** 26n);
    const body = encodeKeyEnvelope(plan.params.fingerprint, null, flipped);
    expect(() => openKeyEnvelope(ctx, plan, body)).toThrow(HeError);
    expect(rt.heapBytes() - before).toBeLessThan(16 * 2 ** 20);
    pair.dispose();
    ctx.dispose();
  });

  it('refuses keys that are not seeded, and says so, whether they are sent compressed or not', async () => {
    const rt = await loadSeal();
    const { seal } = rt;
    for (const [file, mode] of [['mnist-cnn', 'single'], ['mnist-cnn', 'batch'], ['breast-cancer', 'single']] as const) {
      const model = parseModel(readFileSync(new URL(`../../assets/models/${file}.json`, import.meta.url), 'utf8'));
      const plan = compile(rt.seal, model, { mode }).public;
      const ctx = HeContext.create(rt, plan.params);
      const keygen = new seal.KeyGenerator(ctx.context);
      // The plain (not *Serializable) objects: both polynomials of every component.
      const relin = plan.relinearization ? keygen.createRelinKeys() : null;
      const galois = plan.galoisSteps.length > 0 ? keygen.createGaloisKeysWithSteps(Int32Array.from(plan.galoisSteps)) : null;
      try {
        for (const compression of [seal.ComprModeType.none, seal.ComprModeType.zstd]) {
          const body = encodeKeyEnvelope(plan.params.fingerprint, (relin?.saveToArray(compression) as Uint8Array | undefined) ?? null, (galois?.saveToArray(compression) as Uint8Array | undefined) ?? null);
          expect(() => openKeyEnvelope(ctx, plan, body)).toThrow(/keys must be seeded/);
        }
      } finally {
        relin?.delete();
        galois?.delete();
        keygen.delete();
        ctx.dispose();
      }
    }
  });
});
