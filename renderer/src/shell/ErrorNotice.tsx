import type { BridgeError } from '../api/contract.js';

/** A failure the user can act on: the message first, the stable code for support. */
export function ErrorNotice({ error, title, onDismiss }: { error: BridgeError | null; title?: string; onDismiss?: () => void }) {
  if (!error) return null;
  return (
    <div className="notice error" role="alert" data-testid="error" data-code={error.code}>
      <p>
        <strong>{title ?? 'That did not work.'}</strong> {error.message}
      </p>
      <p className="muted small">
        Code: <code>{error.code}</code>
      </p>
      {onDismiss && (
        <button type="button" className="button ghost small" onClick={onDismiss}>
          Dismiss
        </button>
      )}
    </div>
  );
}
