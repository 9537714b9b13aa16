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
};

/** Opens the vault. A wrong passphrase is said plainly, the field keeps focus and is selected for retyping. */
export function Unlock({ status, onUnlocked }: { status: VaultStatus | null; onUnlocked: (status: VaultStatus) => void }) {
  const [passphrase, setPassphrase] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<BridgeError | null>(null);
  const input = useRef<HTMLInputElement>(null);

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (passphrase.length === 0) {
      setError({ code: 'passphrase_empty', message: 'Enter your passphrase.' });
      input.current?.focus();
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const next = await bridge().vault.unlock(passphrase);
      setPassphrase('');
      onUnlocked(next);
    } catch (err) {
      const e = toUiError(err);
      setError(e.code === 'wrong_passphrase' ? { ...e, message: 'That passphrase does not open this vault. Check Caps Lock and try again.' } : e);
      input.current?.focus();
      input.current?.select();
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
            aria-invalid={error !== null}
            aria-describedby={error ? 'unlock-error' : undefined}
            autoFocus
          />
        </div>
        <div id="unlock-error">
          <ErrorNotice error={error} title={error ? (TITLES[error.code] ?? 'The vault did not open.') : undefined} />
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
