import type { ReactNode } from 'react';
import type { BridgeError } from '../api/contract.js';
import { uiMessage } from './wording.js';

/**
 * A failure the user can act on: the message first (worded for the app, in sentence case), the
 * actions the app offers for it, then the stable code for support.
 */
export function ErrorNotice({ error, title, onDismiss, children }: { error: BridgeError | null; title?: string; onDismiss?: () => void; children?: ReactNode }) {
  if (!error) return null;
  return (
    <div className="notice error" role="alert" data-testid="error" data-code={error.code}>
      <p>
        <strong>{title ?? 'That did not work.'}</strong> <span data-testid="error-message">{uiMessage(error)}</span>
      </p>
      {children}
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
