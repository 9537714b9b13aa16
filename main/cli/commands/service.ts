import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';

// The evaluation service runs as its own process, as when the app launches it: main/ never loads
// the service's code (docs/architecture.md, Layers), it only starts mock-service/service-main with the same flags
// as `npm run service`.
const fromSources = import.meta.url.endsWith('.ts');
const serviceCli = fileURLToPath(new URL(fromSources ? '../../../mock-service/service-main.ts' : '../../../mock-service/service-main.js', import.meta.url));

/** Runs `mock-service/service-main` with `args`, stdio inherited, signals forwarded; resolves to its exit code. */
export function runService(args: readonly string[]): Promise<number> {
  // An absolute loader URL, so that it resolves from any working directory.
  const execArgv = fromSources ? ['--import', import.meta.resolve('tsx')] : [];
  const child = spawn(process.execPath, [...execArgv, serviceCli, ...args], { stdio: 'inherit' });
  const forward = (signal: NodeJS.Signals) => (): void => {
    child.kill(signal);
  };
  const onInt = forward('SIGINT');
  const onTerm = forward('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  return new Promise((resolve) => {
    child.once('error', (err) => {
      process.stderr.write(`ciphercare: cannot start the evaluation service: ${err.message}\n`);
      resolve(1);
    });
    child.once('exit', (code, signal) => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      resolve(code ?? (signal === 'SIGINT' || signal === 'SIGTERM' ? 0 : 1));
    });
  });
}

/** Listed in the help; the arguments are handled before commander sees them (see program.ts). */
export function registerService(program: Command): void {
  program
    .command('service')
    .description('run the evaluation service (same flags as `npm run service`; `ciphercare service --help` for them)')
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .argument('[args...]', 'flags for the service')
    .action(async (args: string[]) => {
      process.exitCode = await runService(args);
    });
}
