// The calibration CSV of `npm run models -- import`: a header row of input names, then one input
// per row (an image flattened row by row, channel by channel). It sets the input ranges of a draft
// card, the value bounds the compiler sizes the modulus chain from, and the rows import verifies on.
import { readFileSync } from 'node:fs';
import { ImportError } from './errors.js';

export interface Calibration {
  names: string[];
  rows: number[][];
}

export function parseCalibration(text: string, file: string, expected: number): Calibration {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  if (lines.length < 2) throw new ImportError(`${file} needs a header row of input names and at least one row of values`, 2);
  const names = lines[0]!.split(',').map((n) => n.trim());
  if (names.length !== expected) throw new ImportError(`${file} has ${names.length} columns; the model takes ${expected} input values (one column each)`, 2);
  const seen = new Set<string>();
  for (const n of names) {
    if (!/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(n)) throw new ImportError(`${file}: column name "${n}" must start with a letter or _ and hold letters, digits, _, . or - only`, 2);
    if (seen.has(n)) throw new ImportError(`${file}: column "${n}" appears twice`, 2);
    seen.add(n);
  }
  const rows = lines.slice(1).map((line, r) => {
    const cells = line.split(',');
    if (cells.length !== expected) throw new ImportError(`${file} row ${r + 1}: ${cells.length} values, expected ${expected}`, 2);
    return cells.map((c, i) => {
      const v = Number(c);
      if (c.trim() === '' || !Number.isFinite(v)) throw new ImportError(`${file} row ${r + 1}, column ${names[i]}: "${c}" is not a number`, 2);
      return v;
    });
  });
  return { names, rows };
}

export function readCalibration(file: string, expected: number): Calibration {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ImportError(`cannot read the calibration data ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`, 2);
  }
  return parseCalibration(text, file, expected);
}
