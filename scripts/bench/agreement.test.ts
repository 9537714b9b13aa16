import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseModel } from '../../he-core/index.js';
import { Agreement } from './data.js';

const load = (id: string) => parseModel(readFileSync(new URL(`../../assets/models/${id}.json`, import.meta.url), 'utf8'));

describe('the benchmark’s agreement with the plaintext reference', () => {
  it('ten logits: a class flip between two logits within twice the tolerance is a tie, any other is a mismatch', () => {
    const model = load('mnist-cnn');
    const tau = Math.max(...model.testVectors.map((tv) => tv.tolerance));
    const reference = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9 + 1.5 * tau].map((v) => v * 0.1);
    reference[9] = 0.8 + 1.5 * tau;
    // Top two 1.5τ apart: each decrypted logit within τ, ranked the other way.
    const flipped = reference.slice();
    flipped[9] = reference[9]! - 0.8 * tau;
    flipped[8] = reference[8]! + 0.8 * tau;
    const a = new Agreement(model);
    a.add(reference, reference);
    a.add(flipped, reference);
    expect({ agree: a.agree, ties: a.ties, mismatches: a.classMismatches, out: a.outOfTolerance }).toEqual({ agree: true, ties: 1, mismatches: 0, out: 0 });
    expect(a.summary()).toMatch(/0 class mismatches \(and 1 class difference at a tie within the tolerance\)$/);
    // The same flip where the reference is 3τ apart needs an output beyond the tolerance: no agreement.
    const far = reference.slice();
    far[9] = 0.8 + 3 * tau;
    const wrong = far.slice();
    wrong[9] = far[9]! - 2 * tau;
    wrong[8] = far[8]! + 1.2 * tau;
    const b = new Agreement(model);
    b.add(wrong, far);
    expect({ agree: b.agree, ties: b.ties, mismatches: b.classMismatches, out: b.outOfTolerance }).toEqual({ agree: false, ties: 0, mismatches: 1, out: 1 });
  });

  it('one logit: a flip within the tolerance of the threshold is a tie; a wrong side beyond it is a mismatch', () => {
    const model = load('breast-cancer-mlp');
    const tau = Math.max(...model.testVectors.map((tv) => tv.tolerance));
    const a = new Agreement(model);
    a.add([-0.4 * tau], [0.5 * tau]);
    expect({ agree: a.agree, ties: a.ties }).toEqual({ agree: true, ties: 1 });
    a.add([-0.1], [0.5]);
    expect({ agree: a.agree, mismatches: a.classMismatches }).toEqual({ agree: false, mismatches: 1 });
  });
});
