import { useCallback, useState } from 'react';
import type { ModelSummary } from '../api/contract.js';
import { TrustBadge } from '../catalog/TrustBadge.js';
import { DigitCanvas } from '../digit/DigitCanvas.js';
import { ResultView } from '../result/ResultView.js';
import { ErrorNotice } from '../shell/ErrorNotice.js';
import { ScreenHeading } from '../shell/ScreenHeading.js';
import { errorTitle } from '../shell/wording.js';
import { FeatureForm } from './FeatureForm.js';
import { RunProgress } from './RunProgress.js';
import { usePredictionRun } from './use-prediction-run.js';
import { useRunAnnouncement } from './use-run-announcement.js';

/** This screen's own titles; the provider's and the model cards' refusals share theirs (shell/wording.ts). */
const PREDICT_TITLES: Record<string, string> = {
  input_out_of_range: 'A value is outside the model’s range.',
  result_out_of_range: 'The model cannot give an answer for this input.',
};

/** One model: its input (form or drawing pad), the staged run, the result. */
export function PredictScreen({ model, onBack }: { model: ModelSummary; onBack: () => void }) {
  const { run, start, cancel } = usePredictionRun();
  const announcement = useRunAnnouncement(run);
  const [pixels, setPixels] = useState<number[] | null>(null);
  const running = run.phase === 'running';
  const onPixels = useCallback((p: number[] | null) => setPixels(p), []);

  return (
    <div className="screen predict" data-screen="predict" data-model={model.id}>
      <p>
        <button type="button" className="button link" onClick={onBack}>
          ← All models
        </button>
      </p>
      <ScreenHeading>{model.title}</ScreenHeading>
      <p className="lead">{model.description}</p>
      <TrustBadge trust={model.trust} />
      {model.input.kind === 'features' ? (
        <FeatureForm model={model} features={model.input.features} disabled={running} onSubmit={(values) => void start(model.id, values)} />
      ) : (
        <section className="card" aria-labelledby="draw-title">
          <h2 id="draw-title">Draw a digit</h2>
          <p className="muted small">{model.input.description}</p>
          <DigitCanvas sample={model.sample} disabled={running} onPixels={onPixels} />
          <div className="actions">
            <button type="button" className="button primary" disabled={running || pixels === null} onClick={() => pixels && void start(model.id, pixels)} data-testid="run-prediction">
              Encrypt and predict
            </button>
            {pixels === null && <span className="muted small">Draw a digit first.</span>}
          </div>
        </section>
      )}
      {/* The one polite live region of a run: mounted with the screen, empty until there is something to say. */}
      <p className="sr-only" role="status" aria-live="polite" aria-atomic="true" data-testid="run-announcer">
        {announcement}
      </p>
      {run.phase !== 'idle' && <RunProgress run={run} onCancel={() => void cancel()} />}
      {run.phase === 'failed' && <ErrorNotice error={run.error} title={PREDICT_TITLES[run.error.code] ?? errorTitle(run.error.code, 'The prediction failed.')} />}
      {run.phase === 'done' && <ResultView model={model} view={run.view} />}
    </div>
  );
}
