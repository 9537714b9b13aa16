import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { MAC_WASM_BASE64 } from '../he-core/evaluator/kernels/mac-wasm.js';
import { KEYSWITCH_WASM_BASE64 } from '../he-core/evaluator/kernels/keyswitch-wasm.js';
import { KEYSWITCH_SHARED_WASM_BASE64 } from '../he-core/evaluator/kernels/keyswitch-shared-wasm.js';
import { compileKernel, sharedVariant } from './kernels.js';

describe('WebAssembly kernels', () => {
  it('the committed mac-wasm.ts is mac.wat compiled (run `npm run build:kernels` after editing the .wat)', async () => {
    const source = readFileSync(fileURLToPath(new URL('../he-core/evaluator/kernels/mac.wat', import.meta.url)), 'utf8');
    const binary = await compileKernel('mac.wat', source);
    expect(Buffer.from(binary).toString('base64')).toBe(MAC_WASM_BASE64);
  });

  it('the committed keyswitch-wasm.ts is keyswitch.wat compiled (run `npm run build:kernels` after editing the .wat)', async () => {
    const source = readFileSync(fileURLToPath(new URL('../he-core/evaluator/kernels/keyswitch.wat', import.meta.url)), 'utf8');
    const binary = await compileKernel('keyswitch.wat', source);
    expect(Buffer.from(binary).toString('base64')).toBe(KEYSWITCH_WASM_BASE64);
  });

  it('the committed keyswitch-shared-wasm.ts is keyswitch.wat compiled for a shared memory', async () => {
    const source = readFileSync(fileURLToPath(new URL('../he-core/evaluator/kernels/keyswitch.wat', import.meta.url)), 'utf8');
    const binary = await compileKernel('keyswitch.wat', sharedVariant(source));
    expect(Buffer.from(binary).toString('base64')).toBe(KEYSWITCH_SHARED_WASM_BASE64);
  });
});
