import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import type { StageEvent } from '../../flow/prediction-flow.js';
import { scoreCsv } from '../../flow/batch-csv.js';
import { FlowError } from '../../flow/errors.js';
import { CliError } from '../errors.js';
import { parseCsv } from '../../flow/csv.js';
import { roundMs, roundTimings } from '../output.js';
import { CountProgress, STAGE_TEXT } from '../progress.js';
import type { WithContext } from '../program.js';
import { checkTrustBeforeSending } from '../trust.js';
import { parseDeadlineSeconds } from '../context.js';
import { stageLine } from './predict.js';

export function registerBatch(program: Command, withContext: WithContext): void {
  program
    .command('batch')
    .description('score a CSV of patients in the batch layout (one ciphertext slot per patient); bad rows get a row-level error')
    .requiredOption('--model <id>', 'model id (see `ciphercare models`)')
    .requiredOption('--csv <in.csv>', 'input CSV: a header of feature names (any order; extra columns ignored), one patient per row')
    .requiredOption('--out <out.csv>', 'output CSV: row, status (ok|error), the result columns, error')
    .option('--canary', 'mix known-answer checks into every request at random slots (default: on unless the provider is the service this command launched)')
    .option('--no-canary', 'send no checks')
    .option('--allow-unverified', "send even when the model has no signed card (CipherCare then cannot check the provider's answers)")
    .option('--deadline <seconds>', 'overall time limit of each provider call (default: scaled from the model\'s expected cost, at least 30 s; or the vault setting provider.deadline_seconds)', parseDeadlineSeconds)
    .action(
      withContext(async (ctx, flags: { model: string; csv: string; out: string; canary?: boolean; deadline?: number; allowUnverified?: boolean }) => {
        if (path.resolve(flags.csv) === path.resolve(flags.out)) throw new CliError('--out must not be the input file');
        let text: string;
        try {
          text = fs.readFileSync(flags.csv, 'utf8');
        } catch (err) {
          throw new CliError(`cannot read the CSV file ${flags.csv} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
        }
        const csv = parseCsv(text);
        ctx.deadlineMs = flags.deadline;
        const { flow } = await ctx.flow();
        // Before anything is sent: an unverified model is refused unless --allow-unverified.
        checkTrustBeforeSending(ctx, await flow.model(flags.model), flags.allowUnverified);
        let progress: CountProgress | undefined;
        let scorable = 0;
        const onStage = (e: StageEvent): void => {
          // The flow reports scored rows as an evaluate "download" whose total is the number of good rows.
          if (e.state === 'progress' && e.stage === 'evaluate' && e.transfer?.total === scorable && e.transfer.loaded <= scorable && Number.isInteger(e.transfer.loaded)) progress?.update(e.transfer.loaded);
          else if (e.state === 'start') progress?.detail(STAGE_TEXT[e.stage]);
        };
        const started = performance.now();
        let scored;
        try {
          scored = await scoreCsv(flow, flags.model, csv, {
            signal: ctx.abort.signal,
            onStage,
            onScorable: (rows) => {
              scorable = rows;
              progress = new CountProgress(ctx.progress, `${flags.model} batch`, rows, 'rows');
            },
            ...(flags.canary !== undefined ? { canary: flags.canary } : {}),
          });
        } catch (err) {
          // The flow's message is written for any client; on the command line, name the command that lists the columns.
          if (err instanceof FlowError && err.code === 'csv_invalid' && err.field !== undefined && err.message.startsWith('The CSV file has no column')) {
            throw new FlowError('csv_invalid', `${err.message}; \`ciphercare models ${flags.model}\` lists them`, err.field);
          }
          throw err;
        } finally {
          progress?.stop();
        }
        const total = performance.now() - started;
        const { model, lines, result, ignored } = scored;
        if (ignored.length > 0 && !ctx.json) ctx.out.note(`ignoring column${ignored.length > 1 ? 's' : ''} not used by ${model.id}: ${ignored.join(', ')}`);
        fs.writeFileSync(flags.out, scored.csv, { mode: 0o600 });

        const ok = lines.filter((l) => l[1] === 'ok').length;
        const errors = lines.length - ok;
        const failed = lines
          .filter((l) => l[1] === 'error')
          .slice(0, 5)
          .map((l) => {
            const code = scored.rows[(l[0] as number) - 1]?.code;
            return { row: l[0] as number, ...(code ? { code } : {}), error: l[l.length - 1] as string };
          });
        if (ctx.json) {
          ctx.out.document({ model: model.id, rows: lines.length, ok, errors, errorRows: failed, ignoredColumns: ignored, out: flags.out, timings: roundTimings(result.timings), ms: roundMs(total), canary: result.canary, historyId: result.historyId });
          return;
        }
        ctx.out.line(`${model.id}: scored ${ok} of ${lines.length} rows${errors > 0 ? `, ${errors} with errors` : ''}; results in ${flags.out}`);
        for (const f of failed) ctx.out.line(`  row ${f.row}: ${f.error}`);
        if (errors > failed.length) ctx.out.line(`  … and ${errors - failed.length} more (see the error column)`);
        ctx.out.line(`  stages   ${stageLine(result.timings, total)}`);
        ctx.out.line(`  canary   ${result.canary}`);
        ctx.out.line('The provider never saw your data: it computed on ciphertexts, and only this machine holds the key.');
      }),
    );
}
