import fs from 'node:fs';
import type Database from 'better-sqlite3';
import { VaultError } from './errors.js';
import { COMMIT_MARKER_SUFFIX } from './vault-file.js';

/**
 * Detects committed changes that vanished from the vault file (docs/vault.md, "Lost changes").
 *
 * The database counts its own row changes (`vault_commits.changes`, bumped by triggers in the
 * same transaction as the change). After every commit the vault writes that count, with the
 * highest history id and key versions, to a small file beside the database, the commit marker
 * (`vault.sqlite-commits`, fsynced). A committed change lives first in
 * the WAL; if the WAL is deleted or lost after a crash, or an older copy of `vault.sqlite` is put
 * back, the database comes back with a smaller count than the marker: that is reported
 * (`changes_lost`), never passed over. The reverse (database ahead of the marker) is a crash
 * between the commit and the marker write, and harmless.
 */

export { COMMIT_MARKER_SUFFIX };
const MARKER_FORMAT = 'ciphercare-vault-commits/1';

export interface CommitState {
  readonly vaultId: string;
  /** vault_commits.changes */
  readonly changes: number;
  /** The highest history id ever given (sqlite_sequence). */
  readonly historyId: number;
  /** The highest secret key version ever given, per parameter fingerprint. */
  readonly keyVersions: Readonly<Record<string, number>>;
}

export function commitMarkerPath(vaultFile: string): string {
  return vaultFile + COMMIT_MARKER_SUFFIX;
}

/** The database's own state; undefined before migration 3 or without vault_meta. */
export function databaseState(db: Database.Database): CommitState | undefined {
  const meta = db.prepare<[], { vault_id: string }>('SELECT vault_id FROM vault_meta').get();
  const counter = db.prepare<[], { changes: number }>('SELECT changes FROM vault_commits').get();
  if (meta === undefined || counter === undefined) return undefined;
  const sequence = db.prepare<[], { seq: number }>("SELECT seq FROM sqlite_sequence WHERE name = 'history'").get();
  const keyVersions: Record<string, number> = {};
  for (const row of db.prepare<[], { fingerprint: string; v: number }>('SELECT fingerprint, max(v) AS v FROM (SELECT fingerprint, version AS v FROM secret_keys UNION ALL SELECT fingerprint, last_version FROM secret_key_sequence) GROUP BY fingerprint').all()) {
    keyVersions[row.fingerprint] = row.v;
  }
  return { vaultId: meta.vault_id, changes: counter.changes, historyId: sequence?.seq ?? 0, keyVersions };
}

/** The marker, if there is a readable one. A damaged or foreign marker is no evidence: undefined. */
export function readCommitMarker(vaultFile: string): CommitState | undefined {
  let text: string;
  try {
    text = fs.readFileSync(commitMarkerPath(vaultFile), 'utf8');
  } catch {
    return undefined;
  }
  try {
    const parsed = JSON.parse(text) as Partial<CommitState> & { format?: unknown };
    const count = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0;
    if (parsed.format !== MARKER_FORMAT || typeof parsed.vaultId !== 'string' || !count(parsed.changes) || !count(parsed.historyId)) return undefined;
    const keyVersions: Record<string, number> = {};
    if (parsed.keyVersions !== null && typeof parsed.keyVersions === 'object') {
      for (const [fingerprint, version] of Object.entries(parsed.keyVersions)) if (count(version)) keyVersions[fingerprint] = version;
    }
    return { vaultId: parsed.vaultId, changes: parsed.changes, historyId: parsed.historyId, keyVersions };
  } catch {
    return undefined;
  }
}

/**
 * Records `state` as committed. Never lowers a marker of the same vault (two processes writing
 * at once), and never fails the write it follows: the change is already committed, and a
 * marker that cannot be written (read-only folder, full disk) only weakens detection.
 */
export function writeCommitMarker(vaultFile: string, state: CommitState): void {
  const previous = readCommitMarker(vaultFile);
  const merged = previous === undefined || previous.vaultId !== state.vaultId ? state : mergeStates(previous, state);
  const text = `${JSON.stringify({ format: MARKER_FORMAT, ...merged })}\n`;
  // Written in place, padded with spaces to whole 512-byte sectors, then one fdatasync: half the
  // cost of a temporary file, its fsync, a rename and the folder's fsync, on every commit. A torn
  // write can only give an unreadable marker, which is no evidence (never a false alarm).
  const bytes = Buffer.alloc(Math.ceil(Buffer.byteLength(text) / MARKER_SECTOR) * MARKER_SECTOR, ' ');
  bytes.write(text, 0, 'utf8');
  let fd: number | undefined;
  try {
    fd = fs.openSync(commitMarkerPath(vaultFile), fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
    fs.writeSync(fd, bytes, 0, bytes.length, 0);
    if (fs.fstatSync(fd).size > bytes.length) fs.ftruncateSync(fd, bytes.length);
    fs.fdatasyncSync(fd);
  } catch {
    // See above: detection is weaker until the next successful write, nothing is lost.
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

const MARKER_SECTOR = 512;

function mergeStates(a: CommitState, b: CommitState): CommitState {
  const keyVersions: Record<string, number> = { ...a.keyVersions };
  for (const [fingerprint, version] of Object.entries(b.keyVersions)) keyVersions[fingerprint] = Math.max(version, keyVersions[fingerprint] ?? 0);
  return { vaultId: b.vaultId, changes: Math.max(a.changes, b.changes), historyId: Math.max(a.historyId, b.historyId), keyVersions };
}

/** What the marker says is missing from the database, or undefined if nothing is. */
export function lostChanges(db: Database.Database, database: CommitState, marker: CommitState | undefined, vaultFile: string): VaultError | undefined {
  if (marker === undefined || marker.vaultId !== database.vaultId || marker.changes <= database.changes) return undefined;
  const presentMax = db.prepare<[], { m: number | null }>('SELECT max(id) AS m FROM history').get()?.m ?? 0;
  const parts: string[] = [];
  if (marker.historyId > presentMax) {
    parts.push(marker.historyId === presentMax + 1 ? `history entry ${marker.historyId}` : `history entries ${presentMax + 1} to ${marker.historyId}`);
  }
  const keys = Object.entries(marker.keyVersions).filter(([fingerprint, version]) => version > (database.keyVersions[fingerprint] ?? 0));
  for (const [fingerprint, version] of keys) parts.push(`secret key ${fingerprint.slice(0, 12)}… versions above ${database.keyVersions[fingerprint] ?? 0} (up to ${version})`);
  const missing = marker.changes - database.changes;
  const what = parts.length > 0 ? `${parts.join(', ')}, and possibly settings` : 'settings or key records';
  return new VaultError(
    'changes_lost',
    `The vault file ${vaultFile} is missing ${missing} committed change${missing === 1 ? '' : 's'} (${what}). ` +
      'They were saved, but the file they were in, the write-ahead log vault.sqlite-wal, was deleted or lost after a crash, or an older copy of vault.sqlite was put back. ' +
      'Everything else in the vault is intact and readable. If you have the missing vault.sqlite-wal, close CipherCare and put it back beside vault.sqlite; ' +
      'or restore a backup; or open the vault accepting the loss (the CLI\'s --accept-lost-changes), after which new entries never reuse the lost numbers.',
    { file: vaultFile, missingChanges: missing, expected: marker.changes, found: database.changes, historyIds: marker.historyId > presentMax ? { from: presentMax + 1, to: marker.historyId } : null, keyVersions: Object.fromEntries(keys) },
  );
}

/**
 * Accepts a loss: the counter and the id sequences are raised past everything the marker says
 * was given, so that no lost history id or key version is ever given again, in one transaction.
 */
export function acceptLoss(db: Database.Database, marker: CommitState): void {
  db.transaction(() => {
    const history = db.prepare("UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = 'history'").run(marker.historyId);
    if (history.changes === 0 && marker.historyId > 0) db.prepare("INSERT INTO sqlite_sequence (name, seq) VALUES ('history', ?)").run(marker.historyId);
    const key = db.prepare('INSERT INTO secret_key_sequence (fingerprint, last_version) VALUES (?, ?) ON CONFLICT (fingerprint) DO UPDATE SET last_version = max(last_version, excluded.last_version)');
    for (const [fingerprint, version] of Object.entries(marker.keyVersions)) if (version >= 1) key.run(fingerprint, version);
    db.prepare('UPDATE vault_commits SET changes = max(changes, ?) + 1').run(marker.changes);
  }).immediate();
}
