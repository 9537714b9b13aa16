// The `ciphercare` command line (docs/cli.md): `npm run cli -- <command>`, `npx tsx main/cli/index.ts <command>`,
// or the `ciphercare` bin. Importing this file runs the CLI on process.argv.
import { run } from './program.js';

const code = await run(process.argv.slice(2));
// Exit once the output is flushed, without waiting for idle keep-alive sockets to time out.
process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
