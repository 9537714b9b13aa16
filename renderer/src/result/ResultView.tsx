import { useEffect, useRef } from 'react';
import type { ModelSummary, PredictionView, StageName } from '../api/contract.js';
import { formatBytes, formatMs, formatPercent, formatValue } from '../shell/format.js';
import { ClassBars } from './ClassBars.js';
import { Disclaimer } from './Disclaimer.js';
import { ProbabilityGauge } from './ProbabilityGauge.js';

/** Whether the provider was checked with hidden test cases, in plain words. */
const CHECK: Record<PredictionView['canary'], string> = {
  passed: 'Provider checked: hidden test cases, sent along with yours and indistinguishable from them, came back right, so the provider ran the model it offers.',
  off: 'No provider check was needed: the service on this computer computed the result.',
  unavailable: 'The provider could not be checked: this model publishes no test cases to check it with.',
};

const STAGE_LABEL: Record<StageName, string> = {
  validate: 'Checking your values',
  keys: 'Loading your keys',
  upload: 'Sending the public keys',
  encrypt: 'Encrypting your values',
  evaluate: 'Computing at the provider',
  decrypt: 'Decrypting the answer',
  store: 'Saving to your history',
};

/**
 * The decrypted, rounded answer: the verdict in words, then the disclaimer, then the figures. The
 * heading takes focus (the run's announcer has already said that it finished).
 */
export function ResultView({ model, view }: { model: ModelSummary; view: PredictionView }) {
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => heading.current?.focus(), [view.runId]);
  const positive = model.outputLabels[0] ?? 'positive';
  const probability = Math.min(1, Math.max(0, view.values[0] ?? 0));
  return (
    <section className="card result" aria-labelledby="result-title" data-testid="result" data-run={view.runId}>
      <h2 id="result-title" ref={heading} tabIndex={-1}>
        Result{view.label ? `: ${view.label}` : ''}
      </h2>
      {model.task === 'binary-classification' && (
        <p className="verdict" data-testid="verdict">
          The model estimates a {formatPercent(probability)} chance of {positive}, so it classifies this case as{' '}
          <strong data-testid="result-label">{view.label ?? (probability >= 0.5 ? positive : (model.negativeLabel ?? `not ${positive}`))}</strong>.
        </p>
      )}
      {model.task === 'multiclass-classification' && (
        <p className="verdict" data-testid="verdict">
          Predicted: <strong data-testid="result-label">{view.label ?? '–'}</strong>
          {view.classIndex !== undefined && view.values[view.classIndex] !== undefined ? ` (probability ${formatPercent(view.values[view.classIndex]!)})` : ''}
        </p>
      )}
      {model.task === 'regression' && (
        <p className="verdict" data-testid="verdict">
          Estimated {model.outputLabels[0] ?? 'value'}: <strong data-testid="result-value" className="big">{formatValue(view.values[0] ?? 0, model.precision)}</strong>{' '}
          <span className="unit">{model.unit ?? ''}</span>
        </p>
      )}
      {view.outsideTraining && (
        <p className="notice warning" data-testid="outside-training">
          <strong>Read this result with extra caution.</strong> It lies outside the results this model saw in training ({formatValue(view.outsideTraining.low, model.precision)} to{' '}
          {formatValue(view.outsideTraining.high, model.precision)}
          {view.outsideTraining.unit ? ` ${view.outsideTraining.unit}` : ''}): the model was never fitted there, so the estimate may be far off.
        </p>
      )}
      <Disclaimer />
      <div className="result-figure" data-testid="result-figure">
        {model.task === 'binary-classification' && <ProbabilityGauge probability={view.values[0] ?? 0} precision={model.precision} label={positive} />}
        {model.task === 'multiclass-classification' && <ClassBars labels={model.outputLabels} values={view.values} classIndex={view.classIndex} precision={model.precision} />}
      </div>
      <p className="notice success privacy-note" data-testid="privacy-note">
        The provider never saw your data or this result: it computed on encrypted values, and the answer was decrypted on this computer. It is saved, encrypted,
        in your history.
      </p>
      <p className={`canary canary-${view.canary}`} data-testid="canary" data-canary={view.canary}>
        {CHECK[view.canary]}
      </p>
      <details>
        <summary>Timings and data sent</summary>
        <dl className="facts">
          {(Object.entries(view.timings) as [StageName, number | undefined][]).map(([stage, ms]) => (
            <div key={stage}>
              <dt>{STAGE_LABEL[stage]}</dt>
              <dd>{formatMs(ms)}</dd>
            </div>
          ))}
          <div>
            <dt>Public keys sent (once per key set)</dt>
            <dd>{view.bytes.keys > 0 ? formatBytes(view.bytes.keys) : 'none (the provider already had them)'}</dd>
          </div>
          <div>
            <dt>Encrypted values sent</dt>
            <dd>{formatBytes(view.bytes.up)}</dd>
          </div>
          <div>
            <dt>Encrypted answer received</dt>
            <dd>{formatBytes(view.bytes.down)}</dd>
          </div>
        </dl>
      </details>
      <p className="muted small">
        Model {model.id}, version {view.modelVersion}.
      </p>
    </section>
  );
}
