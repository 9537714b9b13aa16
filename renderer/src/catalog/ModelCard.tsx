import type { ModelSummary } from '../api/contract.js';
import { formatBytes } from '../shell/format.js';
import { TASK_LABEL, inputSummary, metricRows } from './describe.js';

export function ModelCard({ model, onPredict, onBatch }: { model: ModelSummary; onPredict: () => void; onBatch?: () => void }) {
  const titleId = `model-${model.id}-title`;
  return (
    <article className="card model-card" aria-labelledby={titleId} data-model={model.id}>
      <h2 id={titleId}>{model.title}</h2>
      <p className="muted small">
        <code>{model.id}</code> version {model.version} · answers with: {TASK_LABEL[model.task]}
        {model.unit ? ` (${model.unit})` : ''}
      </p>
      <p>{model.description}</p>
      <div className="model-facts">
        <section aria-label={`Inputs of ${model.title}`}>
          <h3>Inputs</h3>
          <p>{inputSummary(model)}</p>
          {model.input.kind === 'features' ? (
            <details>
              <summary>Show the {model.input.features.length} inputs</summary>
              <ul className="small feature-list">
                {model.input.features.map((f) => (
                  <li key={f.name}>
                    {f.label} <span className="muted">({f.unit}, {f.min} to {f.max})</span>
                  </li>
                ))}
              </ul>
            </details>
          ) : (
            <p className="small muted">{model.input.description}</p>
          )}
        </section>
        <section aria-label={`Held-out performance of ${model.title}`}>
          <h3>Held-out performance</h3>
          <dl className="facts">
            {metricRows(model).map((r) => (
              <div key={r.label}>
                <dt>{r.label}</dt>
                <dd>{r.value}</dd>
              </div>
            ))}
          </dl>
        </section>
        <section aria-label={`Encryption parameters of ${model.title}`}>
          <h3>Encryption (CKKS)</h3>
          <dl className="facts">
            <div>
              <dt>Ring dimension</dt>
              <dd>{model.he.polyModulusDegree.toLocaleString()}</dd>
            </div>
            <div>
              <dt>Security</dt>
              <dd>{model.he.securityBits}-bit</dd>
            </div>
            <div>
              <dt>Multiplicative levels</dt>
              <dd>{model.he.levels}</dd>
            </div>
            <div>
              <dt>Rotation keys</dt>
              <dd>{model.he.rotationKeys}</dd>
            </div>
            <div>
              <dt>Key upload (once)</dt>
              <dd data-testid="key-bytes">{formatBytes(model.he.evaluationKeyBytes)}</dd>
            </div>
            <div>
              <dt>Per request</dt>
              <dd>
                {formatBytes(model.he.requestBytes)} up, {formatBytes(model.he.responseBytes)} down
              </dd>
            </div>
            <div>
              <dt>Patients per batch request</dt>
              <dd>{model.he.samplesPerBatch}</dd>
            </div>
          </dl>
        </section>
      </div>
      <div className="actions">
        <button type="button" className="button primary" onClick={onPredict} data-testid={`predict-${model.id}`} aria-describedby={titleId}>
          {model.input.kind === 'image' ? 'Draw and predict' : 'Enter values and predict'}
        </button>
        {onBatch && (
          <button type="button" className="button" onClick={onBatch} aria-describedby={titleId}>
            Score a CSV file
          </button>
        )}
      </div>
    </article>
  );
}
