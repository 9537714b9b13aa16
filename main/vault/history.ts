import type Database from 'better-sqlite3';
import { associatedData, seal, unseal } from './crypto.js';
import { VaultError } from './errors.js';
import { checkName, rowTampered } from './rows.js';

export interface NewHistoryEntry {
  readonly modelId: string;
  readonly modelVersion: string;
  readonly provider: string;
  /** The clinical inputs, any JSON value; stored encrypted. */
  readonly input: unknown;
  /** The decrypted prediction, any JSON value; stored encrypted. */
  readonly result: unknown;
  /** When the prediction was made; now by default. Stored as ISO 8601 UTC. */
  readonly createdAt?: Date | string;
}

export interface HistoryEntry {
  readonly id: number;
  readonly modelId: string;
  readonly modelVersion: string;
  readonly provider: string;
  readonly createdAt: string;
  readonly input: unknown;
  readonly result: unknown;
}

/** A row that could not be read; reported, never dropped silently. */
export interface UnreadableHistoryEntry {
  readonly id: number;
  readonly code: 'row_tampered';
  readonly message: string;
}

export interface HistoryPage {
  readonly entries: HistoryEntry[];
  readonly unreadable: UnreadableHistoryEntry[];
  /** Rows in the whole history, for paging. */
  readonly total: number;
}

export interface HistoryQuery {
  readonly limit?: number;
  readonly offset?: number;
}

export const MAX_HISTORY_PAGE = 1_000;

interface HistoryRow {
  id: number;
  model_id: string;
  model_version: string;
  provider: string;
  created_at: string;
  input: Buffer;
  result: Buffer;
}

type SecretField = 'input' | 'result';

/**
 * Binds the id, the field and the clear metadata: swapping two rows' ciphertexts, moving one
 * field into the other, or relabelling a prediction with another model or date all fail
 * authentication.
 */
export function historyAd(row: Pick<HistoryRow, 'id' | 'model_id' | 'model_version' | 'provider' | 'created_at'>, field: SecretField): Buffer {
  return associatedData('history', row.id, field, row.model_id, row.model_version, row.provider, row.created_at);
}

export function addHistory(db: Database.Database, dataKey: Buffer, entry: NewHistoryEntry): number {
  checkName(entry.modelId, 'model id');
  checkName(entry.modelVersion, 'model version');
  checkName(entry.provider, 'provider');
  const createdAt = normaliseTime(entry.createdAt);
  const input = encodeJson(entry.input, 'input');
  const result = encodeJson(entry.result, 'result');
  try {
    return db.transaction(() => {
      // The id is part of the associated data, so the row is inserted first and sealed
      // within the same transaction: no reader ever sees the empty placeholders.
      const id = Number(db.prepare("INSERT INTO history (model_id, model_version, provider, created_at, input, result) VALUES (?, ?, ?, ?, x'', x'')")
        .run(entry.modelId, entry.modelVersion, entry.provider, createdAt).lastInsertRowid);
      const row = { id, model_id: entry.modelId, model_version: entry.modelVersion, provider: entry.provider, created_at: createdAt };
      db.prepare('UPDATE history SET input = ?, result = ? WHERE id = ?')
        .run(seal(dataKey, input, historyAd(row, 'input')), seal(dataKey, result, historyAd(row, 'result')), id);
      return id;
    }).immediate();
  } finally {
    input.fill(0);
    result.fill(0);
  }
}

/** Newest first. Good rows are returned decrypted; a row failing authentication is listed in `unreadable`. */
export function listHistory(db: Database.Database, dataKey: Buffer, query: HistoryQuery = {}): HistoryPage {
  const limit = query.limit ?? 50;
  const offset = query.offset ?? 0;
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_HISTORY_PAGE) throw new VaultError('invalid_argument', `The history page size must be an integer from 1 to ${MAX_HISTORY_PAGE}.`);
  if (!Number.isSafeInteger(offset) || offset < 0) throw new VaultError('invalid_argument', 'The history offset must be a non-negative integer.');
  // One read transaction, so that the page and the total come from the same snapshot.
  return db.transaction(() => {
    const rows = db.prepare<[number, number], HistoryRow>('SELECT id, model_id, model_version, provider, created_at, input, result FROM history ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?').all(limit, offset);
    const total = (db.prepare<[], { n: number }>('SELECT count(*) AS n FROM history').get() ?? { n: 0 }).n;
    const entries: HistoryEntry[] = [];
    const unreadable: UnreadableHistoryEntry[] = [];
    for (const row of rows) {
      try {
        entries.push(openRow(dataKey, row));
      } catch (error) {
        if (!(error instanceof VaultError) || error.code !== 'row_tampered') throw error;
        unreadable.push({ id: row.id, code: 'row_tampered', message: error.message });
      }
    }
    return { entries, unreadable, total };
  })();
}

/** One entry by id; throws `row_tampered` if it fails authentication. */
export function historyEntry(db: Database.Database, dataKey: Buffer, id: number): HistoryEntry | undefined {
  if (!Number.isSafeInteger(id) || id < 1) throw new VaultError('invalid_argument', 'A history id is an integer from 1.');
  const row = db.prepare<[number], HistoryRow>('SELECT id, model_id, model_version, provider, created_at, input, result FROM history WHERE id = ?').get(id);
  return row === undefined ? undefined : openRow(dataKey, row);
}

function openRow(dataKey: Buffer, row: HistoryRow): HistoryEntry {
  return {
    id: row.id,
    modelId: row.model_id,
    modelVersion: row.model_version,
    provider: row.provider,
    createdAt: row.created_at,
    input: openField(dataKey, row, 'input'),
    result: openField(dataKey, row, 'result'),
  };
}

function openField(dataKey: Buffer, row: HistoryRow, field: SecretField): unknown {
  const sealed = row[field];
  const plain = Buffer.isBuffer(sealed) ? unseal(dataKey, sealed, historyAd(row, field)) : undefined;
  if (plain === undefined) throw rowTampered('history entry', String(row.id), field);
  try {
    return JSON.parse(plain.toString('utf8')) as unknown;
  } catch {
    // Authentic but not JSON can only come from a bug in an older writer; still report, never drop.
    throw rowTampered('history entry', String(row.id), field);
  } finally {
    plain.fill(0);
  }
}

function encodeJson(value: unknown, what: string): Buffer {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (error) {
    throw new VaultError('invalid_argument', `The history ${what} cannot be stored as JSON (${error instanceof Error ? error.message : 'unknown reason'}).`);
  }
  if (text === undefined) throw new VaultError('invalid_argument', `The history ${what} must be a JSON value (not undefined or a function).`);
  return Buffer.from(text, 'utf8');
}

function normaliseTime(value: Date | string | undefined): string {
  const date = value === undefined ? new Date() : new Date(value);
  if (Number.isNaN(date.getTime())) throw new VaultError('invalid_argument', 'The history time must be a valid date or ISO 8601 string.');
  return date.toISOString();
}
