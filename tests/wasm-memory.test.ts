import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSeal } from '../he-core/index.js';
import type { SealRuntime } from '../he-core/index.js';
import { loadBreastCancer } from '../scripts/datasets/breast-cancer.js';
import { compare, createRig, loadBundledModel } from './encrypted/harness.js';
import type { EncryptedRig } from './encrypted/harness.js';

// WebAssembly memory is freed by hand: if any SEAL object leaked, 500 predictions would grow the
// heap well past its post-warm-up size. Allowed growth after warm-up: 5%.
const PREDICTIONS = 500;
const WARM_UP = 50;
const MAX_GROWTH = 0.05;

describe('WebAssembly heap over 500 encrypted predictions', () => {
  const model = loadBundledModel('breast-cancer-mlp');
  const rows = loadBreastCancer().test.x;
  let runtime: SealRuntime;
  let rig: EncryptedRig;
  beforeAll(async () => {
    runtime = await loadSeal();
    rig = await createRig(model, 'single');
  });
  afterAll(() => rig?.dispose());

  it('stops growing after warm-up (< 5%) and every answer stays correct', () => {
    let afterWarmUp = 0;
    for (let i = 0; i < PREDICTIONS; i++) {
      const x = rows[i % rows.length]!;
      const out = rig.predict([x]);
      // Every 50th answer is checked against the plaintext reference (class and 1e-2 on the logit).
      if (i % 50 === 0) {
        const agreement = compare(model, [x], out);
        expect(agreement.sameClass).toBe(1);
        expect(agreement.maxOutputError).toBeLessThan(1e-2);
      }
      if (i === WARM_UP - 1) afterWarmUp = runtime.heapBytes();
    }
    const final = runtime.heapBytes();
    expect(afterWarmUp).toBeGreaterThan(0);
    expect((final - afterWarmUp) / afterWarmUp).toBeLessThan(MAX_GROWTH);
  }, 300_000);
});
