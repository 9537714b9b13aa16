// `npm run explain [-- model-id ...]`: the compiled plan of each bundled model, single and batch.
import { compile, explain, loadSeal } from '../he-core/index.js';
import { loadBundledModels } from './bundled-models.js';

const wanted = process.argv.slice(2);
const rt = await loadSeal();
for (const model of loadBundledModels()) {
  if (wanted.length > 0 && !wanted.includes(model.id)) continue;
  for (const mode of ['single', 'batch'] as const) {
    console.log(explain(compile(rt.seal, model, { mode })));
    console.log('');
  }
}
