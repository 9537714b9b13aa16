import { describe, expect, it } from 'vitest';
import type { FeatureField } from '../api/contract.js';
import { checkField, fieldText } from './validation.js';

const age: FeatureField = { name: 'age', label: 'Age', unit: 'years', min: 13, max: 85, typical: 50, decimals: 0 };

describe('form validation', () => {
  it('accepts a value in range, with a decimal comma too', () => {
    expect(checkField(age, ' 42 ')).toEqual({ ok: true, value: 42 });
    expect(checkField(age, '42,5')).toEqual({ ok: true, value: 42.5 });
  });

  it('refuses out-of-range, empty and non-numeric values, naming the allowed range', () => {
    for (const text of ['200', '12.9', '', 'old', '4O', 'Infinity', '0x20']) {
      const check = checkField(age, text);
      expect(check.ok).toBe(false);
      expect(check.ok ? '' : check.message).toContain('13 to 85 years');
    }
  });

  it('writes a sample value back exactly', () => {
    expect(Number(fieldText(0.004571))).toBe(0.004571);
  });
});
