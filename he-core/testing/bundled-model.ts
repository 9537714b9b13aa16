import { readFileSync } from 'node:fs';
import type { ModelFile } from '../model/format.js';
import { parseModel } from '../model/validate.js';

/** Tests only: a bundled model from assets/models, parsed and validated. */
export function bundledModel(id: string): ModelFile {
  return parseModel(readFileSync(new URL(`../../assets/models/${id}.json`, import.meta.url), 'utf8'));
}
