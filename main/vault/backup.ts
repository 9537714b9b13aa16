import type Database from 'better-sqlite3';
import type { BackupContents } from './backup-format.js';

/** Moving rows between a vault and a backup, exactly as stored: nothing is decrypted or re-sealed. */

/** Every row, from one read transaction so the backup is a consistent snapshot. */
export function snapshotRows(db: Database.Database): BackupContents {
  return db.transaction((): BackupContents => {
    const meta = db.prepare<[], { vault_id: string; created_at: string; key_check: Buffer }>('SELECT vault_id, created_at, key_check FROM vault_meta').get();
    if (meta === undefined) throw new Error('vault_meta is empty; inspectVaultFile should have refused this file');
    return {
      vault: { vaultId: meta.vault_id, createdAt: meta.created_at, keyCheck: meta.key_check },
      secretKeys: db.prepare<[], { fingerprint: string; version: number; created_at: string; sealed: Buffer }>('SELECT fingerprint, version, created_at, sealed FROM secret_keys ORDER BY fingerprint, version').all()
        .map((row) => ({ fingerprint: row.fingerprint, version: row.version, createdAt: row.created_at, sealed: row.sealed })),
      history: db.prepare<[], { id: number; model_id: string; model_version: string; provider: string; created_at: string; input: Buffer; result: Buffer }>('SELECT id, model_id, model_version, provider, created_at, input, result FROM history ORDER BY id').all()
        .map((row) => ({ id: row.id, modelId: row.model_id, modelVersion: row.model_version, provider: row.provider, createdAt: row.created_at, input: row.input, result: row.result })),
      settings: db.prepare<[], { name: string; value: string }>('SELECT name, value FROM settings ORDER BY name').all(),
      secretSettings: db.prepare<[], { name: string; sealed: Buffer }>('SELECT name, sealed FROM secret_settings ORDER BY name').all(),
    };
  })();
}

/**
 * Inserts a backup's rows into a fresh, migrated vault database (without key records; the
 * caller adds those), keeping ids and every field, since the rows' associated data binds them.
 */
export function restoreRows(db: Database.Database, contents: BackupContents): void {
  db.transaction(() => {
    db.prepare('INSERT INTO vault_meta (singleton, vault_id, created_at, key_check) VALUES (1, ?, ?, ?)').run(contents.vault.vaultId, contents.vault.createdAt, contents.vault.keyCheck);
    const key = db.prepare('INSERT INTO secret_keys (fingerprint, version, created_at, sealed) VALUES (?, ?, ?, ?)');
    for (const row of contents.secretKeys) key.run(row.fingerprint, row.version, row.createdAt, row.sealed);
    const history = db.prepare('INSERT INTO history (id, model_id, model_version, provider, created_at, input, result) VALUES (?, ?, ?, ?, ?, ?, ?)');
    for (const row of contents.history) history.run(row.id, row.modelId, row.modelVersion, row.provider, row.createdAt, row.input, row.result);
    const setting = db.prepare('INSERT INTO settings (name, value) VALUES (?, ?)');
    for (const row of contents.settings) setting.run(row.name, row.value);
    const secret = db.prepare('INSERT INTO secret_settings (name, sealed) VALUES (?, ?)');
    for (const row of contents.secretSettings) secret.run(row.name, row.sealed);
  }).immediate();
}
