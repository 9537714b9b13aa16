import { useMemo, useState } from 'react';
import type { FormEvent } from 'react';
import { bridge, toUiError } from '../api/bridge.js';
import type { BridgeError, VaultStatus } from '../api/contract.js';
import { ErrorNotice } from '../shell/ErrorNotice.js';
import { ScreenHeading } from '../shell/ScreenHeading.js';
import { StaysHere } from './StaysHere.js';
import { StrengthMeter } from './StrengthMeter.js';
import { MIN_LENGTH, acceptable, passphraseStrength } from './strength.js';

/** First run: explain what stays here, then create the vault under a passphrase. */
export function Onboarding({ status, onCreated }: { status: VaultStatus | null; onCreated: (status: VaultStatus) => void }) {
  const [passphrase, setPassphrase] = useState('');
  const [confirm, setConfirm] = useState('');
  const [show, setShow] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<BridgeError | null>(null);
  const [touched, setTouched] = useState(false);
  const strength = useMemo(() => passphraseStrength(passphrase), [passphrase]);
  const strongEnough = acceptable(strength, passphrase);
  const matches = passphrase === confirm;

  async function submit(event: FormEvent) {
    event.preventDefault();
    setTouched(true);
    if (!strongEnough || !matches) {
      document.getElementById(!strongEnough ? 'new-passphrase' : 'confirm-passphrase')?.focus();
      return;
    }
    setBusy(true);
    setError(null);
    try {
      onCreated(await bridge().vault.create(passphrase));
    } catch (err) {
      setError(toUiError(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <div className="screen onboarding" data-screen="onboarding">
      <ScreenHeading>Welcome to CipherCare</ScreenHeading>
      <p className="lead">
        Private predictions from medical-style data: your values are encrypted on this computer, computed on while still encrypted, and only decrypted here.
      </p>
      <StaysHere />
      <form className="card" onSubmit={submit} noValidate aria-labelledby="create-vault-title">
        <h2 id="create-vault-title">Create your vault</h2>
        {status && (
          <p className="muted small">
            The vault will be stored in <code>{status.dataDir}</code>.
          </p>
        )}
        <div className="field">
          <label htmlFor="new-passphrase">Passphrase</label>
          <input
            id="new-passphrase"
            type={show ? 'text' : 'password'}
            autoComplete="new-password"
            value={passphrase}
            onChange={(e) => setPassphrase(e.target.value)}
            aria-describedby="passphrase-strength passphrase-rule"
            aria-invalid={touched && !strongEnough}
            required
          />
          <p id="passphrase-rule" className={touched && !strongEnough ? 'field-error' : 'muted small'}>
            At least {MIN_LENGTH} characters and a strength of “Fair” or better.
          </p>
          <StrengthMeter strength={strength} id="passphrase-strength" />
        </div>
        <div className="field">
          <label htmlFor="confirm-passphrase">Repeat the passphrase</label>
          <input
            id="confirm-passphrase"
            type={show ? 'text' : 'password'}
            autoComplete="new-password"
            value={confirm}
            onChange={(e) => setConfirm(e.target.value)}
            aria-invalid={touched && !matches}
            aria-describedby={touched && !matches ? 'confirm-error' : undefined}
            required
          />
          {touched && !matches && (
            <p id="confirm-error" className="field-error">
              The two passphrases differ.
            </p>
          )}
        </div>
        <div className="field checkbox">
          <input id="show-passphrase" type="checkbox" checked={show} onChange={(e) => setShow(e.target.checked)} />
          <label htmlFor="show-passphrase">Show the passphrase</label>
        </div>
        <ErrorNotice error={error} title="The vault could not be created." />
        <div className="actions">
          <button type="submit" className="button primary" disabled={busy} aria-busy={busy} data-testid="create-vault">
            {busy ? 'Creating the vault…' : 'Create the vault'}
          </button>
        </div>
      </form>
    </div>
  );
}
