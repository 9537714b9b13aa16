import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadMnist } from '../../scripts/datasets/mnist.js';
import { compare, createRig, loadBundledModel } from './harness.js';
import type { EncryptedRig } from './harness.js';

// Held-out images encrypted one per request in the im2col layout: the encrypted class must equal
// the plaintext reference's on every image; logits within 1e-2 absolute (logits reach about 15).
const IMAGES = 200;
const LOGIT_TOLERANCE = 1e-2;

describe('mnist-cnn: encrypted evaluation of held-out images equals the plaintext reference', () => {
  const model = loadBundledModel('mnist-cnn');
  const test = loadMnist().test;
  const images = test.x.slice(0, IMAGES);
  let rig: EncryptedRig;
  beforeAll(async () => {
    rig = await createRig(model, 'single');
  });
  afterAll(() => rig?.dispose());

  it(`classifies ${IMAGES} held-out images exactly as the reference`, () => {
    const outputs = images.map((x) => rig.predict([x])[0]!);
    const agreement = compare(model, images, outputs);
    expect(agreement.sameClass).toBe(IMAGES);
    expect(agreement.maxOutputError).toBeLessThan(LOGIT_TOLERANCE);
  }, 600_000);

  it('reproduces the published test vectors within their tolerance', () => {
    for (const tv of model.testVectors) {
      const out = rig.predict([tv.input])[0]!;
      tv.expected.forEach((e, j) => expect(Math.abs(out[j]! - e)).toBeLessThanOrEqual(tv.tolerance));
    }
  });
});
