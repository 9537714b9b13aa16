import { useEffect, useMemo, useRef, useState } from 'react';
import type { DragEvent } from 'react';
import { bridge, newRunId, toUiError } from '../api/bridge.js';
import type { BatchView, BridgeError, ModelSummary } from '../api/contract.js';
import { Disclaimer } from '../result/Disclaimer.js';
import { ErrorNotice } from '../shell/ErrorNotice.js';
import { ScreenHeading } from '../shell/ScreenHeading.js';
import { formatBytes, formatValue } from '../shell/format.js';
import { batchRowTitle, errorTitle, sentence } from '../shell/wording.js';
import { templateCsv } from './csv-template.js';

const MAX_FILE_BYTES = 5 * 2 ** 20;

/** An object URL for a text, revoked when it changes or the screen closes. */
function useObjectUrl(text: string | null, type: string): string | null {
  const url = useMemo(() => (text === null ? null : URL.createObjectURL(new Blob([text], { type }))), [text, type]);
  useEffect(() => () => {
    if (url) URL.revokeObjectURL(url);
  }, [url]);
  return url;
}

/** Many patients from a CSV file: one encrypted batch, per-row results and errors, a result CSV. */
export function BatchScreen({ models, initialModelId }: { models: ModelSummary[]; initialModelId: string | null }) {
  const tabular = models.filter((m) => m.input.kind === 'features');
  const [modelId, setModelId] = useState(initialModelId && tabular.some((m) => m.id === initialModelId) ? initialModelId : (tabular[0]?.id ?? ''));
  const [file, setFile] = useState<{ name: string; size: number; text: string } | null>(null);
  const [dragging, setDragging] = useState(false);
  const [busy, setBusy] = useState(false);
  const [view, setView] = useState<BatchView | null>(null);
  const [error, setError] = useState<BridgeError | null>(null);
  const [inputsOpen, setInputsOpen] = useState(false);
  const resultHeading = useRef<HTMLHeadingElement>(null);
  const inputsSummary = useRef<HTMLElement>(null);
  const runIdRef = useRef<string | null>(null);
  const model = tabular.find((m) => m.id === modelId);
  const resultUrl = useObjectUrl(view?.csv ?? null, 'text/csv');
  const template = useObjectUrl(model && model.input.kind === 'features' ? templateCsv(model.input.features) : null, 'text/csv');

  useEffect(() => {
    if (view) resultHeading.current?.focus();
  }, [view]);

  // Leaving the screen mid-run cancels it.
  useEffect(
    () => () => {
      if (runIdRef.current) void bridge().predictions.cancel(runIdRef.current).catch(() => undefined);
    },
    [],
  );

  async function accept(picked: File | undefined) {
    setError(null);
    setView(null);
    if (!picked) return;
    if (picked.size > MAX_FILE_BYTES) {
      setFile(null);
      setError({ code: 'csv_too_large', message: `${picked.name} is ${formatBytes(picked.size)}; the limit is ${formatBytes(MAX_FILE_BYTES)}. Split it into smaller files.` });
      return;
    }
    setFile({ name: picked.name, size: picked.size, text: await picked.text() });
  }

  function drop(event: DragEvent<HTMLDivElement>) {
    event.preventDefault();
    setDragging(false);
    void accept(event.dataTransfer.files[0]);
  }

  async function run() {
    if (!file || !model) return;
    const runId = newRunId();
    runIdRef.current = runId;
    setBusy(true);
    setError(null);
    setView(null);
    try {
      setView(await bridge().batch.run({ runId, modelId: model.id, csv: file.text }));
    } catch (err) {
      const e = toUiError(err);
      setError(e.code === 'cancelled' ? { ...e, message: 'The batch was cancelled; nothing was stored.' } : e);
    } finally {
      runIdRef.current = null;
      setBusy(false);
    }
  }

  function cancel() {
    const runId = runIdRef.current;
    if (runId) void bridge().predictions.cancel(runId).catch(() => undefined);
  }

  function resultText(values: number[] | undefined, label: string | undefined): string {
    if (!model || !values) return '–';
    if (model.task === 'regression') return `${formatValue(values[0] ?? 0, model.precision)} ${model.unit ?? ''}`.trim();
    if (model.task === 'binary-classification') {
      const probability = `probability${model.outputLabels[0] ? ` of ${model.outputLabels[0]}` : ''} ${formatValue(values[0] ?? 0, model.precision)}`;
      return label ? `${label} (${probability})` : probability;
    }
    return label ?? values.map((v) => formatValue(v, model.precision)).join(', ');
  }

  /** Opens the list of the model's columns and moves focus there (the action a missing column calls for). */
  function showInputs() {
    setInputsOpen(true);
    requestAnimationFrame(() => inputsSummary.current?.focus());
  }

  const features = model && model.input.kind === 'features' ? model.input.features : [];
  const missingColumn = error?.code === 'csv_invalid' && error.field !== undefined && features.some((f) => f.name === error.field);

  if (tabular.length === 0) {
    return (
      <div className="screen batch" data-screen="batch">
        <ScreenHeading>Batch scoring</ScreenHeading>
        <p>The provider offers no tabular models; batch CSV scoring needs one.</p>
      </div>
    );
  }

  return (
    <div className="screen batch" data-screen="batch">
      <ScreenHeading>Batch scoring</ScreenHeading>
      <p className="lead">Score many patients from a CSV file. The rows are encrypted together on this computer; rows with a problem are reported and the rest are still scored.</p>
      <section className="card" aria-labelledby="batch-input-title">
        <h2 id="batch-input-title">CSV file</h2>
        <div className="field inline">
          <label htmlFor="batch-model">Model</label>
          <select
            id="batch-model"
            value={modelId}
            onChange={(e) => {
              setModelId(e.target.value);
              setView(null);
            }}
            disabled={busy}
          >
            {tabular.map((m) => (
              <option key={m.id} value={m.id}>
                {m.title}
              </option>
            ))}
          </select>
        </div>
        {model && features.length > 0 && (
          <>
            <p className="small">
              The first row of the file names the columns, one per input of the model, in any order; other columns are ignored. A template has the right first
              row and one row of typical values.
            </p>
            <details className="batch-inputs" id="batch-inputs" open={inputsOpen} onToggle={(e) => setInputsOpen(e.currentTarget.open)} data-testid="batch-inputs">
              <summary ref={inputsSummary}>The {features.length} columns this model needs</summary>
              <div className="table-scroll" tabIndex={0} role="region" aria-label={`Columns of ${model.title}`}>
                <table className="data-table small">
                  <thead>
                    <tr>
                      <th scope="col">Column name</th>
                      <th scope="col">What it is</th>
                      <th scope="col">Allowed values</th>
                    </tr>
                  </thead>
                  <tbody>
                    {features.map((f) => (
                      <tr key={f.name} data-column={f.name}>
                        <td>
                          <code>{f.name}</code>
                        </td>
                        <td>{f.label}</td>
                        <td>
                          {f.min} to {f.max} {f.unit}
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            </details>
            {template && (
              <p>
                <a className="button" href={template} download={`${model.id}-template.csv`} data-testid="batch-template">
                  Download a template
                </a>
              </p>
            )}
          </>
        )}
        <div
          className={`drop-zone${dragging ? ' dragging' : ''}`}
          onDragOver={(e) => {
            e.preventDefault();
            setDragging(true);
          }}
          onDragLeave={() => setDragging(false)}
          onDrop={drop}
          data-testid="drop-zone"
        >
          <p>Drop a CSV file here, or</p>
          <label htmlFor="batch-file" className="button">
            Choose a CSV file
          </label>
          <input id="batch-file" className="visually-hidden-file" type="file" accept=".csv,text/csv" onChange={(e) => void accept(e.target.files?.[0])} data-testid="batch-file" disabled={busy} />
          {file && (
            <p className="small" data-testid="batch-file-name">
              Selected: <strong>{file.name}</strong> ({formatBytes(file.size)}, {Math.max(0, file.text.trim().split(/\r?\n/).length - 1)} data rows)
            </p>
          )}
        </div>
        <div className="actions">
          <button type="button" className="button primary" onClick={() => void run()} disabled={!file || busy} aria-busy={busy} data-testid="batch-run">
            {busy ? 'Encrypting and scoring…' : 'Encrypt and score'}
          </button>
          {busy && (
            <button type="button" className="button danger" onClick={cancel}>
              Cancel
            </button>
          )}
        </div>
        <p className="sr-only" aria-live="polite">
          {busy ? 'Scoring the file…' : view ? `Done: ${view.scored} rows scored, ${view.failed} with errors.` : ''}
        </p>
      </section>
      <ErrorNotice error={error} title={error ? errorTitle(error.code, 'The file could not be scored.') : undefined}>
        {missingColumn && model && (
          <div className="actions" data-testid="error-actions">
            {template && (
              <a className="button" href={template} download={`${model.id}-template.csv`} data-testid="error-template">
                Download a template
              </a>
            )}
            <a
              href="#batch-inputs"
              onClick={(e) => {
                e.preventDefault();
                showInputs();
              }}
              data-testid="error-show-inputs"
            >
              See the columns this model needs
            </a>
          </div>
        )}
      </ErrorNotice>
      {view && model && (
        <section className="card" aria-labelledby="batch-result-title" data-testid="batch-result">
          <h2 id="batch-result-title" ref={resultHeading} tabIndex={-1}>
            Results: <span data-testid="batch-scored">{view.scored}</span> scored, <span data-testid="batch-failed">{view.failed}</span> with errors
          </h2>
          <Disclaimer />
          <p className="small muted">The provider never saw these rows or the results. The batch is saved, encrypted, in your history.</p>
          {resultUrl && (
            <p>
              <a className="button" href={resultUrl} download={`${model.id}-results.csv`} data-testid="batch-download">
                Download the results (CSV)
              </a>
            </p>
          )}
          <div className="table-scroll" tabIndex={0} role="region" aria-labelledby="batch-result-title">
            <table className="data-table" data-testid="batch-table">
              <thead>
                <tr>
                  <th scope="col">Row</th>
                  <th scope="col">Status</th>
                  <th scope="col">Result</th>
                  <th scope="col">Problem</th>
                </tr>
              </thead>
              <tbody>
                {view.rows.map((r) => (
                  <tr key={r.row} className={r.ok ? undefined : 'row-error'} data-row={r.row} data-ok={r.ok}>
                    <td>{r.row}</td>
                    <td>{r.ok ? 'Scored' : 'Error'}</td>
                    <td>{r.ok ? resultText(r.values, r.label) : '–'}</td>
                    <td data-code={r.ok ? undefined : r.code}>
                      {r.ok ? (
                        ''
                      ) : (
                        <>
                          <strong className="row-problem-title">{batchRowTitle(r.code)}</strong> {r.error ? sentence(`${r.error}${r.field ? ` (column ${r.field})` : ''}`) : ''}
                        </>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </section>
      )}
    </div>
  );
}
