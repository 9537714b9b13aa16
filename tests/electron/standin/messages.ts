/**
 * Messages between the stand-in `electron` module (in the app's main process, a Node child of the
 * test) and the test process, which plays Electron's renderer side (Chromium pages, the preload,
 * the custom-protocol origins). Sent over the child's IPC channel with advanced serialization
 * (structured clone, as Electron's IPC).
 */

export interface WebPreferencesSeen {
  preload?: string;
  contextIsolation?: boolean;
  sandbox?: boolean;
  nodeIntegration?: boolean;
}

/** Main process -> test. */
export type MainToHost =
  | { type: 'window:create'; windowId: number; webPreferences: WebPreferencesSeen }
  | { type: 'window:load'; windowId: number; requestId: number; url: string }
  | { type: 'window:show'; windowId: number }
  | { type: 'window:close'; windowId: number }
  | { type: 'ipc:send'; windowId: number; channel: string; args: unknown[] }
  | { type: 'ipc:reply'; requestId: number; ok: true; value: unknown }
  | { type: 'ipc:reply'; requestId: number; ok: false; message: string }
  | { type: 'protocol:response'; requestId: number; status: number; headers: [string, string][]; body: Uint8Array }
  | { type: 'protocol:failure'; requestId: number; error: string }
  | { type: 'dialog'; kind: 'error'; title: string; content: string }
  | { type: 'window:navigate-decision'; requestId: number; prevented: boolean }
  | { type: 'window:open-decision'; requestId: number; action: 'allow' | 'deny' }
  | { type: 'utility:spawn'; pid: number; modulePath: string; envKeys: string[] }
  | { type: 'utility:exit'; pid: number; code: number | null; signal: string | null }
  | { type: 'utility:killed-at-exit'; pid: number }
  | { type: 'app:exit'; code: number };

/** Test -> main process. */
export type HostToMain =
  | { type: 'window:loaded'; requestId: number; error?: { code: number; description: string } }
  | { type: 'window:event'; windowId: number; name: 'did-finish-load' | 'ready-to-show' }
  | { type: 'window:event'; windowId: number; name: 'did-fail-load'; errorCode: number; errorDescription: string; url: string }
  | { type: 'window:event'; windowId: number; name: 'render-process-gone'; reason: string }
  | { type: 'window:closed-by-user'; windowId: number }
  | { type: 'window:will-navigate'; requestId: number; windowId: number; url: string }
  | { type: 'window:open-request'; requestId: number; windowId: number; url: string }
  | { type: 'ipc:invoke'; requestId: number; windowId: number; frameUrl: string; channel: string; args: unknown[] }
  | { type: 'protocol:request'; requestId: number; url: string; method: string; headers: [string, string][] }
  | { type: 'app:quit' };

/** Where the stand-in finds its settings (environment of the main process). */
export const STANDIN_ENV = {
  /** Directory of the stand-in OS keychain's key (persists across launches, as a real keychain). */
  keychainDir: 'CIPHERCARE_STANDIN_KEYCHAIN_DIR',
  /** safeStorage backend to report on Linux (default gnome_libsecret); `unavailable` turns encryption off. */
  keychainBackend: 'CIPHERCARE_STANDIN_KEYCHAIN_BACKEND',
  /** What app.getAppPath() answers. */
  appPath: 'CIPHERCARE_STANDIN_APP_PATH',
} as const;
