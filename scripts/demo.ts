// Kept for old links: the demo is `ciphercare demo` now (`npm run demo`, main/cli/commands/demo.ts).
process.argv.splice(2, 0, 'demo');
await import('../main/cli/index.js');
