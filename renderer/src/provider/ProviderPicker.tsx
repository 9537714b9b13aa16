import { useEffect, useState } from 'react';
import type { FormEvent } from 'react';
import { bridge, toUiError } from '../api/bridge.js';
import type { BridgeError, ConnectionTest, ProviderInput, ProviderSettings } from '../api/contract.js';
import { ErrorNotice } from '../shell/ErrorNotice.js';
import { ScreenHeading } from '../shell/ScreenHeading.js';
import { formatMs } from '../shell/format.js';
import { uiMessage } from '../shell/wording.js';

/**
 * Where predictions are computed: the bundled offline service, or a remote provider over HTTPS
 * with an API key. Either way only encrypted data and public evaluation keys leave this machine.
 */
export function ProviderPicker({ firstRun, onSaved }: { firstRun: boolean; onSaved: (settings: ProviderSettings) => void }) {
  const [current, setCurrent] = useState<ProviderSettings | null>(null);
  const [kind, setKind] = useState<'bundled' | 'remote'>('bundled');
  const [url, setUrl] = useState('');
  const [apiKey, setApiKey] = useState('');
  const [test, setTest] = useState<ConnectionTest | null>(null);
  const [busy, setBusy] = useState<'test' | 'save' | null>(null);
  const [error, setError] = useState<BridgeError | null>(null);
  const [urlError, setUrlError] = useState<string | null>(null);

  useEffect(() => {
    let live = true;
    bridge()
      .provider.get()
      .then((settings) => {
        if (!live) return;
        setCurrent(settings);
        setKind(settings.kind);
        if (settings.kind === 'remote') setUrl(settings.url);
      })
      .catch((err: unknown) => live && setError(toUiError(err)));
    return () => {
      live = false;
    };
  }, []);

  function input(): ProviderInput | null {
    if (kind === 'bundled') return { kind: 'bundled' };
    let parsed: URL;
    try {
      parsed = new URL(url.trim());
    } catch {
      setUrlError('Enter the provider’s address, for example https://predictions.example.org');
      return null;
    }
    if (parsed.protocol !== 'https:') {
      setUrlError('A remote provider must use https:// so that the connection is encrypted and its certificate checked.');
      return null;
    }
    setUrlError(null);
    return apiKey.length > 0 ? { kind: 'remote', url: parsed.toString().replace(/\/$/, ''), apiKey } : { kind: 'remote', url: parsed.toString().replace(/\/$/, '') };
  }

  async function runTest() {
    const settings = input();
    if (!settings) {
      document.getElementById('provider-url')?.focus();
      return;
    }
    setBusy('test');
    setError(null);
    setTest(null);
    try {
      setTest(await bridge().provider.test(settings));
    } catch (err) {
      setError(toUiError(err));
    } finally {
      setBusy(null);
    }
  }

  async function save(event: FormEvent) {
    event.preventDefault();
    const settings = input();
    if (!settings) {
      document.getElementById('provider-url')?.focus();
      return;
    }
    setBusy('save');
    setError(null);
    try {
      const saved = await bridge().provider.set(settings);
      setCurrent(saved);
      setApiKey('');
      onSaved(saved);
    } catch (err) {
      setError(toUiError(err));
    } finally {
      setBusy(null);
    }
  }

  return (
    <div className="screen provider" data-screen="provider">
      <ScreenHeading>Evaluation provider</ScreenHeading>
      <p className="lead">
        {firstRun ? 'One more step: choose where the encrypted computation runs. You can change this later. ' : ''}
        Whichever you choose, the provider receives only encrypted values and public evaluation keys; it never sees your data or the result.
      </p>
      {current && (
        <p className="muted" data-testid="provider-current">
          In use: {current.kind === 'bundled' ? 'the bundled offline service' : `${current.url}${current.hasApiKey ? ' (API key saved)' : ''}`}
        </p>
      )}
      <form className="card" onSubmit={save} noValidate>
        <fieldset>
          <legend>Provider</legend>
          <div className="field radio">
            <input id="provider-bundled" type="radio" name="provider-kind" value="bundled" checked={kind === 'bundled'} onChange={() => setKind('bundled')} />
            <label htmlFor="provider-bundled">
              <strong>Bundled, offline</strong>
              <span className="muted small block">Runs on this computer, reachable only from this computer. Nothing goes over the network.</span>
            </label>
          </div>
          <div className="field radio">
            <input id="provider-remote" type="radio" name="provider-kind" value="remote" checked={kind === 'remote'} onChange={() => setKind('remote')} />
            <label htmlFor="provider-remote">
              <strong>Remote provider</strong>
              <span className="muted small block">A service at an HTTPS address, with an API key from its operator. Canary checks verify it runs the advertised model.</span>
            </label>
          </div>
        </fieldset>
        {kind === 'remote' && (
          <div className="remote-fields">
            <div className="field">
              <label htmlFor="provider-url">Address (https://)</label>
              <input
                id="provider-url"
                type="url"
                inputMode="url"
                autoComplete="url"
                value={url}
                onChange={(e) => setUrl(e.target.value)}
                placeholder="https://predictions.example.org"
                aria-invalid={urlError !== null}
                aria-describedby={urlError ? 'provider-url-error' : undefined}
              />
              {urlError && (
                <p id="provider-url-error" className="field-error">
                  {urlError}
                </p>
              )}
            </div>
            <div className="field">
              <label htmlFor="provider-key">API key</label>
              <input
                id="provider-key"
                type="password"
                autoComplete="off"
                value={apiKey}
                onChange={(e) => setApiKey(e.target.value)}
                aria-describedby="provider-key-help"
              />
              <p id="provider-key-help" className="muted small">
                {current?.kind === 'remote' && current.hasApiKey ? 'A key is saved in the vault; leave this empty to keep it.' : 'Stored encrypted in the vault.'}
              </p>
            </div>
          </div>
        )}
        <div className="actions">
          <button type="button" className="button" onClick={runTest} disabled={busy !== null} aria-busy={busy === 'test'} data-testid="provider-test">
            {busy === 'test' ? 'Testing the connection…' : 'Test the connection'}
          </button>
          <button type="submit" className="button primary" disabled={busy !== null} aria-busy={busy === 'save'} data-testid="provider-save">
            {busy === 'save' ? 'Saving…' : firstRun ? 'Save and continue' : 'Save'}
          </button>
        </div>
        <div aria-live="polite" data-testid="provider-test-result">
          {test && (
            <div className={`notice ${test.ok ? 'success' : 'error'}`} role={test.ok ? 'status' : 'alert'} data-code={test.code ?? ''}>
              <p>
                <strong>{test.ok ? 'Connected.' : 'The connection test failed.'}</strong>
                {!test.ok && <> {uiMessage({ code: test.code ?? 'unexpected', message: test.message })}</>}
              </p>
              {test.ok && (
                <p className="small muted">
                  {test.models} model{test.models === 1 ? '' : 's'} available; answered in {formatMs(test.latencyMs)}.
                </p>
              )}
              {!test.ok && test.code && (
                <p className="small muted">
                  Code: <code>{test.code}</code>
                </p>
              )}
            </div>
          )}
        </div>
        <ErrorNotice error={error} title="The provider could not be saved." />
      </form>
    </div>
  );
}
