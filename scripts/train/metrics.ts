import type { ModelFile } from '../../he-core/model/format.js';
import { argmax, postprocess, referenceForward } from '../../he-core/model/reference.js';
import type { Rows } from '../datasets/types.js';

/** The metric fields of `HeldOutMetrics` that a model's task reports. */
export interface TaskMetrics {
  accuracy?: number;
  auc?: number;
  rmse?: number;
  mae?: number;
  r2?: number;
}

/** Metrics are written with 6 decimals: enough to compare, short enough to read. */
export function roundMetric(v: number): number {
  return Number(v.toFixed(6));
}

/** Area under the ROC curve (Mann-Whitney U, ties counted half). */
export function rocAuc(scores: readonly number[], positive: readonly boolean[]): number {
  const order = scores.map((s, i) => ({ s, p: positive[i]! })).sort((a, b) => a.s - b.s);
  let rankSumPositive = 0;
  let i = 0;
  while (i < order.length) {
    let j = i;
    while (j + 1 < order.length && order[j + 1]!.s === order[i]!.s) j++;
    const averageRank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) if (order[k]!.p) rankSumPositive += averageRank;
    i = j + 1;
  }
  const nPos = positive.filter(Boolean).length;
  const nNeg = positive.length - nPos;
  return (rankSumPositive - (nPos * (nPos + 1)) / 2) / (nPos * nNeg);
}

/**
 * The model's metrics on `rows`, computed with he-core's float64 reference on the stored model
 * exactly as a client would: raw input -> preprocess -> layers -> postprocess.
 */
export function evaluateModel(model: ModelFile, rows: Rows): TaskMetrics {
  const outputs = rows.x.map((x) => referenceForward(model, x));
  switch (model.task) {
    case 'binary-classification': {
      const logits = outputs.map((o) => o[0]!);
      const positive = rows.y.map((y) => y === 1);
      const correct = logits.filter((l, i) => (postprocess(model.postprocess, [l]).classIndex === 1) === positive[i]).length;
      return { accuracy: roundMetric(correct / rows.y.length), auc: roundMetric(rocAuc(logits, positive)) };
    }
    case 'multiclass-classification': {
      const correct = outputs.filter((o, i) => argmax(o) === rows.y[i]).length;
      return { accuracy: roundMetric(correct / rows.y.length) };
    }
    case 'regression': {
      const predicted = outputs.map((o) => postprocess(model.postprocess, o).values[0]!);
      const n = rows.y.length;
      const mean = rows.y.reduce((a, b) => a + b, 0) / n;
      let sse = 0;
      let sae = 0;
      let sst = 0;
      rows.y.forEach((y, i) => {
        const e = predicted[i]! - y;
        sse += e * e;
        sae += Math.abs(e);
        sst += (y - mean) * (y - mean);
      });
      return { rmse: roundMetric(Math.sqrt(sse / n)), mae: roundMetric(sae / n), r2: roundMetric(1 - sse / sst) };
    }
  }
}
