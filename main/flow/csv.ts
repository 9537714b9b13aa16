import { FlowError } from './errors.js';

/**
 * CSV, the RFC 4180 subset CipherCare reads and writes: a header row, comma separators, fields
 * optionally in double quotes (a quote inside doubled, commas and line breaks allowed inside),
 * CRLF or LF line ends, an optional UTF-8 byte-order mark, blank lines ignored.
 */
export interface CsvTable {
  header: string[];
  /** Data records, each with the 1-based line of the file where it starts (for messages). */
  records: { line: number; cells: string[] }[];
}

export function parseCsv(text: string): CsvTable {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const rows: { line: number; cells: string[] }[] = [];
  let cells: string[] = [];
  let field = '';
  let quoted = false;
  let fieldWasQuoted = false;
  let line = 1;
  let rowLine = 1;
  let fieldWasQuotedRow = false;
  const endField = (): void => {
    cells.push(field);
    field = '';
    fieldWasQuoted = false;
  };
  const endRow = (): void => {
    endField();
    // A blank line is one empty, unquoted field: skip it.
    if (!(cells.length === 1 && cells[0] === '' && !fieldWasQuotedRow)) rows.push({ line: rowLine, cells });
    cells = [];
    fieldWasQuotedRow = false;
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else {
        if (c === '\n') line++;
        field += c;
      }
      continue;
    }
    if (c === '"') {
      if (field.length > 0 || fieldWasQuoted) throw new FlowError('csv_invalid', `CSV line ${line}: a quote inside an unquoted field (quote the whole field and double the quote)`);
      quoted = true;
      fieldWasQuoted = true;
      fieldWasQuotedRow = true;
    } else if (c === ',') {
      endField();
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      endRow();
      line++;
      rowLine = line;
    } else {
      if (fieldWasQuoted) throw new FlowError('csv_invalid', `CSV line ${line}: text after the closing quote of a field`);
      field += c;
    }
  }
  if (quoted) throw new FlowError('csv_invalid', `CSV line ${rowLine}: a quoted field is not closed`);
  if (field.length > 0 || cells.length > 0 || fieldWasQuoted) endRow();
  const header = rows.shift();
  if (!header) throw new FlowError('csv_invalid', 'the CSV file is empty: it needs a header row of feature names');
  return { header: header.cells.map((h) => h.trim()), records: rows };
}

/** One field, quoted when it has to be. Text starting with = + - @ is prefixed with ' so that spreadsheets do not run it. */
export function csvField(value: string | number | undefined): string {
  if (value === undefined) return '';
  let text = typeof value === 'number' ? String(value) : value;
  if (typeof value === 'string' && /^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function formatCsv(header: readonly string[], rows: readonly (readonly (string | number | undefined)[])[]): string {
  return [header, ...rows].map((r) => r.map(csvField).join(',')).join('\r\n') + '\r\n';
}

const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

/** A strict number: decimal notation only (no hex, no "Infinity", no empty string). NaN when it is not one. */
export function parseNumber(text: string): number {
  const t = text.trim();
  return NUMBER.test(t) ? Number(t) : Number.NaN;
}
