// Bench rows for a provider's own model imported from ONNX (docs/providers.md): the padded CNN of
// scripts/models/fixtures (Conv 3x3 padding 1 + batch norm, square, average pool, Gemm), imported
// exactly as `npm run models -- import` does, served from its own models directory by a service in
// this process, and measured by the same single and batch benches as the bundled models.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { startService } from '../../mock-service/service.js';
import { importOnnx } from '../models/onnx/import.js';
import { benchBatch } from './batch.js';
import type { BatchOptions } from './batch.js';
import { EvaluationClock } from './client.js';
import { benchSingle } from './single.js';
import type { SingleOptions } from './single.js';
import type { BatchDetail, BatchResult, SingleDetail, SingleResult } from './types.js';

const FIXTURES = fileURLToPath(new URL('../models/fixtures/', import.meta.url));

export interface ImportedBench {
  id: string;
  single: { result: SingleResult; detail: SingleDetail };
  batch: { result: BatchResult; detail: BatchDetail };
}

function csvRows(file: string): number[][] {
  return readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .slice(1)
    .map((l) => l.split(',').map(Number));
}

/** The padded CNN: imported (with its verification against onnxruntime), served, single and batch rows. */
export async function benchImported(options: { workers: number; single: SingleOptions; batch: BatchOptions; log: (line: string) => void }): Promise<ImportedBench> {
  const dir = mkdtempSync(join(tmpdir(), 'ciphercare-bench-onnx-'));
  try {
    const { model } = await importOnnx(
      { onnx: join(FIXTURES, 'cnn-padded-digits.onnx'), calibration: join(FIXTURES, 'digits.calibration.csv'), out: join(dir, 'models'), approximate: [], verifyRows: 200 },
      (line) => {
        if (line.startsWith('  encrypted vs onnxruntime')) options.log(`cnn-padded-digits import verification:${line.slice(1)}`);
      },
    );
    const service = await startService({ mode: 'bundled', workers: options.workers, modelsDir: join(dir, 'models'), jobTimeoutMs: 600_000, logger: pino({ level: 'silent' }) });
    try {
      if (!service.token) throw new Error('the service reported no token');
      const endpoint = { url: service.url, token: service.token };
      const entry = service.catalog.find((m) => m.id === model.id);
      if (!entry) throw new Error(`the service has no model ${model.id}`);
      const rows = csvRows(join(FIXTURES, 'digits.test.csv'));
      const clock = new EvaluationClock(endpoint);
      options.log(`${model.id} (imported from ONNX) single: ${options.single.runs} runs after ${options.single.warmups} warm-up`);
      const single = await benchSingle(endpoint, clock, model, entry, rows, options.single);
      options.log(`${model.id} (imported from ONNX) batch of ${entry.plans.batch.samplesPerRequest}`);
      const batch = await benchBatch(endpoint, clock, model, entry, rows, options.batch);
      return { id: model.id, single, batch };
    } finally {
      await service.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
