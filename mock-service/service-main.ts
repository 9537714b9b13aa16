// Entry of the bundled service process (the app's utility process, or a packaged build).
import { runServiceCli } from './cli.js';

runServiceCli(process.argv.slice(2));
