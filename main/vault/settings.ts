import type Database from 'better-sqlite3';
import { associatedData, seal, unseal } from './crypto.js';
import { VaultError } from './errors.js';
import { checkName, rowTampered } from './rows.js';

/** Non-secret settings (a provider URL, a chosen model) are stored in the clear and readable while locked. */

export function getSetting(db: Database.Database, name: string): string | undefined {
  checkName(name, 'setting name');
  return db.prepare<[string], { value: string }>('SELECT value FROM settings WHERE name = ?').get(name)?.value;
}

export function setSetting(db: Database.Database, name: string, value: string): void {
  checkName(name, 'setting name');
  if (typeof value !== 'string') throw new VaultError('invalid_argument', 'A setting value is a string.');
  db.transaction(() => db.prepare('INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value').run(name, value)).immediate();
}

export function deleteSetting(db: Database.Database, name: string): void {
  checkName(name, 'setting name');
  db.transaction(() => db.prepare('DELETE FROM settings WHERE name = ?').run(name)).immediate();
}

export function listSettings(db: Database.Database): Record<string, string> {
  const settings: Record<string, string> = {};
  for (const row of db.prepare<[], { name: string; value: string }>('SELECT name, value FROM settings ORDER BY name').all()) settings[row.name] = row.value;
  return settings;
}

/** Secret settings (a remote provider's API key) are sealed like any other secret row. */

export function secretSettingAd(name: string): Buffer {
  return associatedData('secret_settings', name, 'secret_setting');
}

export function getSecretSetting(db: Database.Database, dataKey: Buffer, name: string): string | undefined {
  checkName(name, 'secret name');
  const row = db.prepare<[string], { sealed: Buffer }>('SELECT sealed FROM secret_settings WHERE name = ?').get(name);
  if (row === undefined) return undefined;
  const plain = Buffer.isBuffer(row.sealed) ? unseal(dataKey, row.sealed, secretSettingAd(name)) : undefined;
  if (plain === undefined) throw rowTampered('secret setting', name, 'value');
  try {
    return plain.toString('utf8');
  } finally {
    plain.fill(0);
  }
}

export function setSecretSetting(db: Database.Database, dataKey: Buffer, name: string, value: string): void {
  checkName(name, 'secret name');
  if (typeof value !== 'string') throw new VaultError('invalid_argument', 'A secret value is a string.');
  const plain = Buffer.from(value, 'utf8');
  try {
    const sealed = seal(dataKey, plain, secretSettingAd(name));
    db.transaction(() => db.prepare('INSERT INTO secret_settings (name, sealed) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET sealed = excluded.sealed').run(name, sealed)).immediate();
  } finally {
    plain.fill(0);
  }
}

export function deleteSecretSetting(db: Database.Database, name: string): void {
  checkName(name, 'secret name');
  db.transaction(() => db.prepare('DELETE FROM secret_settings WHERE name = ?').run(name)).immediate();
}
