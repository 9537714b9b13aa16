import { useCallback, useEffect, useState } from 'react';
import { bridge, toUiError } from '../api/bridge.js';
import type { BridgeError, PinnedModelView, TrustView } from '../api/contract.js';
import { ErrorNotice } from '../shell/ErrorNotice.js';

type Target = { kind: 'model' | 'provider'; id: string };

/** The pinned models grouped by their publisher: each publisher once, with its models and where it was first seen. */
function byPublisher(models: PinnedModelView[]): { fingerprint: string; firstSeenAt: string[]; models: PinnedModelView[] }[] {
  const groups = new Map<string, { fingerprint: string; firstSeenAt: Set<string>; models: PinnedModelView[] }>();
  for (const m of models) {
    const group = groups.get(m.fingerprint) ?? { fingerprint: m.fingerprint, firstSeenAt: new Set<string>(), models: [] };
    for (const url of m.firstSeenAt) group.firstSeenAt.add(url);
    group.models.push(m);
    groups.set(m.fingerprint, group);
  }
  return [...groups.values()].map((g) => ({ fingerprint: g.fingerprint, firstSeenAt: [...g.firstSeenAt].sort(), models: g.models }));
}

/**
 * Who vouches for the models: the publishers CipherCare trusts (the bundled one is built in) and
 * those pinned on first use, per model and per provider, each with a Forget button that asks for
 * confirmation. The same vault state as the command line's trust list and forget.
 */
export function PublisherPins({ onForgotten }: { onForgotten: (message: string) => void }) {
  const [view, setView] = useState<TrustView | null>(null);
  const [error, setError] = useState<BridgeError | null>(null);
  const [confirming, setConfirming] = useState<Target | null>(null);
  const [busy, setBusy] = useState(false);

  const load = useCallback(async () => {
    try {
      setView(await bridge().trust.list());
    } catch (err) {
      setError(toUiError(err));
    }
  }, []);

  useEffect(() => {
    void load();
  }, [load]);

  async function forget(target: Target) {
    setBusy(true);
    setError(null);
    try {
      setView(await bridge().trust.forget(target.id));
      setConfirming(null);
      onForgotten(`Forgot the pinned publisher of ${target.kind === 'model' ? `the model ${target.id}` : `the provider ${target.id}`}. The next use pins the publisher it shows then.`);
    } catch (err) {
      setError(toUiError(err));
    } finally {
      setBusy(false);
    }
  }

  const isConfirming = (t: Target) => confirming?.kind === t.kind && confirming.id === t.id;

  function forgetControls(target: Target, what: string) {
    if (!isConfirming(target)) {
      return (
        <button type="button" className="button small" onClick={() => setConfirming(target)} disabled={busy} data-testid={`forget-pin-${target.kind}-${target.id}`}>
          Forget {what}
        </button>
      );
    }
    return (
      <div className="notice warning" role="group" aria-label={`Forget ${what}?`} data-testid="forget-pin-confirm">
        <p>
          Forget {what}? Do this only after the publisher told you, through a channel you trust, that its key really changed. The next time this{' '}
          {target.kind === 'model' ? 'model' : 'provider'} is used, CipherCare pins whatever publisher it shows then.
        </p>
        <div className="actions">
          <button type="button" className="button danger" onClick={() => void forget(target)} disabled={busy} aria-busy={busy} data-testid="forget-pin-yes">
            {busy ? 'Forgetting…' : 'Yes, forget it'}
          </button>
          <button type="button" className="button ghost" onClick={() => setConfirming(null)} disabled={busy}>
            Keep it
          </button>
        </div>
      </div>
    );
  }

  return (
    <section className="card" aria-labelledby="publishers-title" data-testid="publishers">
      <h2 id="publishers-title">Who vouches for the models</h2>
      <p className="small">
        A model’s publisher signs its description, weights and test cases. CipherCare checks that signature before sending anything. A publisher it does not know
        is remembered (pinned) the first time you use its model; after that, a card signed by another key is refused.
      </p>
      <ErrorNotice error={error} title="The publishers could not be listed or changed." />
      {view && (
        <>
          <h3>Publishers CipherCare trusts</h3>
          <ul className="pin-list" data-testid="trusted-publishers">
            {view.trusted.map((p) => (
              <li key={p.fingerprint} data-builtin={p.builtIn}>
                <strong>{p.name}</strong> {p.builtIn ? <span className="tag">built in</span> : <span className="tag">trusted</span>}
                <span className="block small">
                  Fingerprint: <code className="fingerprint">{p.fingerprint}</code>
                </span>
                {p.modelIds.length > 0 && <span className="block small">Models: {p.modelIds.join(', ')}</span>}
              </li>
            ))}
          </ul>

          <h3>Publishers you have pinned</h3>
          {view.models.length === 0 ? (
            <p className="small muted" data-testid="no-pinned-models">
              None yet. A model from a publisher CipherCare does not know is pinned the first time you use it.
            </p>
          ) : (
            <ul className="pin-list" data-testid="pinned-models">
              {byPublisher(view.models).map((group) => (
                <li key={group.fingerprint} data-publisher={group.fingerprint}>
                  <span className="block">
                    Publisher fingerprint: <code className="fingerprint">{group.fingerprint}</code>
                  </span>
                  <span className="block small">First seen at: {group.firstSeenAt.length > 0 ? group.firstSeenAt.join(', ') : 'not recorded'}</span>
                  <ul className="pin-models">
                    {group.models.map((m) => (
                      <li key={m.modelId} data-model={m.modelId}>
                        <strong>{m.modelId}</strong> <span className="small">(versions seen: {m.versions.length > 0 ? m.versions.join(', ') : 'none'})</span>
                        {forgetControls({ kind: 'model', id: m.modelId }, `the publisher of ${m.modelId}`)}
                      </li>
                    ))}
                  </ul>
                </li>
              ))}
            </ul>
          )}

          <h3>Publishers you have pinned, by provider</h3>
          {view.providers.length === 0 ? (
            <p className="small muted" data-testid="no-pinned-providers">
              None yet.
            </p>
          ) : (
            <ul className="pin-list" data-testid="pinned-providers">
              {view.providers.map((p) => (
                <li key={p.url} data-provider={p.url}>
                  <strong>{p.url}</strong>
                  <span className="block small">
                    Publisher fingerprint{p.fingerprints.length === 1 ? '' : 's'}:{' '}
                    {p.fingerprints.map((f, i) => (
                      <span key={f}>
                        {i > 0 ? ' / ' : ''}
                        <code className="fingerprint">{f}</code>
                      </span>
                    ))}
                  </span>
                  {forgetControls({ kind: 'provider', id: p.url }, `the publishers of ${p.url}`)}
                </li>
              ))}
            </ul>
          )}
        </>
      )}
    </section>
  );
}
