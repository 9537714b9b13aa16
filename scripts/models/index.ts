// `npm run models -- <command>`: the publisher tool for signed model cards (docs/cli.md).
import { runModelsTool } from './program.js';

process.exitCode = await runModelsTool(process.argv.slice(2));
