// Runs benchKeyMemory alone: `npx tsx scripts/bench/key-memory-run.ts [model] [sessions] [sessionCacheBytes]`
// (default breast-cancer-mlp, 160 sessions, the service's default cache), prints JSON.
import { loadBundledModels } from '../bundled-models.js';
import { benchKeyMemory } from './memory.js';

const [modelId = 'breast-cancer-mlp', sessions = '160', cacheBytes] = process.argv.slice(2);
const model = loadBundledModels().find((m) => m.id === modelId);
if (!model) throw new Error(`no bundled model ${modelId}`);
const result = await benchKeyMemory({
  model,
  sessions: Number(sessions),
  workers: 2,
  ...(cacheBytes ? { sessionCacheBytes: Number(cacheBytes) } : {}),
  log: (line) => process.stderr.write(`${line}\n`),
});
process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
