import { describe, expect, it } from 'vitest';
import type { ModelSummary } from '../api/contract.js';
import { encryptionRows, predicts, quality, statisticsRows } from './describe.js';

const he: ModelSummary['he'] = { polyModulusDegree: 8192, securityBits: 128, levels: 3, rotationKeys: 5, evaluationKeyBytes: 2048, requestBytes: 1024, responseBytes: 512, samplesPerBatch: 64 };
const binary: ModelSummary = {
  id: 'bc',
  version: '1',
  title: 'Breast mass',
  description: '',
  task: 'binary-classification',
  input: { kind: 'features', features: [] },
  outputLabels: ['malignant'],
  negativeLabel: 'benign',
  precision: 3,
  metrics: { accuracy: 0.973684, auc: 0.992, testRows: 114, trainRows: 455 },
  he,
  sample: [],
};
const regression: ModelSummary = { ...binary, task: 'regression', outputLabels: ['disease progression'], unit: 'index (one year)', metrics: { rmse: 54.3, mae: 44.56, r2: 0.508, testRows: 88, trainRows: 354 } };

describe('the catalog in plain words', () => {
  it('says what a model predicts and how good it is without statistical terms', () => {
    expect(predicts(binary)).toBe('The chance of malignant rather than benign, from 0% to 100%.');
    expect(quality(binary)).toBe('Right for 97 of every 100 test cases, which it never saw while learning (114 cases).');
    expect(quality(regression)).toBe('Off by about 45 on the scale “index (one year)” on average, on test cases it never saw while learning (88 cases).');
    for (const text of [predicts(binary), quality(binary), predicts(regression), quality(regression)]) {
      expect(text).not.toMatch(/AUC|R²|RMSE|MAE|held-out|ring|rotation|CKKS/i);
    }
  });

  it('keeps every statistic and encryption parameter for the technical details, each explained', () => {
    const rows = [...statisticsRows(binary), ...statisticsRows(regression), ...encryptionRows(binary)];
    expect(rows.map((r) => r.term)).toEqual(
      expect.arrayContaining(['Accuracy', 'ROC AUC', 'RMSE', 'MAE', 'R²', 'Held-out test cases', 'Ring dimension', 'Multiplicative levels', 'Rotation keys']),
    );
    for (const r of rows) expect(r.explain).toMatch(/^[A-Z].{10,}\.$/);
  });
});
