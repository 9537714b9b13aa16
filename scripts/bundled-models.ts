import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseModel } from '../he-core/index.js';
import type { ModelFile } from '../he-core/index.js';

export const MODELS_DIR = fileURLToPath(new URL('../assets/models/', import.meta.url));

/** Every bundled model file, validated, in a stable order. */
export function loadBundledModels(): ModelFile[] {
  return readdirSync(MODELS_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => parseModel(readFileSync(MODELS_DIR + f, 'utf8')));
}
