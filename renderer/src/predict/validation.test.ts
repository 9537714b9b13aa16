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

  it('refuses a fraction in a whole-number field and a value between the codes of a coded field', () => {
    const years: FeatureField = { ...age, type: 'integer' };
    expect(checkField(years, '42')).toEqual({ ok: true, value: 42 });
    expect(checkField(years, '42.5')).toEqual({ ok: false, message: '42.5 is not a whole number: enter a whole number from 13 to 85 years.' });
    const sex: FeatureField = { name: 'sex', label: 'Sex', unit: 'code', min: 1, max: 2, typical: 1, type: 'categorical', codes: [{ value: 1, label: 'code 1' }, { value: 2, label: 'code 2' }] };
    expect(checkField(sex, '2')).toEqual({ ok: true, value: 2 });
    expect(checkField(sex, '1.5')).toEqual({ ok: false, message: '1.5 is not one of the codes: choose 1 (code 1) or 2 (code 2).' });
    expect(checkField(sex, '')).toEqual({ ok: false, message: 'Choose sex: 1 (code 1) or 2 (code 2).' });
  });

  it('writes a sample value back exactly', () => {
    expect(Number(fieldText(0.004571))).toBe(0.004571);
  });
});
