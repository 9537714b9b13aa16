import type { Command } from 'commander';
import type { HistoryEntry } from '../../vault/index.js';
import { CliError } from '../errors.js';
import { table } from '../output.js';
import type { WithContext } from '../program.js';

interface StoredShown {
  values?: number[];
  classIndex?: number;
  label?: string;
}

/** A short text of a stored result (single prediction or batch), from what the history holds. */
function summary(entry: HistoryEntry): string {
  const result = entry.result as StoredShown & { rows?: { ok: boolean }[] };
  if (Array.isArray(result?.rows)) {
    const ok = result.rows.filter((r) => r.ok).length;
    return `batch of ${result.rows.length} rows, ${ok} scored`;
  }
  const values = Array.isArray(result?.values) ? result.values : [];
  if (result?.label !== undefined) {
    const p = values.length === 1 ? values[0] : result.classIndex !== undefined ? values[result.classIndex] : undefined;
    return p === undefined ? result.label : `${result.label} (${values.length === 1 ? 'p' : 'probability'} ${p})`;
  }
  return values.join(', ');
}

function positiveInt(value: string, what: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1 || n > 1000) throw new CliError(`${what} takes an integer from 1 to 1000`);
  return n;
}

export function registerHistory(program: Command, withContext: WithContext): void {
  program
    .command('history')
    .description('list the decrypted prediction history (newest first); unreadable rows are reported, never skipped silently')
    .option('--limit <n>', 'entries to list (1-1000)', (v) => positiveInt(v, '--limit'), 50)
    .option('--offset <n>', 'skip this many of the newest entries', (v) => {
      const n = Number(v);
      if (!Number.isSafeInteger(n) || n < 0) throw new CliError('--offset takes a non-negative integer');
      return n;
    }, 0)
    .action(
      withContext(async (ctx, flags: { limit: number; offset: number }) => {
        const vault = await ctx.unlockedVault();
        const page = vault.listHistory({ limit: flags.limit, offset: flags.offset });
        if (ctx.json) {
          ctx.out.document({ total: page.total, entries: page.entries, unreadable: page.unreadable });
        } else if (page.entries.length === 0 && page.unreadable.length === 0) {
          ctx.out.line(page.total === 0 ? 'The history is empty.' : `No entries past offset ${flags.offset} (${page.total} in all).`);
        } else {
          const rows = [
            ...page.entries.map((e) => ({ id: e.id, cells: [String(e.id), e.createdAt.replace('T', ' ').replace(/\.\d+Z$/, ''), e.modelId, e.modelVersion, e.provider, summary(e)] })),
            ...page.unreadable.map((u) => ({ id: u.id, cells: [String(u.id), '?', '?', '?', '?', 'UNREADABLE (failed authentication; see below)'] })),
          ].sort((a, b) => b.id - a.id);
          ctx.out.line(table(['id', 'when (UTC)', 'model', 'version', 'provider', 'result'], rows.map((r) => r.cells), [0]));
          const shown = page.entries.length + page.unreadable.length;
          if (page.total > flags.offset + shown) ctx.out.line(`\n${shown} of ${page.total} entries; --offset ${flags.offset + shown} for more.`);
        }
        for (const u of page.unreadable) ctx.out.warn(`history entry ${u.id} cannot be read: ${u.message}`);
      }),
    );
}
