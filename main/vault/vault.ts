import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import type Database from 'better-sqlite3';
import { decodeBackup, encodeBackup, invalid } from './backup-format.js';
import { restoreRows, snapshotRows } from './backup.js';
import { acceptLoss, databaseState, lostChanges, readCommitMarker, writeCommitMarker } from './commit-marker.js';
import { newDataKey } from './crypto.js';
import { VaultError } from './errors.js';
import type { HistoryEntry, HistoryPage, HistoryQuery, NewHistoryEntry } from './history.js';
import * as history from './history.js';
import type { ScryptParams } from './kdf.js';
import { SCRYPT_DEFAULT, checkPassphrase, checkScryptParams } from './kdf.js';
import type { KeyWrapper } from './key-wrapper.js';
import { assertSecure, keychainWrapName, makeKeyCheck, readKeychainWrap, readPassphraseWrap, unwrapWithPassphrase, verifyKeyCheck, wrapWithPassphrase, writeKeychainWrap, writePassphraseWrap } from './key-wraps.js';
import { vaultFilePath } from './paths.js';
import type { StoredSecretKey } from './secret-keys.js';
import * as secretKeys from './secret-keys.js';
import * as settings from './settings.js';
import { buildVaultFile, ensurePrivateDir, inspectVaultFile, isErrno, openConnection, removeOrphanSideFiles, removeVaultFiles, vaultExists, writeFileAtomically } from './vault-file.js';

export interface VaultOptions {
  /**
   * scrypt parameters for every new passphrase wrap (create, passphrase change, backup).
   * Default `SCRYPT_DEFAULT`; tests may pass `SCRYPT_FLOOR` for speed. Anything below the
   * floor is refused with `kdf_downgrade`.
   */
  readonly kdf?: ScryptParams;
  /**
   * Open a vault that lost committed changes (`changes_lost`) instead of refusing it: the rest
   * is readable, the loss stays reported in `lostChanges`, and lost ids are never given again.
   */
  readonly acceptLostChanges?: boolean;
}

type VaultState = { readonly kind: 'locked' } | { readonly kind: 'unlocked'; readonly dataKey: Buffer } | { readonly kind: 'closed' };

/**
 * The encrypted store of one user: HE secret keys, prediction history and settings, in one
 * SQLite file. Secret rows are sealed with a random data key that only a passphrase (or an
 * OS keychain) unwraps; see docs/vault.md.
 */
export class Vault {
  readonly dir: string;
  readonly file: string;
  readonly #db: Database.Database;
  readonly #kdf: ScryptParams;
  #state: VaultState = { kind: 'locked' };
  #lostChanges: VaultError | undefined;

  private constructor(dir: string, db: Database.Database, kdf: ScryptParams) {
    this.dir = dir;
    this.file = vaultFilePath(dir);
    this.#db = db;
    this.#kdf = kdf;
  }

  /** Creates a vault in `dir` (made if missing) and returns it unlocked. `vault_exists` if there is one. */
  static async create(dir: string, passphrase: string, options: VaultOptions = {}): Promise<Vault> {
    checkPassphrase(passphrase, 'passphrase');
    const kdf = kdfOption(options);
    const file = vaultFilePath(dir);
    ensurePrivateDir(dir);
    if (fs.existsSync(file)) throw vaultExists(file);
    const dataKey = newDataKey();
    try {
      const wrap = await wrapWithPassphrase(dataKey, passphrase, kdf);
      const vaultId = randomUUID();
      removeOrphanSideFiles(file);
      buildVaultFile(file, (db) => {
        db.transaction(() => {
          db.prepare('INSERT INTO vault_meta (singleton, vault_id, created_at, key_check) VALUES (1, ?, ?, ?)').run(vaultId, new Date().toISOString(), makeKeyCheck(dataKey, vaultId));
          writePassphraseWrap(db, wrap);
        }).immediate();
      });
      return Vault.#openWithKey(dir, kdf, dataKey);
    } catch (error) {
      dataKey.fill(0);
      throw error;
    }
  }

  /**
   * Opens the vault in `dir`, locked. Refuses, without modifying the file, one that is
   * missing (`vault_not_found`), foreign or damaged (`not_a_vault`) or newer (`vault_too_new`);
   * then applies pending migrations.
   */
  static open(dir: string, options: VaultOptions = {}): Vault {
    const kdf = kdfOption(options);
    const file = vaultFilePath(dir);
    inspectVaultFile(file);
    const db = openConnection(file, { create: false });
    let lost: VaultError | undefined;
    try {
      // Committed changes missing from the file (a WAL lost after a crash): refused, unless accepted.
      const state = databaseState(db);
      const marker = readCommitMarker(file);
      lost = state === undefined ? undefined : lostChanges(db, state, marker, file);
      if (lost !== undefined) {
        if (options.acceptLostChanges !== true) throw lost;
        if (marker !== undefined) acceptLoss(db, marker);
      }
    } catch (error) {
      db.close();
      throw error;
    }
    const vault = new Vault(dir, db, kdf);
    vault.#lostChanges = lost;
    vault.#committed();
    return vault;
  }

  /**
   * Restores a backup made by `exportBackup` into `dir`, which must hold no vault, and returns
   * it unlocked. The restored vault's passphrase is the backup passphrase (change it after);
   * keychain unlock is not restored, since a keychain blob belongs to one machine.
   */
  static async importBackup(backupFile: string, backupPassphrase: string, dir: string, options: VaultOptions = {}): Promise<Vault> {
    checkPassphrase(backupPassphrase, 'backup passphrase');
    const kdf = kdfOption(options);
    const file = vaultFilePath(dir);
    if (fs.existsSync(file)) throw vaultExists(file);
    let bytes: Buffer;
    try {
      bytes = fs.readFileSync(backupFile);
    } catch (error) {
      throw new VaultError('backup_invalid', `The backup file ${backupFile} cannot be read (${isErrno(error, 'ENOENT') ? 'it does not exist' : String((error as NodeJS.ErrnoException).code)}).`, { file: backupFile }, { cause: error });
    }
    const { contents, dataKey } = await decodeBackup(bytes, backupPassphrase);
    try {
      if (!verifyKeyCheck(dataKey, contents.vault.vaultId, contents.vault.keyCheck)) throw invalid('its key check does not match its key');
      const wrap = await wrapWithPassphrase(dataKey, backupPassphrase, kdf);
      ensurePrivateDir(dir);
      removeOrphanSideFiles(file);
      buildVaultFile(file, (db) => {
        try {
          db.transaction(() => {
            restoreRows(db, contents);
            writePassphraseWrap(db, wrap);
          }).immediate();
        } catch (error) {
          if (error instanceof VaultError) throw error;
          throw invalid(`its rows do not fit the vault (${error instanceof Error ? error.message : 'unknown reason'})`);
        }
      });
      return Vault.#openWithKey(dir, kdf, dataKey);
    } catch (error) {
      dataKey.fill(0);
      throw error;
    }
  }

  static #openWithKey(dir: string, kdf: ScryptParams, dataKey: Buffer): Vault {
    const vault = Vault.open(dir, { kdf });
    vault.#state = { kind: 'unlocked', dataKey };
    return vault;
  }

  /** The `changes_lost` error this vault was opened with (`acceptLostChanges`), if any: show it. */
  get lostChanges(): VaultError | undefined {
    return this.#lostChanges;
  }

  get isUnlocked(): boolean {
    return this.#state.kind === 'unlocked';
  }

  get isClosed(): boolean {
    return this.#state.kind === 'closed';
  }

  /** `wrong_passphrase`, or `kdf_downgrade` / `kdf_unsupported` if the file's scrypt parameters were tampered with. */
  async unlock(passphrase: string): Promise<void> {
    checkPassphrase(passphrase, 'passphrase');
    const wrap = readPassphraseWrap(this.#openDb());
    const dataKey = await unwrapWithPassphrase(wrap, passphrase);
    this.#accept(dataKey, () => this.#keyCheckTampered());
  }

  /** Unlocks with the OS keychain: `keychain_insecure` for an obfuscating backend, `keychain_unavailable` if not set up or failing. */
  unlockWithKeychain(wrapper: KeyWrapper): void {
    const dataKey = readKeychainWrap(this.#openDb(), wrapper);
    this.#accept(dataKey, () => new VaultError('keychain_unavailable', `The system keychain "${wrapper.name}" gave a key that does not open this vault. Unlock with the passphrase, then enable keychain unlock again.`, { wrapper: wrapper.name }));
  }

  /** Also wraps the data key with the OS keychain, so that later unlocks need no passphrase. */
  enableKeychain(wrapper: KeyWrapper): void {
    assertSecure(wrapper);
    const dataKey = this.#key();
    this.#db.transaction(() => writeKeychainWrap(this.#db, wrapper, dataKey)).immediate();
    this.#committed();
  }

  disableKeychain(): void {
    const db = this.#openDb();
    db.transaction(() => db.prepare("DELETE FROM key_wraps WHERE method = 'keychain'").run()).immediate();
    this.#committed();
  }

  /** The keychain backend name keychain unlock was set up with, if any. */
  keychainBackend(): string | undefined {
    return keychainWrapName(this.#openDb());
  }

  /** Forgets the data key: zeroed in memory; secret reads and writes fail with `vault_locked` until unlocked again. */
  lock(): void {
    if (this.#state.kind === 'unlocked') {
      this.#state.dataKey.fill(0);
      this.#state = { kind: 'locked' };
    }
  }

  /** Locks and closes the database; the object is unusable afterwards (`vault_closed`). */
  close(): void {
    if (this.#state.kind === 'closed') return;
    this.lock();
    this.#state = { kind: 'closed' };
    this.#db.close();
  }

  /**
   * Re-wraps the data key under a new passphrase in one transaction; rows are untouched. The
   * old wrap is overwritten (secure_delete) and the WAL truncated, so the file no longer holds
   * a copy the old passphrase opens. Works locked or unlocked, and leaves that state as it was.
   */
  async changePassphrase(oldPassphrase: string, newPassphrase: string): Promise<void> {
    checkPassphrase(oldPassphrase, 'current passphrase');
    checkPassphrase(newPassphrase, 'new passphrase');
    const current = readPassphraseWrap(this.#openDb());
    const dataKey = await unwrapWithPassphrase(current, oldPassphrase);
    try {
      if (!this.#keyCheckPasses(dataKey)) throw this.#keyCheckTampered();
      const next = await wrapWithPassphrase(dataKey, newPassphrase, this.#kdf);
      const db = this.#openDb();
      db.transaction(() => writePassphraseWrap(db, next, current)).immediate();
      this.#committed();
      db.pragma('wal_checkpoint(TRUNCATE)');
    } finally {
      dataKey.fill(0);
    }
  }

  /** Writes an encrypted, authenticated backup (format in docs/vault.md); needs the vault unlocked. */
  async exportBackup(backupFile: string, backupPassphrase: string): Promise<void> {
    checkPassphrase(backupPassphrase, 'backup passphrase');
    // A copy: the scrypt wait below must not see the key zeroed by a lock() meanwhile.
    const dataKey = Buffer.from(this.#key());
    try {
      const contents = snapshotRows(this.#db);
      writeFileAtomically(backupFile, await encodeBackup(contents, dataKey, backupPassphrase, this.#kdf));
    } finally {
      dataKey.fill(0);
    }
  }

  /**
   * Deletes the vault file with its -wal and -shm. Irreversible; the object is unusable after.
   * The rows were encrypted, so what a file system may keep of the deleted blocks is ciphertext.
   */
  wipe(): void {
    if (this.#state.kind !== 'closed') this.close();
    removeVaultFiles(this.file);
  }

  putSecretKey(fingerprint: string, bytes: Uint8Array): { version: number } {
    const version = secretKeys.putSecretKey(this.#db, this.#key(), fingerprint, bytes);
    this.#committed();
    return { version };
  }

  /** The current (highest) version, or undefined if none; `row_tampered` if that row fails authentication. */
  currentSecretKey(fingerprint: string): StoredSecretKey | undefined {
    return secretKeys.currentSecretKey(this.#db, this.#key(), fingerprint);
  }

  secretKey(fingerprint: string, version: number): StoredSecretKey | undefined {
    return secretKeys.secretKey(this.#db, this.#key(), fingerprint, version);
  }

  secretKeyVersions(fingerprint: string): number[] {
    return secretKeys.secretKeyVersions(this.#openDb(), fingerprint);
  }

  addHistory(entry: NewHistoryEntry): number {
    const id = history.addHistory(this.#db, this.#key(), entry);
    this.#committed();
    return id;
  }

  listHistory(query: HistoryQuery = {}): HistoryPage {
    return history.listHistory(this.#db, this.#key(), query);
  }

  historyEntry(id: number): HistoryEntry | undefined {
    return history.historyEntry(this.#db, this.#key(), id);
  }

  getSetting(name: string): string | undefined {
    return settings.getSetting(this.#openDb(), name);
  }

  setSetting(name: string, value: string): void {
    settings.setSetting(this.#openDb(), name, value);
    this.#committed();
  }

  deleteSetting(name: string): void {
    settings.deleteSetting(this.#openDb(), name);
    this.#committed();
  }

  listSettings(): Record<string, string> {
    return settings.listSettings(this.#openDb());
  }

  /** A secret setting, such as a remote provider's API key. */
  getSecret(name: string): string | undefined {
    return settings.getSecretSetting(this.#db, this.#key(), name);
  }

  setSecret(name: string, value: string): void {
    settings.setSecretSetting(this.#db, this.#key(), name, value);
    this.#committed();
  }

  deleteSecret(name: string): void {
    settings.deleteSecretSetting(this.#openDb(), name);
    this.#committed();
  }

  /** After each commit: the commit marker records what the database now holds (commit-marker.ts). */
  #committed(): void {
    const state = databaseState(this.#db);
    if (state !== undefined) writeCommitMarker(this.file, state);
  }

  #openDb(): Database.Database {
    if (this.#state.kind === 'closed') throw closedError();
    return this.#db;
  }

  #key(): Buffer {
    if (this.#state.kind === 'closed') throw closedError();
    if (this.#state.kind === 'locked') throw new VaultError('vault_locked', 'The vault is locked. Unlock it with the passphrase (or the system keychain) first.');
    return this.#state.dataKey;
  }

  /** Takes ownership of a candidate key: kept only if it opens the key check, zeroed otherwise. */
  #accept(dataKey: Buffer, mismatch: () => VaultError): void {
    if (this.#state.kind === 'closed') {
      dataKey.fill(0);
      throw closedError();
    }
    if (!this.#keyCheckPasses(dataKey)) {
      dataKey.fill(0);
      throw mismatch();
    }
    this.lock();
    this.#state = { kind: 'unlocked', dataKey };
  }

  #keyCheckPasses(dataKey: Buffer): boolean {
    const meta = this.#openDb().prepare<[], { vault_id: string; key_check: Buffer }>('SELECT vault_id, key_check FROM vault_meta').get();
    return meta !== undefined && Buffer.isBuffer(meta.key_check) && verifyKeyCheck(dataKey, meta.vault_id, meta.key_check);
  }

  #keyCheckTampered(): VaultError {
    return new VaultError('row_tampered', 'The passphrase is right but the vault\'s key check failed authentication: the vault file was modified or damaged. Restore it from a backup.', { table: 'vault_meta', field: 'key_check' });
  }
}

function kdfOption(options: VaultOptions): ScryptParams {
  const kdf = options.kdf ?? SCRYPT_DEFAULT;
  checkScryptParams(kdf, 'options');
  return { N: kdf.N, r: kdf.r, p: kdf.p };
}

function closedError(): VaultError {
  return new VaultError('vault_closed', 'This vault was closed or wiped. Open it again (or create a new one).');
}
