import type { FeatureField } from '../api/contract.js';

export type FieldCheck = { ok: true; value: number } | { ok: false; message: string };

/** The allowed range in words, as every message and hint states it. */
export function rangeText(field: FeatureField): string {
  return `${field.min} to ${field.max}${field.unit ? ` ${field.unit}` : ''}`;
}

/** A categorical field's codes in words: "1 (code 1) or 2 (code 2)". */
export function codesText(field: FeatureField): string {
  const parts = (field.codes ?? []).map((c) => `${c.value} (${c.label})`);
  return parts.length <= 1 ? parts.join('') : `${parts.slice(0, -1).join(', ')} or ${parts[parts.length - 1]!}`;
}

/**
 * Checks one typed value against the schema. Out-of-range values are refused here, before
 * anything is encrypted or sent; the message names the allowed range.
 */
export function checkField(field: FeatureField, text: string): FieldCheck {
  const trimmed = text.trim().replace(/,/g, '.');
  if (trimmed === '') return { ok: false, message: field.type === 'categorical' && field.codes ? `Choose ${field.label.toLowerCase()}: ${codesText(field)}.` : `Enter ${field.label.toLowerCase()}: a value from ${rangeText(field)}.` };
  const value = Number(trimmed);
  if (!/^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(trimmed) || !Number.isFinite(value)) return { ok: false, message: `“${text.trim()}” is not a number. Enter a value from ${rangeText(field)}.` };
  if (field.type === 'categorical' && field.codes && !field.codes.some((c) => c.value === value)) {
    return { ok: false, message: `${value} is not one of the codes: choose ${codesText(field)}.` };
  }
  if (field.type === 'integer' && !Number.isInteger(value)) return { ok: false, message: `${value} is not a whole number: enter a whole number from ${rangeText(field)}.` };
  if (value < field.min || value > field.max) return { ok: false, message: `${value} is outside the allowed range: enter a value from ${rangeText(field)}.` };
  return { ok: true, value };
}

/** How a value is written into the form: exactly, so that a filled-in sample is sent unchanged. */
export function fieldText(value: number): string {
  return String(value);
}
