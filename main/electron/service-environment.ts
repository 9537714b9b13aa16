/**
 * The environment of the bundled service's utility process: only what the operating system needs
 * to run a Node process (temporary folder; on Windows the system folders), and the service's own
 * launch settings. Nothing else of the user's environment: no PATH, HOME or proxy settings, no
 * NODE_OPTIONS, and no CIPHERCARE_* variable that could reconfigure the service (API keys, models
 * folder, proxy trust, logging).
 */
const SYSTEM_KEYS: Readonly<Record<string, readonly string[]>> = {
  win32: ['SystemRoot', 'SYSTEMROOT', 'windir', 'WINDIR', 'TEMP', 'TMP'],
  default: ['TMPDIR'],
};

export function serviceEnvironment(parent: Readonly<Record<string, string | undefined>>, platform: NodeJS.Platform): Record<string, string> {
  const env: Record<string, string> = {};
  for (const key of SYSTEM_KEYS[platform] ?? SYSTEM_KEYS.default!) {
    const value = parent[key];
    if (value !== undefined && value !== '') env[key] = value;
  }
  // Report the address over IPC (never a terminal or a log), log nothing, no API keys (loopback, token only).
  return { ...env, CIPHERCARE_IPC_REPORT: '1', CIPHERCARE_LOG_LEVEL: 'silent', CIPHERCARE_API_KEYS: '' };
}
