import { useMemo, useRef, useState } from 'react';
import type { FormEvent } from 'react';
import type { FeatureField, ModelSummary } from '../api/contract.js';
import { checkField, codesText, fieldText, rangeText } from './validation.js';

type Values = Record<string, string>;

function emptyValues(features: FeatureField[]): Values {
  return Object.fromEntries(features.map((f) => [f.name, '']));
}

/**
 * The input form generated from the model's schema: one labelled field per feature with its unit,
 * allowed range and typical value; inline validation; out-of-range values are refused before
 * anything is encrypted.
 */
export function FeatureForm({ model, features, disabled, onSubmit }: { model: ModelSummary; features: FeatureField[]; disabled: boolean; onSubmit: (values: number[]) => void }) {
  const [values, setValues] = useState<Values>(() => emptyValues(features));
  const [touched, setTouched] = useState<Record<string, boolean>>({});
  const [submitted, setSubmitted] = useState(false);
  const summaryRef = useRef<HTMLDivElement>(null);
  const checks = useMemo(() => Object.fromEntries(features.map((f) => [f.name, checkField(f, values[f.name] ?? '')])), [features, values]);
  const invalid = features.filter((f) => !checks[f.name]!.ok);
  const idOf = (f: FeatureField) => `field-${model.id}-${f.name}`;

  function fill(source: 'sample' | 'typical') {
    setValues(Object.fromEntries(features.map((f, i) => [f.name, fieldText(source === 'sample' ? (model.sample[i] ?? f.typical) : f.typical)])));
    setTouched({});
    setSubmitted(false);
  }

  function clear() {
    setValues(emptyValues(features));
    setTouched({});
    setSubmitted(false);
  }

  function submit(event: FormEvent) {
    event.preventDefault();
    setSubmitted(true);
    if (invalid.length > 0) {
      // Move to the summary so that a screen reader hears how many fields need attention.
      requestAnimationFrame(() => summaryRef.current?.focus());
      return;
    }
    onSubmit(features.map((f) => (checks[f.name] as { ok: true; value: number }).value));
  }

  return (
    <form className="card feature-form" onSubmit={submit} noValidate aria-labelledby="form-title" data-testid="feature-form">
      <h2 id="form-title">Patient values</h2>
      <p className="muted small">Every value is checked against the model’s allowed range here, before anything is encrypted or sent.</p>
      <div className="actions">
        <button type="button" className="button" onClick={() => fill('sample')} disabled={disabled} data-testid="fill-sample">
          Fill in a sample patient
        </button>
        <button type="button" className="button ghost" onClick={() => fill('typical')} disabled={disabled}>
          Fill in typical values
        </button>
        <button type="button" className="button ghost" onClick={clear} disabled={disabled}>
          Clear
        </button>
      </div>
      {submitted && invalid.length > 0 && (
        <div className="notice error" role="alert" tabIndex={-1} ref={summaryRef} data-testid="form-errors">
          <p>
            <strong>
              {invalid.length === 1 ? 'One value needs attention' : `${invalid.length} values need attention`}; nothing was sent.
            </strong>
          </p>
          <ul>
            {invalid.slice(0, 8).map((f) => (
              <li key={f.name}>
                <a href={`#${idOf(f)}`} onClick={(e) => { e.preventDefault(); document.getElementById(idOf(f))?.focus(); }}>
                  {f.label}
                </a>
                : {(checks[f.name] as { ok: false; message: string }).message}
              </li>
            ))}
            {invalid.length > 8 && <li>and {invalid.length - 8} more.</li>}
          </ul>
        </div>
      )}
      <div className="field-grid">
        {features.map((f) => {
          const check = checks[f.name]!;
          const showError = !check.ok && (submitted || touched[f.name] === true);
          const id = idOf(f);
          // What the text field and the choice of codes share.
          const control = {
            id,
            name: f.name,
            value: values[f.name] ?? '',
            disabled,
            onBlur: () => setTouched((t) => ({ ...t, [f.name]: true })),
            'aria-invalid': showError,
            'aria-describedby': `${id}-hint${showError ? ` ${id}-error` : ''}`,
            'data-field': f.name,
          };
          return (
            <div className="field" key={f.name}>
              <label htmlFor={id}>
                {f.label} {f.unit && <span className="unit">({f.unit})</span>}
              </label>
              {f.type === 'categorical' && f.codes ? (
                <select {...control} onChange={(e) => setValues((v) => ({ ...v, [f.name]: e.target.value }))}>
                  <option value="">Choose…</option>
                  {f.codes.map((c) => (
                    <option key={c.value} value={fieldText(c.value)}>
                      {c.value}: {c.label}
                    </option>
                  ))}
                </select>
              ) : (
                <input
                  {...control}
                  type="text"
                  inputMode={f.type === 'integer' ? 'numeric' : 'decimal'}
                  autoComplete="off"
                  spellCheck={false}
                  placeholder={String(f.typical)}
                  onChange={(e) => setValues((v) => ({ ...v, [f.name]: e.target.value }))}
                />
              )}
              <p id={`${id}-hint`} className="hint">
                Typical {f.typical}; {f.type === 'categorical' && f.codes ? `one of ${codesText(f)}` : `allowed ${f.type === 'integer' ? 'whole numbers from ' : ''}${rangeText(f)}`}
              </p>
              {showError && (
                <p id={`${id}-error`} className="field-error" data-testid={`error-${f.name}`}>
                  {(check as { ok: false; message: string }).message}
                </p>
              )}
            </div>
          );
        })}
      </div>
      <div className="actions">
        <button type="submit" className="button primary" disabled={disabled} data-testid="run-prediction">
          Encrypt and predict
        </button>
      </div>
    </form>
  );
}
