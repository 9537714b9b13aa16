import fs from 'node:fs';
import type { Command } from 'commander';
import type { HeParameters } from '../../../he-core/index.js';
import { ClientKeyring } from '../../flow/client-keys.js';
import { Vault } from '../../vault/index.js';
import { CliError, EXIT } from '../errors.js';
import { MIN_NEW_PASSPHRASE } from '../passphrase.js';
import { CountProgress } from '../progress.js';
import { table } from '../output.js';
import type { WithContext } from '../program.js';

export function registerKeys(program: Command, withContext: WithContext): void {
  const keys = program.command('keys').description('the HE key pairs kept in the vault');

  keys
    .command('rotate')
    .description("generate a new key pair for every parameter set of the provider's models (older history stays readable)")
    .action(
      withContext(async (ctx) => {
        const vault = await ctx.unlockedVault();
        const client = await ctx.provider();
        const models = await client.catalog({ signal: ctx.abort.signal });
        const sets = new Map<string, { params: HeParameters; models: Set<string> }>();
        for (const m of models) {
          for (const plan of Object.values(m.plans)) {
            const entry = sets.get(plan.params.fingerprint) ?? { params: plan.params, models: new Set<string>() };
            entry.models.add(m.id);
            sets.set(plan.params.fingerprint, entry);
          }
        }
        const keyring = new ClientKeyring(vault);
        const progress = new CountProgress(ctx.progress, 'key generation', sets.size, 'parameter sets');
        const rotated: { fingerprint: string; polyModulusDegree: number; version: number; models: string[] }[] = [];
        try {
          for (const [fingerprint, { params, models: ids }] of sets) {
            if (ctx.abort.signal.aborted) throw new CliError('cancelled', EXIT.cancelled);
            const version = await keyring.rotate(params);
            rotated.push({ fingerprint, polyModulusDegree: params.polyModulusDegree, version, models: [...ids].sort() });
            progress.update(rotated.length);
          }
        } finally {
          progress.stop();
          keyring.dispose();
        }
        if (ctx.json) return ctx.out.document({ rotated });
        ctx.out.line(table(['parameter set', 'N', 'new key version', 'models'], rotated.map((r) => [r.fingerprint.slice(0, 16), String(r.polyModulusDegree), String(r.version), r.models.join(', ')]), [1, 2]));
        ctx.out.line('\nNew predictions use the new keys; older history stays readable (its entries are sealed with the vault key, not the HE key).');
      }),
    );

  keys
    .command('export')
    .description('write an encrypted backup of the vault (keys, history, settings) under a backup passphrase')
    .requiredOption('--out <file>', 'backup file to write')
    .option('--force', 'overwrite an existing file')
    .action(
      withContext(async (ctx, flags: { out: string; force?: boolean }) => {
        if (fs.existsSync(flags.out) && !flags.force) throw new CliError(`${flags.out} exists; pass --force to overwrite it`);
        const vault = await ctx.unlockedVault();
        const backupPassphrase = await ctx.secrets.get({ env: 'CIPHERCARE_BACKUP_PASSPHRASE', what: 'backup passphrase', confirm: true, minLength: MIN_NEW_PASSPHRASE });
        await vault.exportBackup(flags.out, backupPassphrase);
        const size = fs.statSync(flags.out).size;
        if (ctx.json) return ctx.out.document({ out: flags.out, bytes: size });
        ctx.out.line(`Wrote an encrypted backup to ${flags.out} (${size} bytes). Restore it with \`ciphercare keys import --from ${flags.out}\` and the backup passphrase.`);
      }),
    );

  keys
    .command('import')
    .description('restore a backup made by `keys export` into --data-dir (which must hold no vault); its passphrase becomes the backup passphrase')
    .requiredOption('--from <file>', 'backup file to read')
    .action(
      withContext(async (ctx, flags: { from: string }) => {
        const backupPassphrase = await ctx.secrets.get({ env: 'CIPHERCARE_BACKUP_PASSPHRASE', what: 'backup passphrase' });
        const vault = await Vault.importBackup(flags.from, backupPassphrase, ctx.dataDir);
        const total = vault.listHistory({ limit: 1 }).total;
        vault.close();
        if (ctx.json) return ctx.out.document({ restored: true, dataDir: ctx.dataDir, historyEntries: total });
        ctx.out.line(`Restored the vault into ${ctx.dataDir} (${total} history entries). Its passphrase is now the backup passphrase: change it with \`ciphercare passphrase change\`.`);
      }),
    );
}
