// Memory: the service process's RSS after 100 and after 1,000 single-mode predictions.
import { BenchClient } from './client.js';
import { CpuMeter, othersCores } from './cpu.js';
import { startServiceProcess } from './service-process.js';

export interface MemoryOptions {
  modelId: string;
  rows: readonly number[][];
  /** Concurrent requests (so that every worker takes part). */
  concurrency: number;
  workers: number;
}

export async function benchMemory(options: MemoryOptions): Promise<{ afterSession: number; after100: number; after1000: number; otherCores: number }> {
  const service = await startServiceProcess(options.workers);
  let client: BenchClient | undefined;
  try {
    const entry = service.catalog.find((m) => m.id === options.modelId);
    if (!entry) throw new Error(`the service has no model ${options.modelId}`);
    client = await BenchClient.open(service.endpoint, entry, 'single');
    const afterSession = service.rss();
    const meter = CpuMeter.start(service.pid === undefined ? [] : [service.pid]);
    let done = 0;
    const runTo = async (target: number): Promise<void> => {
      await Promise.all(
        Array.from({ length: options.concurrency }, async () => {
          while (done < target) {
            const i = done++;
            await client!.predict([options.rows[i % options.rows.length]!]);
          }
        }),
      );
    };
    await runTo(100);
    const after100 = service.rss();
    await runTo(1000);
    const after1000 = service.rss();
    return { afterSession, after100, after1000, otherCores: othersCores(meter) };
  } finally {
    await client?.close().catch(() => undefined);
    await service.stop();
  }
}
