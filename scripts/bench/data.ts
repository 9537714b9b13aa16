// Held-out rows to encrypt, and the comparison of decrypted outputs with the plaintext reference.
import { postprocess } from '../../he-core/index.js';
import type { ModelFile } from '../../he-core/index.js';
import { loadBreastCancer } from '../datasets/breast-cancer.js';
import { loadDiabetes } from '../datasets/diabetes.js';
import { loadMnist } from '../datasets/mnist.js';

const cache = new Map<string, number[][]>();

function datasetRows(name: 'mnist' | 'breast-cancer' | 'diabetes'): number[][] {
  let rows = cache.get(name);
  if (!rows) {
    rows = name === 'mnist' ? loadMnist().test.x : name === 'breast-cancer' ? loadBreastCancer().test.x : loadDiabetes().test.x;
    cache.set(name, rows);
  }
  return rows;
}

/** The model's held-out test rows (raw inputs); the model's own test vectors for a model of unknown data. */
export function heldOutRows(model: ModelFile): number[][] {
  const source = model.id.startsWith('mnist') ? 'mnist' : model.id.startsWith('breast-cancer') ? 'breast-cancer' : model.id.startsWith('diabetes') ? 'diabetes' : null;
  const rows = source ? datasetRows(source) : [];
  return rows.length > 0 ? rows : model.testVectors.map((tv) => tv.input);
}

/** `count` rows: the held-out rows in order, repeated to fill. */
export function fill(rows: readonly number[][], count: number): number[][] {
  return Array.from({ length: count }, (_, i) => rows[i % rows.length]!);
}

/**
 * Agreement of decrypted outputs with the float64 reference: every raw output within the model's
 * test-vector tolerance, and the same class for classification models, except at a tie at that
 * precision: where the reference itself puts the two classes within twice the tolerance of each
 * other (one logit: within the tolerance of the decision threshold), outputs that each keep the
 * promised precision may rank them either way. Such a sample is counted as a tie, not a mismatch
 * (mnist-cnn's held-out row 155 has its top two logits 0.0042 apart, against a tolerance of 0.01).
 */
export class Agreement {
  private readonly tolerance: number;
  samples = 0;
  outOfTolerance = 0;
  classMismatches = 0;
  /** Class differences at a tie at the model's precision (see above): reported, not a disagreement. */
  ties = 0;
  maxError = 0;

  constructor(private readonly model: ModelFile) {
    this.tolerance = Math.max(...model.testVectors.map((tv) => tv.tolerance));
  }

  add(decrypted: ArrayLike<number>, reference: ArrayLike<number>): void {
    this.samples++;
    let worst = 0;
    for (let i = 0; i < reference.length; i++) worst = Math.max(worst, Math.abs(decrypted[i]! - reference[i]!));
    if (!(worst <= this.tolerance)) this.outOfTolerance++;
    this.maxError = Math.max(this.maxError, Number.isNaN(worst) ? Infinity : worst);
    const a = postprocess(this.model.postprocess, decrypted).classIndex;
    const b = postprocess(this.model.postprocess, reference).classIndex;
    if (a === b) return;
    const tie = reference.length === 1 ? Math.abs(reference[0]!) <= this.tolerance : a !== undefined && b !== undefined && Math.abs(reference[b]! - reference[a]!) <= 2 * this.tolerance;
    if (tie) this.ties++;
    else this.classMismatches++;
  }

  get agree(): boolean {
    return this.samples > 0 && this.outOfTolerance === 0 && this.classMismatches === 0;
  }

  summary(): string {
    return `${this.samples} samples, max |err| ${this.maxError.toExponential(1)} (tolerance ${this.tolerance}), ${this.outOfTolerance} out of tolerance, ${this.classMismatches} class mismatches${this.ties ? ` (and ${this.ties} class ${this.ties === 1 ? 'difference' : 'differences'} at a tie within the tolerance)` : ''}`;
  }
}
