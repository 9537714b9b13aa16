import { useEffect, useRef } from 'react';
import type { ModelSummary, PredictionView } from '../api/contract.js';
import { formatBytes, formatMs, formatValue } from '../shell/format.js';
import { ClassBars } from './ClassBars.js';
import { ProbabilityGauge } from './ProbabilityGauge.js';

const CANARY: Record<PredictionView['canary'], string> = {
  passed: 'Known-answer check passed: encrypted test cases, indistinguishable from yours, came back right, so the provider ran the model it advertises.',
  off: 'Known-answer check off: the bundled service on this computer computed the result.',
  unavailable: 'Known-answer check unavailable: this model publishes no test vectors.',
};

/** The decrypted, rounded answer; the heading takes focus and the region is announced. */
export function ResultView({ model, view }: { model: ModelSummary; view: PredictionView }) {
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => heading.current?.focus(), [view.runId]);
  const positive = model.outputLabels[0] ?? 'positive';
  return (
    <section className="card result" aria-labelledby="result-title" aria-live="polite" data-testid="result" data-run={view.runId}>
      <h2 id="result-title" ref={heading} tabIndex={-1}>
        Result{view.label ? `: ${view.label}` : ''}
      </h2>
      {model.task === 'binary-classification' && <ProbabilityGauge probability={view.values[0] ?? 0} precision={model.precision} label={positive} />}
      {model.task === 'multiclass-classification' && (
        <>
          <p className="result-number">
            Predicted: <strong data-testid="result-label">{view.label ?? '–'}</strong>
          </p>
          <ClassBars labels={model.outputLabels} values={view.values} classIndex={view.classIndex} precision={model.precision} />
        </>
      )}
      {model.task === 'regression' && (
        <p className="result-number big">
          <strong data-testid="result-value">{formatValue(view.values[0] ?? 0, model.precision)}</strong> <span className="unit">{model.unit ?? ''}</span>
        </p>
      )}
      {view.label && model.task === 'binary-classification' && (
        <p>
          Classified as <strong data-testid="result-label">{view.label}</strong>.
        </p>
      )}
      <p className="notice success privacy-note" data-testid="privacy-note">
        The provider never saw your data or this result: it computed on encrypted values, and the answer was decrypted on this computer. It is saved, encrypted,
        in your history.
      </p>
      <p className={`canary canary-${view.canary}`} data-testid="canary" data-canary={view.canary}>
        {CANARY[view.canary]}
      </p>
      <details>
        <summary>Timings and data sent</summary>
        <dl className="facts">
          {Object.entries(view.timings).map(([stage, ms]) => (
            <div key={stage}>
              <dt>{stage}</dt>
              <dd>{formatMs(ms)}</dd>
            </div>
          ))}
          <div>
            <dt>Evaluation keys uploaded</dt>
            <dd>{view.bytes.keys > 0 ? formatBytes(view.bytes.keys) : 'none (already at the provider)'}</dd>
          </div>
          <div>
            <dt>Encrypted request</dt>
            <dd>{formatBytes(view.bytes.up)}</dd>
          </div>
          <div>
            <dt>Encrypted answer</dt>
            <dd>{formatBytes(view.bytes.down)}</dd>
          </div>
        </dl>
      </details>
      <p className="muted small">A research demonstration, not a diagnosis. Model {model.id} version {view.modelVersion}.</p>
    </section>
  );
}
