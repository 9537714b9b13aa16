import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The bundled copies in assets/datasets, found from this file so any working directory works. */
export const DATASETS_DIR = fileURLToPath(new URL('../../assets/datasets/', import.meta.url));

export function readDatasetText(file: string): string {
  return readFileSync(DATASETS_DIR + file, 'utf8');
}

/** Parses one numeric field, refusing anything that is not a finite number. */
export function parseNumber(text: string, where: string): number {
  const v = Number(text);
  if (text.trim() === '' || !Number.isFinite(v)) throw new Error(`${where}: "${text}" is not a number`);
  return v;
}
