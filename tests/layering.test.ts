import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

// The layer rules (docs/architecture.md, Layers) are enforced by lint; these cases prove the rules bite.
const eslint = new ESLint({ cwd: new URL('..', import.meta.url).pathname });

async function ruleIds(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath });
  return (result?.messages ?? []).map((m) => m.ruleId ?? m.message);
}

describe('layer rules', () => {
  it('the service cannot import the secret-key side of he-core', async () => {
    const ids = await ruleIds('mock-service/probe.ts', "import { ClientKeyPair } from '../he-core/client/index.js';\nexport const k = ClientKeyPair;\n");
    expect(ids).toContain('import-x/no-restricted-paths');
  });

  it('the evaluator cannot import the client', async () => {
    const ids = await ruleIds('he-core/evaluator/probe.ts', "import { ClientKeyPair } from '../client/client-keys.js';\nexport const k = ClientKeyPair;\n");
    expect(ids).toContain('import-x/no-restricted-paths');
  });

  it('he-core imports nothing else of ours', async () => {
    const ids = await ruleIds('he-core/probe.ts', "import { MODELS_DIR } from '../scripts/bundled-models.js';\nexport const d = MODELS_DIR;\n");
    expect(ids).toContain('import-x/no-restricted-paths');
  });

  it('the renderer imports neither electron nor Node built-ins', async () => {
    const ids = await ruleIds('renderer/probe.ts', "import { readFileSync } from 'node:fs';\nimport { app } from 'electron';\nexport const x = [readFileSync, app];\n");
    expect(ids.filter((id) => id === 'no-restricted-imports')).toHaveLength(2);
  });

  it('a clean service file passes', async () => {
    const ids = await ruleIds('mock-service/probe.ts', "import { HeError } from '../he-core/index.js';\nexport const e = HeError;\n");
    expect(ids).toEqual([]);
  });
});
