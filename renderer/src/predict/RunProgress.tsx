import type { StageName } from '../api/contract.js';
import { formatBytes, formatMs } from '../shell/format.js';
import type { RunState, StageState } from './use-prediction-run.js';

const STAGES: { name: StageName; label: string; what: string }[] = [
  { name: 'keys', label: 'Keys', what: 'Load your secret key and its public evaluation keys from the vault' },
  { name: 'upload', label: 'Upload keys', what: 'Send the public evaluation keys to the provider (once per key set)' },
  { name: 'encrypt', label: 'Encrypt', what: 'Encrypt your values on this computer' },
  { name: 'evaluate', label: 'Evaluate', what: 'The provider runs the model on the encrypted values' },
  { name: 'decrypt', label: 'Decrypt', what: 'Decrypt the answer on this computer' },
];

function stageText(stage: StageState | undefined, finished: boolean, name: StageName): string {
  if (!stage) return finished ? (name === 'upload' ? 'skipped: the provider already has these keys' : 'not reached') : 'waiting';
  if (stage.state === 'done') return `done in ${formatMs(stage.ms)}`;
  if (finished) return 'stopped';
  if (stage.total) return `in progress: ${formatBytes(stage.loaded ?? 0)} of ${formatBytes(stage.total)}`;
  return 'in progress…';
}

/**
 * The staged progress of a run with timings. It is not a live region: the screen's one announcer
 * (see use-run-announcement.ts) says each stage once.
 */
export function RunProgress({ run, onCancel }: { run: Exclude<RunState, { phase: 'idle' }>; onCancel: () => void }) {
  const finished = run.phase !== 'running';
  return (
    <section className="card run-progress" aria-labelledby="progress-title" data-testid="run-progress" data-phase={run.phase}>
      <h2 id="progress-title">Encrypted prediction</h2>
      <ol className="stages">
        {STAGES.map((s) => {
          const stage = run.stages[s.name];
          const state = stage ? (stage.state === 'running' && finished ? 'stopped' : stage.state) : finished ? 'skipped' : 'pending';
          return (
            <li key={s.name} className={`stage ${state}`} data-stage={s.name} data-state={state}>
              <span className="stage-mark" aria-hidden="true">
                {state === 'done' ? '✓' : state === 'running' ? '…' : state === 'stopped' ? '✕' : '○'}
              </span>
              <span className="stage-label">
                <strong>{s.label}</strong> <span className="muted small">{s.what}</span>
              </span>
              <span className="stage-time small">{stageText(stage, finished, s.name)}</span>
              {state === 'running' && stage?.total ? <progress max={stage.total} value={stage.loaded ?? 0} aria-label={`${s.label} progress`} /> : null}
            </li>
          );
        })}
      </ol>
      {run.phase === 'running' && (
        <div className="actions">
          <button type="button" className="button danger" onClick={onCancel} disabled={run.cancelling} data-testid="cancel-run">
            {run.cancelling ? 'Cancelling…' : 'Cancel'}
          </button>
        </div>
      )}
      {run.phase === 'cancelled' && (
        <p className="notice" data-testid="run-cancelled">
          Cancelled. Nothing was stored, and nothing decrypted.
        </p>
      )}
    </section>
  );
}
