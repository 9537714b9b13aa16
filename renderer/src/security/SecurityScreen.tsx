import { useCallback, useEffect, useState } from 'react';
import type { FormEvent } from 'react';
import { bridge, toUiError } from '../api/bridge.js';
import type { BridgeError, KeysView, VaultStatus } from '../api/contract.js';
import { acceptable, passphraseStrength } from '../onboarding/strength.js';
import { StrengthMeter } from '../onboarding/StrengthMeter.js';
import { ErrorNotice } from '../shell/ErrorNotice.js';
import { ScreenHeading } from '../shell/ScreenHeading.js';
import { formatBytes } from '../shell/format.js';
import { CheckSettings } from './CheckSettings.js';
import { PublisherPins } from './PublisherPins.js';

type Busy = null | 'rotate' | 'backup' | 'forget' | 'passphrase' | 'wipe' | 'lock';

/**
 * Keys and the vault: key sets, rotation, the checks on digit predictions, the publishers trusted
 * and pinned, backup, forgetting keys at the provider, lock, wipe.
 */
export function SecurityScreen({
  status,
  onLocked,
  onWiped,
  onPinsForgotten,
}: {
  status: VaultStatus | null;
  onLocked: (s: VaultStatus) => void;
  onWiped: (s: VaultStatus) => void;
  /** A pin was forgotten: the catalog must be checked (and pinned) again. */
  onPinsForgotten: () => void;
}) {
  const [keys, setKeys] = useState<KeysView | null>(null);
  const [busy, setBusy] = useState<Busy>(null);
  const [error, setError] = useState<{ where: Busy | 'load'; error: BridgeError } | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const [backupPassphrase, setBackupPassphrase] = useState('');
  const [backupConfirm, setBackupConfirm] = useState('');
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [wipeWord, setWipeWord] = useState('');
  const [confirmRotate, setConfirmRotate] = useState(false);

  const loadKeys = useCallback(async () => {
    try {
      setKeys(await bridge().keys.list());
    } catch (err) {
      setError({ where: 'load', error: toUiError(err) });
    }
  }, []);

  useEffect(() => {
    void loadKeys();
  }, [loadKeys]);

  async function act<T>(what: Exclude<Busy, null>, call: () => Promise<T>, done: (value: T) => void) {
    setBusy(what);
    setError(null);
    setMessage(null);
    try {
      done(await call());
    } catch (err) {
      setError({ where: what, error: toUiError(err) });
    } finally {
      setBusy(null);
    }
  }

  function rotate() {
    if (!confirmRotate) {
      setConfirmRotate(true);
      return;
    }
    setConfirmRotate(false);
    void act('rotate', () => bridge().keys.rotate(), (view) => {
      setKeys(view);
      setMessage('New keys created. The next prediction uploads new evaluation keys to the provider.');
    });
  }

  function backup(event: FormEvent) {
    event.preventDefault();
    if (backupPassphrase.length < 10 || backupPassphrase !== backupConfirm) {
      setError({ where: 'backup', error: { code: 'backup_passphrase', message: backupPassphrase !== backupConfirm ? 'The two backup passphrases differ.' : 'Use a backup passphrase of at least 10 characters.' } });
      return;
    }
    void act('backup', () => bridge().keys.exportBackup(backupPassphrase), (r) => {
      setBackupPassphrase('');
      setBackupConfirm('');
      setMessage(`Backup written to ${r.path} (${formatBytes(r.bytes)}). Keep it and its passphrase apart.`);
    });
  }

  function changePassphrase(event: FormEvent) {
    event.preventDefault();
    if (!acceptable(passphraseStrength(next), next)) {
      setError({ where: 'passphrase', error: { code: 'passphrase_weak', message: 'Choose a new passphrase of at least 10 characters with a strength of “Fair” or better.' } });
      return;
    }
    void act('passphrase', () => bridge().vault.changePassphrase(current, next), () => {
      setCurrent('');
      setNext('');
      setMessage('Passphrase changed. Use the new one next time you unlock.');
    });
  }

  function wipe(event: FormEvent) {
    event.preventDefault();
    if (wipeWord !== 'wipe') return;
    void act('wipe', () => bridge().vault.wipe(wipeWord), onWiped);
  }

  const errorFor = (where: Busy | 'load') => (error?.where === where ? error.error : null);

  return (
    <div className="screen security" data-screen="security">
      <ScreenHeading>Keys and security</ScreenHeading>
      <div aria-live="polite" role="status">
        {message && (
          <p className="notice success" data-testid="security-message">
            {message}
          </p>
        )}
      </div>
      <section className="card" aria-labelledby="keys-title">
        <h2 id="keys-title">Your keys</h2>
        <p className="small muted">
          Secret keys are kept encrypted in the vault and never leave this computer. Each parameter set has its own key; rotating creates new ones and retires the
          old.
        </p>
        <ErrorNotice error={errorFor('load')} title="The keys could not be listed." />
        {keys && keys.parameterSets.length === 0 && <p>No keys yet: they are created at your first prediction.</p>}
        {keys && keys.parameterSets.length > 0 && (
          <div className="table-scroll">
            <table className="data-table" data-testid="keys-table">
              <thead>
                <tr>
                  <th scope="col">Parameter set</th>
                  <th scope="col">Models</th>
                  <th scope="col">Versions</th>
                  <th scope="col">Current</th>
                </tr>
              </thead>
              <tbody>
                {keys.parameterSets.map((p) => (
                  <tr key={p.fingerprint}>
                    <td>
                      <code title={p.fingerprint}>{p.fingerprint.slice(0, 16)}</code>
                    </td>
                    <td>{p.models.join(', ') || '–'}</td>
                    <td>{p.versions.join(', ') || '–'}</td>
                    <td>{p.current ?? '–'}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        <div className="actions">
          <button type="button" className="button" onClick={rotate} disabled={busy !== null} aria-busy={busy === 'rotate'} data-testid="rotate-keys">
            {busy === 'rotate' ? 'Rotating…' : confirmRotate ? 'Confirm: create new keys' : 'Rotate keys'}
          </button>
          {confirmRotate && (
            <button type="button" className="button ghost" onClick={() => setConfirmRotate(false)}>
              Keep the current keys
            </button>
          )}
          <button type="button" className="button" onClick={() => void act('forget', () => bridge().keys.forgetAtProvider(), (r) => setMessage(`The provider was asked to delete ${r.sessions} key session${r.sessions === 1 ? '' : 's'}.`))} disabled={busy !== null} data-testid="forget-keys">
            {busy === 'forget' ? 'Forgetting…' : 'Forget my keys at the provider'}
          </button>
        </div>
        <ErrorNotice error={errorFor('rotate') ?? errorFor('forget')} />
      </section>

      <CheckSettings onSaved={setMessage} />

      <PublisherPins
        onForgotten={(text) => {
          setMessage(text);
          onPinsForgotten();
        }}
      />

      <form className="card" onSubmit={backup} noValidate aria-labelledby="backup-title">
        <h2 id="backup-title">Export a backup</h2>
        <p className="small muted">The backup holds your keys and history, encrypted under a separate backup passphrase. Without it the backup cannot be read.</p>
        <div className="field">
          <label htmlFor="backup-passphrase">Backup passphrase</label>
          <input id="backup-passphrase" type="password" autoComplete="new-password" value={backupPassphrase} onChange={(e) => setBackupPassphrase(e.target.value)} />
        </div>
        <div className="field">
          <label htmlFor="backup-confirm">Repeat the backup passphrase</label>
          <input id="backup-confirm" type="password" autoComplete="new-password" value={backupConfirm} onChange={(e) => setBackupConfirm(e.target.value)} />
        </div>
        <ErrorNotice error={errorFor('backup')} title="No backup was written." />
        <div className="actions">
          <button type="submit" className="button" disabled={busy !== null} aria-busy={busy === 'backup'} data-testid="export-backup">
            {busy === 'backup' ? 'Writing the backup…' : 'Export the backup'}
          </button>
        </div>
      </form>

      <form className="card" onSubmit={changePassphrase} noValidate aria-labelledby="passphrase-title">
        <h2 id="passphrase-title">Change the passphrase</h2>
        <div className="field">
          <label htmlFor="current-passphrase">Current passphrase</label>
          <input id="current-passphrase" type="password" autoComplete="current-password" value={current} onChange={(e) => setCurrent(e.target.value)} />
        </div>
        <div className="field">
          <label htmlFor="next-passphrase">New passphrase</label>
          <input id="next-passphrase" type="password" autoComplete="new-password" value={next} onChange={(e) => setNext(e.target.value)} aria-describedby="next-strength" />
          {next.length > 0 && <StrengthMeter strength={passphraseStrength(next)} id="next-strength" />}
        </div>
        <ErrorNotice error={errorFor('passphrase')} title="The passphrase was not changed." />
        <div className="actions">
          <button type="submit" className="button" disabled={busy !== null}>
            Change the passphrase
          </button>
        </div>
      </form>

      <section className="card" aria-labelledby="lock-title">
        <h2 id="lock-title">Lock</h2>
        <p className="small muted">Locking forgets the vault key in memory; the passphrase is needed again.{status?.keychain === 'enabled' ? ' The system keychain can also unlock it.' : ''}</p>
        <button type="button" className="button" onClick={() => void act('lock', () => bridge().vault.lock(), onLocked)} disabled={busy !== null} data-testid="lock-now">
          Lock now
        </button>
        <ErrorNotice error={errorFor('lock')} />
      </section>

      <form className="card danger-zone" onSubmit={wipe} noValidate aria-labelledby="wipe-title">
        <h2 id="wipe-title">Wipe everything</h2>
        <p>
          Deletes the vault from this computer: your keys, settings and history. This cannot be undone; a backup is the only way back. Keys already at a
          provider cannot decrypt anything, but you may want to forget them there first.
        </p>
        <div className="field">
          <label htmlFor="wipe-confirm">
            Type <strong>wipe</strong> to confirm
          </label>
          <input id="wipe-confirm" type="text" autoComplete="off" spellCheck={false} value={wipeWord} onChange={(e) => setWipeWord(e.target.value)} data-testid="wipe-confirm" />
        </div>
        <ErrorNotice error={errorFor('wipe')} title="Nothing was wiped." />
        <div className="actions">
          <button type="submit" className="button danger" disabled={busy !== null || wipeWord !== 'wipe'} data-testid="wipe">
            {busy === 'wipe' ? 'Wiping…' : 'Wipe the vault'}
          </button>
        </div>
      </form>
    </div>
  );
}
