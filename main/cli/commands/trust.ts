import type { Command } from 'commander';
import { BUNDLED_PUBLISHER, formatFingerprint, publisherFingerprint } from '../../../he-core/index.js';
import { forgetPins, loadTrustState } from '../../flow/trust.js';
import { CliError } from '../errors.js';
import { table } from '../output.js';
import type { WithContext } from '../program.js';

export function registerTrust(program: Command, withContext: WithContext): void {
  const trust = program.command('trust').description('trusted model publishers and the publishers pinned on first use (docs/SECURITY.md, "Signed model cards")');
  trust
    .command('list')
    .description('the trusted publishers, and the publisher pinned for each model id and provider')
    .action(
      withContext(async (ctx) => {
        const vault = await ctx.unlockedVault();
        const state = loadTrustState(vault);
        const trusted = [BUNDLED_PUBLISHER, ...state.trusted].map((p) => ({ name: p.name, fingerprint: publisherFingerprint(p.publicKey), models: [...p.modelIds] }));
        if (ctx.json) {
          ctx.out.document({ trusted, models: state.models, providers: state.providers, cards: state.cards });
          return;
        }
        ctx.out.line('Trusted publishers');
        ctx.out.line(table(['name', 'fingerprint', 'reserved model ids'], trusted.map((p) => [p.name, formatFingerprint(p.fingerprint), p.models.join(', ')])));
        ctx.out.line('\nModels pinned on first use');
        const models = Object.entries(state.models);
        ctx.out.line(models.length ? table(['model', 'publisher fingerprint', 'versions seen'], models.map(([id, fp]) => [id, formatFingerprint(fp), Object.keys(state.cards).filter((k) => k.startsWith(`${id}@`)).map((k) => k.slice(id.length + 1)).join(', ')])) : '(none)');
        ctx.out.line('\nProviders pinned on first use');
        const providers = Object.entries(state.providers);
        ctx.out.line(providers.length ? table(['provider', 'publisher fingerprints'], providers.map(([url, fps]) => [url, fps.map(formatFingerprint).join(' / ')])) : '(none)');
      }),
    );
  trust
    .command('forget')
    .description('forget the pins of a model id or a provider URL (after checking the new fingerprint with the publisher); the next use pins again')
    .argument('<model-id|provider-url>', 'a model id, or a provider URL as given to --provider')
    .action(
      withContext(async (ctx, target: string) => {
        const vault = await ctx.unlockedVault();
        const forgotten = forgetPins(vault, target);
        if (forgotten.models.length + forgotten.providers.length + forgotten.cards.length === 0) {
          throw new CliError(`no pin for "${target}": \`ciphercare trust list\` shows the pinned model ids and providers`);
        }
        if (ctx.json) return ctx.out.document(forgotten);
        ctx.out.line(`forgot the pins of ${target}: ${[...forgotten.models.map((m) => `model ${m}`), ...forgotten.providers.map((p) => `provider ${p}`), `${forgotten.cards.length} card${forgotten.cards.length === 1 ? '' : 's'}`].join(', ')}; the next use pins the publisher it sees then`);
      }),
    );
}
