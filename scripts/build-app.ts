// `npm run build:app`: the renderer (Vite) and the Electron processes (esbuild bundles) into dist/.
// Native and WebAssembly packages stay external: they are loaded from node_modules (asar-unpacked).
import { execFileSync } from 'node:child_process';
import { build } from 'esbuild';

const external = ['electron', 'better-sqlite3', 'node-seal'];
// CommonJS dependencies inside an ES module bundle need a `require`.
const banner = { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" };
const common = { bundle: true, platform: 'node' as const, target: 'node22', sourcemap: false, external, logLevel: 'warning' as const };

const args = process.argv.slice(2);
const outDir = args.includes('--out') ? args[args.indexOf('--out') + 1]! : 'dist/app';
if (!args.includes('--no-renderer')) execFileSync(process.execPath, ['node_modules/vite/bin/vite.js', 'build', '--config', 'vite.config.ts'], { stdio: 'inherit' });
await build({ ...common, entryPoints: ['main/electron/main.ts'], format: 'esm', banner, outfile: `${outDir}/main.mjs` });
await build({ ...common, entryPoints: ['main/app/core-worker.ts'], format: 'esm', banner, outfile: `${outDir}/core-worker.js` });
await build({ ...common, entryPoints: ['mock-service/service-main.ts'], format: 'esm', banner, outfile: `${outDir}/service.mjs` });
await build({ ...common, entryPoints: ['mock-service/pool/worker.ts'], format: 'esm', banner, outfile: `${outDir}/worker.js` });
// The key pair's encryption helper thread (he-core/client/parallel.ts), started from core-worker.js.
await build({ ...common, entryPoints: ['he-core/client/encrypt-worker.ts'], format: 'esm', banner, outfile: `${outDir}/encrypt-worker.js` });
// A sandboxed preload is a single CommonJS file.
await build({ ...common, entryPoints: ['preload/preload.ts'], format: 'cjs', outfile: `${outDir}/preload.cjs` });
console.log(`built ${outDir}${args.includes('--no-renderer') ? '' : ' and dist/renderer'}`);
