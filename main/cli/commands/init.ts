import fs from 'node:fs';
import type { Command } from 'commander';
import { Vault, vaultFilePath } from '../../vault/index.js';
import { CliError, EXIT } from '../errors.js';
import { MIN_NEW_PASSPHRASE } from '../passphrase.js';
import type { WithContext } from '../program.js';

export function registerInit(program: Command, withContext: WithContext): void {
  program
    .command('init')
    .description('create the encrypted vault (refuses if one exists)')
    .action(
      withContext(async (ctx) => {
        const file = vaultFilePath(ctx.dataDir);
        // Checked before asking for a passphrase; Vault.create checks again (vault_exists).
        if (fs.existsSync(file)) throw new CliError(`a vault already exists at ${file}; use it, or pass another --data-dir`, EXIT.failure);
        const passphrase = await ctx.secrets.get({ env: 'CIPHERCARE_PASSPHRASE', what: 'new passphrase', confirm: true, minLength: MIN_NEW_PASSPHRASE });
        const vault = await Vault.create(ctx.dataDir, passphrase);
        vault.close();
        if (ctx.json) ctx.out.document({ created: true, dataDir: ctx.dataDir, file });
        else {
          ctx.out.line(`Created the encrypted vault at ${file}`);
          ctx.out.line('Keep the passphrase safe: nothing can open the vault without it (see `ciphercare keys export` for a backup).');
        }
      }),
    );
}
