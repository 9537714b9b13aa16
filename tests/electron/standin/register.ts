// Loaded with --import into the app's main process under test: `electron` resolves to the
// stand-in (tests only; never bundled).
import { registerHooks } from 'node:module';

const standin = new URL('./electron.ts', import.meta.url).href;

registerHooks({
  resolve(specifier, context, nextResolve) {
    if (specifier === 'electron') return { url: standin, shortCircuit: true };
    return nextResolve(specifier, context);
  },
});
