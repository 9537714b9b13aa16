import { describe, expect, it } from 'vitest';
import { csvField, formatCsv, parseCsv, parseNumber } from '../../main/flow/csv.js';
import { FlowError } from '../../main/flow/errors.js';

describe('CSV (RFC 4180 subset)', () => {
  it('reads a header, quoted fields with commas, doubled quotes and line breaks, CRLF or LF, a BOM, blank lines', () => {
    const text = '\ufeffid,"a b",c\r\n1,"x, y",2\n\n"2","say ""hi""","multi\nline"\r\n3,,\n';
    const t = parseCsv(text);
    expect(t.header).toEqual(['id', 'a b', 'c']);
    expect(t.records.map((r) => r.cells)).toEqual([
      ['1', 'x, y', '2'],
      ['2', 'say "hi"', 'multi\nline'],
      ['3', '', ''],
    ]);
    expect(t.records.map((r) => r.line)).toEqual([2, 4, 6]);
  });

  it('refuses malformed quoting and an empty file with a csv_invalid error', () => {
    for (const bad of ['a,b\n1,"open', 'a,b\n1,x"y', 'a,b\n"1"x,2', '']) {
      expect(() => parseCsv(bad)).toThrow(FlowError);
    }
  });

  it('writes fields quoted only when needed, and defuses spreadsheet formulas', () => {
    expect(csvField('plain')).toBe('plain');
    expect(csvField('a, "b"')).toBe('"a, ""b"""');
    expect(csvField('=HYPERLINK("x")')).toBe(`"'=HYPERLINK(""x"")"`);
    expect(csvField(-0.5)).toBe('-0.5');
    expect(csvField(undefined)).toBe('');
    expect(formatCsv(['row', 'error'], [[1, 'bad, row']])).toBe('row,error\r\n1,"bad, row"\r\n');
    expect(parseCsv(formatCsv(['a', 'b'], [['x\ny', 'q"q']])).records[0]!.cells).toEqual(['x\ny', 'q"q']);
  });

  it('parses numbers strictly', () => {
    expect(parseNumber(' 12.5 ')).toBe(12.5);
    expect(parseNumber('-1e-3')).toBe(-0.001);
    expect(parseNumber('.5')).toBe(0.5);
    for (const bad of ['', 'abc', '0x10', 'Infinity', '1,5', '1.2.3', 'NaN']) expect(parseNumber(bad)).toBeNaN();
  });
});
