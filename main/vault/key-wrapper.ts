/**
 * An OS keychain that can wrap the data key, such as Electron's `safeStorage` (plugged in by
 * the desktop shell; the vault never imports electron).
 */
export interface KeyWrapper {
  /** The backend's name (e.g. `safeStorage:gnome_libsecret`); a change of backend is noticed. */
  readonly name: string;
  /**
   * Whether the backend really protects secrets. Must be false for a backend that only
   * obfuscates (Electron's Linux `basic_text`), which the vault then refuses, as Signal does.
   */
  isSecure(): boolean;
  wrap(key: Uint8Array): Uint8Array;
  unwrap(blob: Uint8Array): Uint8Array;
}
