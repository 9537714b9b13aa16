import { useRef, useState } from 'react';
import type { FormEvent } from 'react';
import { bridge, toUiError } from '../api/bridge.js';
import type { BridgeError, VaultStatus } from '../api/contract.js';
import { ErrorNotice } from '../shell/ErrorNotice.js';
import { ScreenHeading } from '../shell/ScreenHeading.js';

const TITLES: Record<string, string> = {
  wrong_passphrase: 'Wrong passphrase.',
  row_tampered: 'The vault file is damaged.',
  kdf_downgrade: 'The vault file was tampered with.',
  kdf_unsupported: 'The vault file was tampered with.',
  changes_lost: 'Some recent changes are missing from the vault file.',
};

/**
 * Opens the vault. A wrong passphrase is said plainly, the field keeps focus and is selected for
 * retyping. A vault file that lost committed changes (docs/vault.md, "Lost changes") says what is
 * missing and offers to open it anyway (accepting the loss) or to leave it closed.
 */
export function Unlock({ status, onUnlocked }: { status: VaultStatus | null; onUnlocked: (status: VaultStatus) => void }) {
  const [passphrase, setPassphrase] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<BridgeError | null>(null);
  const input = useRef<HTMLInputElement>(null);

  const lost = error?.code === 'changes_lost';
  const passphraseAtFault = error !== null && (error.code === 'wrong_passphrase' || error.code === 'passphrase_empty');

  async function submit(event: FormEvent) {
    event.preventDefault();
    await open(false);
  }

  /** Leaves the vault closed: the file stays as it is; the missing changes can still be put back. */
  function leaveClosed() {
    setError(null);
    setPassphrase('');
    input.current?.focus();
  }

  async function open(acceptLostChanges: boolean) {
    if (passphrase.length === 0) {
      setError({ code: 'passphrase_empty', message: 'Enter your passphrase.' });
      input.current?.focus();
      return;
    }
    setBusy(true);
    if (!acceptLostChanges) setError(null);
    try {
      const next = acceptLostChanges ? await bridge().vault.unlockAcceptingLostChanges(passphrase) : await bridge().vault.unlock(passphrase);
      setPassphrase('');
      onUnlocked(next);
    } catch (err) {
      const e = toUiError(err);
      setError(e.code === 'wrong_passphrase' ? { ...e, message: 'That passphrase does not open this vault. Check Caps Lock and try again.' } : e);
      if (e.code !== 'changes_lost') {
        input.current?.focus();
        input.current?.select();
      }
    } finally {
      setBusy(false);
    }
  }

  return (
    <div className="screen unlock" data-screen="unlock">
      <ScreenHeading focus={false}>Unlock CipherCare</ScreenHeading>
      <form className="card narrow" onSubmit={submit} noValidate>
        <p>Your vault is locked. Enter your passphrase to open it.</p>
        {status && (
          <p className="muted small">
            Vault: <code>{status.dataDir}</code>
          </p>
        )}
        <div className="field">
          <label htmlFor="unlock-passphrase">Passphrase</label>
          <input
            ref={input}
            id="unlock-passphrase"
            type="password"
            autoComplete="current-password"
            value={passphrase}
            onChange={(e) => setPassphrase(e.target.value)}
            aria-invalid={passphraseAtFault}
            aria-describedby={error ? 'unlock-error' : undefined}
            autoFocus
          />
        </div>
        <div id="unlock-error">
          <ErrorNotice error={error} title={error ? (TITLES[error.code] ?? 'The vault did not open.') : undefined}>
            {lost && (
              <div data-testid="lost-changes-choices">
                <p>You can:</p>
                <ul>
                  <li>
                    <strong>Leave it closed</strong> if you may still have the missing file: close CipherCare, put <code>vault.sqlite-wal</code> back beside{' '}
                    <code>vault.sqlite</code>
                    {status ? (
                      <>
                        {' '}
                        in <code>{status.dataDir}</code>
                      </>
                    ) : null}
                    , and unlock again. Nothing is changed until you choose.
                  </li>
                  <li>
                    <strong>Open anyway</strong>: everything else in the vault is kept and works as before; the missing changes are gone for good, and new entries never
                    reuse their numbers.
                  </li>
                </ul>
                <div className="actions">
                  <button type="button" className="button primary" onClick={() => void open(true)} disabled={busy} aria-busy={busy} data-testid="unlock-accept-lost">
                    {busy ? 'Opening…' : 'Open anyway'}
                  </button>
                  <button type="button" className="button ghost" onClick={leaveClosed} disabled={busy} data-testid="unlock-leave-closed">
                    Leave it closed
                  </button>
                </div>
              </div>
            )}
          </ErrorNotice>
        </div>
        <div className="actions">
          <button type="submit" className="button primary" disabled={busy} aria-busy={busy} data-testid="unlock">
            {busy ? 'Unlocking…' : 'Unlock'}
          </button>
        </div>
      </form>
    </div>
  );
}
