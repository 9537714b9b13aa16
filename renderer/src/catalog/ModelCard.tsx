import type { ModelSummary } from '../api/contract.js';
import { encryptionRows, inputSummary, predicts, quality, statisticsRows } from './describe.js';
import type { TechnicalRow } from './describe.js';
import { TrustBadge } from './TrustBadge.js';

function Glossary({ rows, label }: { rows: TechnicalRow[]; label: string }) {
  return (
    <dl className="glossary" aria-label={label}>
      {rows.map((r) => (
        <div key={r.term}>
          <dt>{r.term}</dt>
          <dd className="glossary-value">{r.value}</dd>
          <dd className="glossary-explain small muted">{r.explain}</dd>
        </div>
      ))}
    </dl>
  );
}

/**
 * One model, for a patient or a clinician first: what it predicts, from what, and how good it is in
 * plain words. The statistics and the encryption parameters are in "Technical details", each term
 * with a short explanation.
 */
export function ModelCard({ model, onPredict, onBatch }: { model: ModelSummary; onPredict: () => void; onBatch?: () => void }) {
  const titleId = `model-${model.id}-title`;
  return (
    <article className="card model-card" aria-labelledby={titleId} data-model={model.id}>
      <h2 id={titleId}>{model.title}</h2>
      <TrustBadge trust={model.trust} />
      <p>{model.description}</p>
      <dl className="plain-facts" data-testid="plain-facts">
        <div>
          <dt>What it predicts</dt>
          <dd>{predicts(model)}</dd>
        </div>
        <div>
          <dt>From what</dt>
          <dd>
            {inputSummary(model)}
            {model.input.kind === 'features' && (
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
            )}
          </dd>
        </div>
        <div>
          <dt>How good it is</dt>
          <dd data-testid="quality">{quality(model)}</dd>
        </div>
      </dl>
      <details className="technical" data-testid="technical-details">
        <summary>Technical details</summary>
        <p className="small">
          Model <code>{model.id}</code>, version {model.version}.{model.input.kind === 'image' ? ` ${model.input.description}` : ''}
        </p>
        <h3>How it was measured</h3>
        <Glossary rows={statisticsRows(model)} label={`Statistics of ${model.title}`} />
        <h3>Encryption</h3>
        <Glossary rows={encryptionRows(model)} label={`Encryption parameters of ${model.title}`} />
      </details>
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
