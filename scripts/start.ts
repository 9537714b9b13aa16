// `npm start`: build, then launch the desktop app. Where the Electron binary is absent (installed
// with ELECTRON_SKIP_BINARY_DOWNLOAD=1, or offline), say so plainly and exit non-zero.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

function electronBinary(): string | null {
  try {
    const require = createRequire(import.meta.url);
    const dir = dirname(require.resolve('electron/package.json'));
    const pathFile = join(dir, 'path.txt');
    if (!existsSync(pathFile)) return null;
    const binary = join(dir, 'dist', readFileSync(pathFile, 'utf8').trim());
    return existsSync(binary) ? binary : null;
  } catch {
    return null;
  }
}

const binary = electronBinary();
if (!binary) {
  console.error(
    [
      'CipherCare desktop: the Electron binary is not installed on this machine',
      '(npm install ran with ELECTRON_SKIP_BINARY_DOWNLOAD=1, or could not reach GitHub).',
      'Install it with network access (`npm rebuild electron`), or run the whole encrypted flow headless:',
      '  npm run demo',
    ].join('\n'),
  );
  process.exit(1);
}
await import('./build-app.js');
const child = spawn(binary, ['.'], { stdio: 'inherit' });
child.on('exit', (code) => process.exit(code ?? 0));
