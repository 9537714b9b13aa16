import { useCallback, useEffect, useRef, useState } from 'react';
import { bridge, hasBridge, toUiError } from '../api/bridge.js';
import type { BridgeError, ModelSummary, VaultStatus } from '../api/contract.js';
import { BatchScreen } from '../batch/BatchScreen.js';
import { ModelCatalog } from '../catalog/ModelCatalog.js';
import { HistoryScreen } from '../history/HistoryScreen.js';
import { Onboarding } from '../onboarding/Onboarding.js';
import { PredictScreen } from '../predict/PredictScreen.js';
import { ProviderPicker } from '../provider/ProviderPicker.js';
import { SecurityScreen } from '../security/SecurityScreen.js';
import { ThemeToggle } from '../theme/ThemeToggle.js';
import { Unlock } from '../unlock/Unlock.js';
import { ErrorNotice } from './ErrorNotice.js';
import { ScreenHeading } from './ScreenHeading.js';
import { errorTitle, isPinRefusal } from './wording.js';

type Screen = { name: 'models' } | { name: 'predict'; modelId: string } | { name: 'history' } | { name: 'batch'; modelId: string | null } | { name: 'provider'; firstRun: boolean } | { name: 'security' };

const NAV: { name: Screen['name']; label: string }[] = [
  { name: 'models', label: 'Models' },
  { name: 'history', label: 'History' },
  { name: 'batch', label: 'Batch CSV' },
  { name: 'provider', label: 'Provider' },
  { name: 'security', label: 'Keys and security' },
];

function initial(name: Screen['name']): Screen {
  switch (name) {
    case 'predict':
    case 'models':
      return { name: 'models' };
    case 'batch':
      return { name: 'batch', modelId: null };
    case 'provider':
      return { name: 'provider', firstRun: false };
    default:
      return { name };
  }
}

/** The app: vault state decides between onboarding, unlock and the main screens. */
export function App() {
  const [status, setStatus] = useState<VaultStatus | null>(null);
  const [fatal, setFatal] = useState<BridgeError | null>(null);
  const [screen, setScreen] = useState<Screen>({ name: 'models' });
  const [models, setModels] = useState<ModelSummary[] | null>(null);
  const [modelsError, setModelsError] = useState<BridgeError | null>(null);

  useEffect(() => {
    if (!hasBridge()) {
      setFatal({ code: 'no_bridge', message: 'This page must be opened from the CipherCare app.' });
      return;
    }
    bridge()
      .vault.status()
      .then(setStatus)
      .catch((err: unknown) => setFatal(toUiError(err)));
  }, []);

  const loadingModels = useRef(false);
  const loadModels = useCallback(async () => {
    if (loadingModels.current) return;
    loadingModels.current = true;
    try {
      setModels(await bridge().models.list());
    } catch (err) {
      setModelsError(toUiError(err));
    } finally {
      loadingModels.current = false;
    }
  }, []);
  const forgetModels = () => {
    setModels(null);
    setModelsError(null);
  };

  // The catalog comes from the provider: it is fetched only when a screen needs it, so that
  // choosing a remote provider at first run does not start the bundled service first.
  const unlocked = status?.exists === true && status.unlocked;
  const needsModels = screen.name === 'models' || screen.name === 'predict' || screen.name === 'batch' || screen.name === 'history';
  useEffect(() => {
    if (unlocked && needsModels && models === null && modelsError === null) void loadModels();
  }, [unlocked, needsModels, models, modelsError, loadModels]);

  const onLocked = (s: VaultStatus) => {
    setStatus(s);
    setScreen({ name: 'models' });
  };

  if (fatal) {
    return (
      <main className="app-main" id="main">
        <ScreenHeading>CipherCare cannot start</ScreenHeading>
        <ErrorNotice error={fatal} />
      </main>
    );
  }
  if (!status) {
    return (
      <main className="app-main" id="main" aria-busy="true">
        <p role="status">Opening CipherCare…</p>
      </main>
    );
  }
  if (!status.exists || !status.unlocked) {
    return (
      <>
        <header className="app-header">
          <span className="brand" aria-hidden="true">
            CipherCare
          </span>
          <ThemeToggle />
        </header>
        <main className="app-main" id="main">
          {!status.exists ? (
            <Onboarding
              status={status}
              onCreated={(s) => {
                setStatus(s);
                setScreen({ name: 'provider', firstRun: true });
              }}
            />
          ) : (
            <Unlock status={status} onUnlocked={setStatus} />
          )}
        </main>
      </>
    );
  }

  const model = screen.name === 'predict' ? models?.find((m) => m.id === screen.modelId) : undefined;

  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="app-header">
        <span className="brand">CipherCare</span>
        <nav aria-label="Main">
          <ul>
            {NAV.map((n) => (
              <li key={n.name}>
                <button
                  type="button"
                  className="nav-button"
                  aria-current={screen.name === n.name || (n.name === 'models' && screen.name === 'predict') ? 'page' : undefined}
                  onClick={() => setScreen(initial(n.name))}
                  data-nav={n.name}
                >
                  {n.label}
                </button>
              </li>
            ))}
          </ul>
        </nav>
        <div className="header-tools">
          <ThemeToggle />
          <button type="button" className="button ghost" onClick={() => void bridge().vault.lock().then(onLocked, (err: unknown) => setFatal(toUiError(err)))} data-testid="lock">
            Lock
          </button>
        </div>
      </header>
      <main className="app-main" id="main" tabIndex={-1}>
        {needsModels && models === null && !modelsError && (
          <p role="status" aria-busy="true" className="loading">
            Connecting to the evaluation service…
          </p>
        )}
        {needsModels && modelsError && (
          <div>
            <ScreenHeading>The models could not be loaded</ScreenHeading>
            <ErrorNotice error={modelsError} title={errorTitle(modelsError.code, 'The evaluation service did not answer.')} />
            {isPinRefusal(modelsError.code) && (
              <p data-testid="pin-advice">
                If the publisher told you, through a channel you trust, that its key or card really changed, forget the old pin under “Publishers you have pinned” in Keys and
                security; the next use then pins what the provider shows.
              </p>
            )}
            <div className="actions">
              {isPinRefusal(modelsError.code) && (
                <button type="button" className="button" onClick={() => setScreen({ name: 'security' })} data-testid="review-pins">
                  Review pinned publishers
                </button>
              )}
              <button type="button" className="button" onClick={forgetModels}>
                Try again
              </button>
              <button type="button" className="button ghost" onClick={() => setScreen({ name: 'provider', firstRun: false })}>
                Check the provider
              </button>
            </div>
          </div>
        )}
        {screen.name === 'models' && models && (
          <ModelCatalog models={models} onPredict={(modelId) => setScreen({ name: 'predict', modelId })} onBatch={(modelId) => setScreen({ name: 'batch', modelId })} />
        )}
        {screen.name === 'predict' && models && (model ? <PredictScreen key={model.id} model={model} onBack={() => setScreen({ name: 'models' })} /> : <p>That model is no longer offered.</p>)}
        {screen.name === 'history' && models && <HistoryScreen models={models} />}
        {screen.name === 'batch' && models && <BatchScreen models={models} initialModelId={screen.modelId} />}
        {screen.name === 'provider' && (
          <ProviderPicker
            firstRun={screen.firstRun}
            onSaved={() => {
              forgetModels();
              if (screen.firstRun) setScreen({ name: 'models' });
            }}
          />
        )}
        {screen.name === 'security' && (
          <SecurityScreen
            status={status}
            onLocked={onLocked}
            onWiped={(s) => {
              setStatus(s);
              forgetModels();
            }}
            onPinsForgotten={forgetModels}
          />
        )}
      </main>
      <footer className="app-footer small muted">
        Vault: <code>{status.dataDir}</code> · unlocked
      </footer>
    </>
  );
}
