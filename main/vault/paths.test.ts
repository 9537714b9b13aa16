import { describe, expect, it } from 'vitest';
import { defaultDataDir } from './paths.js';

describe('defaultDataDir', () => {
  it('uses %APPDATA% on Windows', () => {
    expect(defaultDataDir({ platform: 'win32', env: { APPDATA: 'C:\\Users\\ana\\AppData\\Roaming' }, homedir: 'C:\\Users\\ana' })).toBe('C:\\Users\\ana\\AppData\\Roaming\\CipherCare');
    expect(defaultDataDir({ platform: 'win32', env: {}, homedir: 'C:\\Users\\ana' })).toBe('C:\\Users\\ana\\AppData\\Roaming\\CipherCare');
  });

  it('uses Application Support on macOS', () => {
    expect(defaultDataDir({ platform: 'darwin', env: {}, homedir: '/Users/ana' })).toBe('/Users/ana/Library/Application Support/CipherCare');
  });

  it('uses XDG_CONFIG_HOME, or ~/.config, elsewhere', () => {
    expect(defaultDataDir({ platform: 'linux', env: { XDG_CONFIG_HOME: '/data/cfg' }, homedir: '/home/ana' })).toBe('/data/cfg/CipherCare');
    expect(defaultDataDir({ platform: 'linux', env: {}, homedir: '/home/ana' })).toBe('/home/ana/.config/CipherCare');
    // A relative XDG_CONFIG_HOME is invalid by the XDG spec and ignored.
    expect(defaultDataDir({ platform: 'freebsd', env: { XDG_CONFIG_HOME: 'cfg' }, homedir: '/home/ana' })).toBe('/home/ana/.config/CipherCare');
  });
});
