import type { Command } from 'commander';
import { MIN_NEW_PASSPHRASE } from '../passphrase.js';
import type { WithContext } from '../program.js';

export function registerPassphrase(program: Command, withContext: WithContext): void {
  const group = program.command('passphrase').description("the vault's passphrase");
  group
    .command('change')
    .description('change the passphrase (re-wraps the data key only; the rows are untouched)')
    .action(
      withContext(async (ctx) => {
        const vault = ctx.openVault();
        try {
          const current = await ctx.secrets.get({ env: 'CIPHERCARE_PASSPHRASE', what: 'current passphrase' });
          const next = await ctx.secrets.get({ env: 'CIPHERCARE_NEW_PASSPHRASE', what: 'new passphrase', confirm: true, minLength: MIN_NEW_PASSPHRASE });
          await vault.changePassphrase(current, next);
        } finally {
          vault.close();
        }
        if (ctx.json) return ctx.out.document({ changed: true });
        ctx.out.line('Changed the passphrase. The old one no longer opens the vault (backups made before keep their own passphrase).');
      }),
    );
}
