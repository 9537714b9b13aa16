import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { VaultError } from './errors.js';
import { LATEST_SCHEMA_VERSION, VAULT_APPLICATION_ID, migrate, schemaVersion, tooNew } from './migrations.js';
import { SQLITE_SIDE_SUFFIXES } from './paths.js';

/** The commit marker beside the vault (commit-marker.ts); defined here, which that module imports. */
export const COMMIT_MARKER_SUFFIX = '-commits';

const SQLITE_MAGIC = Buffer.from('SQLite format 3\0', 'latin1');
const SQLITE_HEADER_BYTES = 100;
/** Offsets in the SQLite file header (https://sqlite.org/fileformat.html#the_database_header). */
const HEADER_PAGE_SIZE = 16;
const HEADER_CHANGE_COUNTER = 24;
const HEADER_PAGE_COUNT = 28;
const HEADER_USER_VERSION = 60;
const HEADER_VERSION_VALID_FOR = 92;
const HEADER_APPLICATION_ID = 68;

/** Tables every schema version since 1 has; the rest is the migrations' business. */
const REQUIRED_TABLES = ['vault_meta', 'key_wraps', 'secret_keys'] as const;

/** How long a second process (a CLI beside the app) waits for a write lock before failing. */
const BUSY_TIMEOUT_MS = 5_000;

/**
 * Checks, without modifying anything, that `file` is a complete CipherCare vault this version
 * can read. Throws `vault_not_found`, `not_a_vault` or `vault_too_new`.
 *
 * A read-only connection is used on purpose: a read-write one would checkpoint a leftover
 * WAL into the file on close, changing a foreign database we have no business touching.
 */
export function inspectVaultFile(file: string): void {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch (error) {
    if (isErrno(error, 'ENOENT')) throw new VaultError('vault_not_found', `No vault at ${file}. Create one, or import a backup.`, { file });
    throw error;
  }
  if (!stat.isFile()) throw notAVault(file, 'foreign', 'it is not a regular file');
  const header = stat.size < SQLITE_HEADER_BYTES ? undefined : readHeader(file);
  if (header === undefined || !header.subarray(0, SQLITE_MAGIC.length).equals(SQLITE_MAGIC)) {
    throw notAVault(file, stat.size === 0 ? 'truncated' : 'foreign', stat.size === 0 ? 'it is empty' : 'it is not an SQLite database');
  }
  // Decided from the header bytes before any connection exists, because even a read-only
  // connection leaves empty -wal and -shm files beside a WAL-mode database. The header is
  // authoritative for both: a vault is always checkpointed once before it is published, so
  // its header carries the application id, and user_version never decreases.
  if (header.readInt32BE(HEADER_APPLICATION_ID) !== VAULT_APPLICATION_ID) throw notAVault(file, 'foreign', 'it is an SQLite database of another application');
  const headerVersion = header.readUInt32BE(HEADER_USER_VERSION);
  if (headerVersion > LATEST_SCHEMA_VERSION) throw tooNew(headerVersion, LATEST_SCHEMA_VERSION);
  // Only to name the problem when SQLite reports damage, never to refuse on its own.
  const shortBy = missingBytes(header, stat.size);
  const damage = (what: string): string => (shortBy > 0 ? `it is ${shortBy} bytes shorter than its header says (cut short?); ${what}` : what);
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
    // Again through SQLite, which also sees pages still in the WAL.
    if (db.pragma('application_id', { simple: true }) !== VAULT_APPLICATION_ID) throw notAVault(file, 'foreign', 'it is an SQLite database of another application');
    const version = schemaVersion(db);
    if (version > LATEST_SCHEMA_VERSION) throw tooNew(version, LATEST_SCHEMA_VERSION);
    // Cheap for a vault's size, and the only way to tell a cut-short file from a sound one
    // before a read somewhere deep in the history fails.
    const problems = (db.pragma('quick_check') as Array<{ quick_check: string }>).map((row) => row.quick_check);
    if (problems.length !== 1 || problems[0] !== 'ok') throw notAVault(file, shortBy > 0 ? 'truncated' : 'corrupt', damage(`SQLite reports damage (${problems.slice(0, 3).join('; ')})`));
    const present = new Set(db.prepare<[], { name: string }>("SELECT name FROM sqlite_schema WHERE type = 'table'").all().map((row) => row.name));
    const missing = REQUIRED_TABLES.filter((table) => !present.has(table));
    if (missing.length > 0) throw notAVault(file, 'incomplete', `its tables ${missing.join(', ')} are missing`);
    const meta = db.prepare('SELECT count(*) AS n FROM vault_meta').get() as { n: number };
    const wrap = db.prepare("SELECT count(*) AS n FROM key_wraps WHERE method = 'passphrase'").get() as { n: number };
    if (meta.n !== 1 || wrap.n !== 1) throw notAVault(file, 'incomplete', 'its key record is missing');
  } catch (error) {
    if (error instanceof VaultError) throw error;
    if (error instanceof Database.SqliteError) {
      const corrupt = error.code.startsWith('SQLITE_CORRUPT') || error.code === 'SQLITE_NOTADB';
      throw notAVault(file, shortBy > 0 ? 'truncated' : corrupt ? 'corrupt' : 'unreadable', damage(`SQLite reports ${error.code}: ${error.message}`), error);
    }
    throw error;
  } finally {
    db?.close();
  }
}

/**
 * Opens a connection for use: WAL, so a killed process loses nothing committed and readers
 * never block the writer; synchronous=FULL, so a commit also survives a power cut (the vault
 * holds secret keys, and writes are rare, one per prediction: the extra fsync is cheap);
 * foreign keys on; secure_delete, so a replaced wrapped key or deleted row is overwritten
 * rather than left in free pages.
 */
export function openConnection(file: string, options: { create: boolean }): Database.Database {
  const db = new Database(file, { fileMustExist: !options.create });
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    db.pragma('secure_delete = ON');
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    migrate(db);
    return db;
  } catch (error) {
    db.close();
    throw error;
  }
}

/** Deletes the vault file and every SQLite side file; missing files are fine. */
export function removeVaultFiles(file: string): void {
  for (const suffix of ['', ...SQLITE_SIDE_SUFFIXES, COMMIT_MARKER_SUFFIX]) fs.rmSync(file + suffix, { force: true });
}

/** Side files left without their main file must not be replayed into a new vault of the same name. */
export function removeOrphanSideFiles(file: string): void {
  if (fs.existsSync(file)) return;
  for (const suffix of [...SQLITE_SIDE_SUFFIXES, COMMIT_MARKER_SUFFIX]) fs.rmSync(file + suffix, { force: true });
}

/** The directory for the vault, private to the user. */
export function ensurePrivateDir(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
}

function fsyncPath(target: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(target, 'r');
    fs.fsyncSync(fd);
  } catch (error) {
    // Windows cannot open or fsync a directory; the rename is still atomic there.
    if (!(isErrno(error, 'EISDIR') || isErrno(error, 'EPERM') || isErrno(error, 'EINVAL'))) throw error;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/**
 * How many bytes the file lacks compared with the page count in its header (0 if none, or if
 * that count is not valid: SQLite trusts it only when the version-valid-for number matches
 * the change counter).
 */
function missingBytes(header: Buffer, size: number): number {
  const rawPageSize = header.readUInt16BE(HEADER_PAGE_SIZE);
  const pageSize = rawPageSize === 1 ? 65536 : rawPageSize;
  const valid = header.readUInt32BE(HEADER_CHANGE_COUNTER) === header.readUInt32BE(HEADER_VERSION_VALID_FOR);
  const expected = header.readUInt32BE(HEADER_PAGE_COUNT) * pageSize;
  return valid && expected > size ? expected - size : 0;
}

function readHeader(file: string): Buffer {
  const header = Buffer.alloc(SQLITE_HEADER_BYTES);
  const fd = fs.openSync(file, 'r');
  try {
    fs.readSync(fd, header, 0, header.length, 0);
  } finally {
    fs.closeSync(fd);
  }
  return header;
}

type NotAVaultReason = 'foreign' | 'truncated' | 'corrupt' | 'incomplete' | 'unreadable';

function notAVault(file: string, reason: NotAVaultReason, why: string, cause?: unknown): VaultError {
  const advice = reason === 'foreign'
    ? 'Choose another data folder, or move that file away.'
    : reason === 'unreadable'
      ? 'Check that the file can be read (permissions, another program holding it). It was left unchanged.'
      : 'The file may be truncated or damaged; restore it from a backup. It was left unchanged.';
  return new VaultError('not_a_vault', `${file} is not a usable CipherCare vault: ${why}. ${advice}`, { file, reason }, { cause });
}

export function isErrno(error: unknown, code: string): boolean {
  return error instanceof Error && (error as NodeJS.ErrnoException).code === code;
}

/**
 * Builds a new vault file beside `final` and moves it into place only when complete, without
 * ever replacing an existing vault (a hard link fails if `final` exists). `fill` writes the
 * rows; the schema is already migrated when it runs.
 */
export function buildVaultFile(final: string, fill: (db: Database.Database) => void): void {
  const temporary = `${final}.building-${randomBytes(6).toString('hex')}`;
  try {
    const db = openConnection(temporary, { create: true });
    try {
      fill(db);
    } finally {
      // Closing the last connection checkpoints the WAL into the file and removes it.
      db.close();
    }
    fs.chmodSync(temporary, 0o600);
    fsyncPath(temporary);
    try {
      fs.linkSync(temporary, final);
    } catch (error) {
      if (isErrno(error, 'EEXIST')) throw vaultExists(final);
      // A file system without hard links (FAT): check, then rename.
      if (!(isErrno(error, 'EPERM') || isErrno(error, 'ENOTSUP') || isErrno(error, 'EXDEV'))) throw error;
      if (fs.existsSync(final)) throw vaultExists(final);
      fs.renameSync(temporary, final);
    }
    fsyncPath(path.dirname(final));
  } finally {
    removeVaultFiles(temporary);
  }
}

export function vaultExists(file: string): VaultError {
  return new VaultError('vault_exists', `A vault already exists at ${file}. Open it, or choose another data folder; it was left unchanged.`, { file });
}

/** Writes a whole file or nothing: temporary file, fsync, rename. Private to the user. */
export function writeFileAtomically(target: string, bytes: Uint8Array): void {
  const temporary = `${target}.writing-${randomBytes(6).toString('hex')}`;
  try {
    const fd = fs.openSync(temporary, 'wx', 0o600);
    try {
      fs.writeFileSync(fd, bytes);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(temporary, target);
    fsyncPath(path.dirname(target));
  } finally {
    fs.rmSync(temporary, { force: true });
  }
}
