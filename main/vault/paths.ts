import os from 'node:os';
import path from 'node:path';

export const APP_FOLDER_NAME = 'CipherCare';
export const VAULT_FILE_NAME = 'vault.sqlite';

/** The files SQLite may keep beside the vault: all of them hold vault pages and go together. */
export const SQLITE_SIDE_SUFFIXES = ['-wal', '-shm', '-journal'] as const;

export interface PlatformEnvironment {
  platform: NodeJS.Platform;
  env: Readonly<Record<string, string | undefined>>;
  homedir: string;
}

/**
 * The platform's per-user application-data folder for CipherCare, the same folder Electron's
 * `app.getPath('userData')` gives, so that the CLI and the desktop app share one vault.
 */
export function defaultDataDir(environment: PlatformEnvironment = { platform: process.platform, env: process.env, homedir: os.homedir() }): string {
  const { platform, env, homedir } = environment;
  if (platform === 'win32') {
    const appData = nonEmpty(env.APPDATA) ?? path.win32.join(homedir, 'AppData', 'Roaming');
    return path.win32.join(appData, APP_FOLDER_NAME);
  }
  if (platform === 'darwin') {
    return path.posix.join(homedir, 'Library', 'Application Support', APP_FOLDER_NAME);
  }
  // XDG says a relative XDG_CONFIG_HOME is invalid and must be ignored.
  const xdg = nonEmpty(env.XDG_CONFIG_HOME);
  const configHome = xdg !== undefined && path.posix.isAbsolute(xdg) ? xdg : path.posix.join(homedir, '.config');
  return path.posix.join(configHome, APP_FOLDER_NAME);
}

export function vaultFilePath(dir: string): string {
  return path.join(dir, VAULT_FILE_NAME);
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}
