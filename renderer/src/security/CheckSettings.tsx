import { useEffect, useState } from 'react';
import type { FormEvent } from 'react';
import { bridge, toUiError } from '../api/bridge.js';
import type { BridgeError, SettingsView } from '../api/contract.js';
import { ErrorNotice } from '../shell/ErrorNotice.js';
import { checkChoiceDetail, checkChoiceLabel } from './checks-wording.js';

/**
 * How many hidden test cases (separate known-answer check requests) go with each prediction of a
 * model whose input fills the whole encrypted message (the digit model). Stored in the vault; the
 * core applies it to every prediction.
 */
export function CheckSettings({ onSaved }: { onSaved: (message: string) => void }) {
  const [view, setView] = useState<SettingsView | null>(null);
  const [chosen, setChosen] = useState<number | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<BridgeError | null>(null);

  useEffect(() => {
    let live = true;
    bridge()
      .settings.get()
      .then(
        (v) => {
          if (!live) return;
          setView(v);
          setChosen(v.checkRequests);
        },
        (err: unknown) => live && setError(toUiError(err)),
      );
    return () => {
      live = false;
    };
  }, []);

  async function save(event: FormEvent) {
    event.preventDefault();
    if (chosen === null) return;
    setBusy(true);
    setError(null);
    try {
      const next = await bridge().settings.setCheckRequests(chosen);
      setView(next);
      setChosen(next.checkRequests);
      onSaved(`Saved: ${next.checkRequests} hidden test case${next.checkRequests === 1 ? '' : 's'} with each digit prediction.`);
    } catch (err) {
      setError(toUiError(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <form className="card" onSubmit={save} noValidate aria-labelledby="checks-title" data-testid="check-settings">
      <h2 id="checks-title">Checks on digit predictions</h2>
      <p className="small">
        When a provider other than the service on this computer predicts a digit, CipherCare also sends it hidden test cases whose answers it worked out itself, in
        random order, so the provider cannot tell them from yours. A wrong answer to a test case stops the prediction: nothing is shown or stored. The other models
        carry their test cases inside the same encrypted message as your data, at no extra cost, and need no choice here.
      </p>
      {view && (
        <fieldset>
          <legend>Hidden test cases with each digit</legend>
          {view.checkChoices.map((c) => (
            <div className="field radio" key={c.requests}>
              <input id={`checks-${c.requests}`} type="radio" name="check-requests" value={c.requests} checked={chosen === c.requests} onChange={() => setChosen(c.requests)} disabled={busy} />
              <label htmlFor={`checks-${c.requests}`}>
                <strong>{checkChoiceLabel(c)}</strong>
                {c.requests === view.checkRequests && <span className="muted"> (in use)</span>}
                <span className="muted small block" data-testid={`checks-detail-${c.requests}`}>
                  {checkChoiceDetail(c)}
                </span>
              </label>
            </div>
          ))}
        </fieldset>
      )}
      <ErrorNotice error={error} title="The setting was not saved." />
      <div className="actions">
        <button type="submit" className="button" disabled={busy || view === null || chosen === view.checkRequests} aria-busy={busy} data-testid="checks-save">
          {busy ? 'Saving…' : 'Save this choice'}
        </button>
      </div>
    </form>
  );
}
