import { describe, expect, it } from 'vitest';
import { serviceEnvironment } from '../../main/electron/service-environment.js';

describe("the bundled service's environment", () => {
  const parent = {
    PATH: '/usr/bin',
    HOME: '/home/user',
    TMPDIR: '/tmp/user',
    NODE_OPTIONS: '--require /tmp/evil.js',
    HTTPS_PROXY: 'http://proxy.example',
    CIPHERCARE_API_KEYS: 'inherited',
    CIPHERCARE_MODELS_DIR: '/elsewhere',
    CIPHERCARE_BEHIND_PROXY: '1',
    CIPHERCARE_LOG_LEVEL: 'trace',
    SystemRoot: 'C:\\Windows',
    TEMP: 'C:\\Temp',
  };

  it('keeps only what the OS needs and sets the launch settings (POSIX)', () => {
    expect(serviceEnvironment(parent, 'linux')).toEqual({ TMPDIR: '/tmp/user', CIPHERCARE_IPC_REPORT: '1', CIPHERCARE_LOG_LEVEL: 'silent', CIPHERCARE_API_KEYS: '' });
    expect(serviceEnvironment({}, 'darwin')).toEqual({ CIPHERCARE_IPC_REPORT: '1', CIPHERCARE_LOG_LEVEL: 'silent', CIPHERCARE_API_KEYS: '' });
  });

  it('keeps the system folders on Windows', () => {
    expect(serviceEnvironment(parent, 'win32')).toEqual({ SystemRoot: 'C:\\Windows', TEMP: 'C:\\Temp', CIPHERCARE_IPC_REPORT: '1', CIPHERCARE_LOG_LEVEL: 'silent', CIPHERCARE_API_KEYS: '' });
  });
});
