// Lint with the layer rules: the dependency arrows of docs/architecture.md (layers),
// enforced here rather than remembered.
import tseslint from 'typescript-eslint';
import importX from 'eslint-plugin-import-x';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';

const nodeBuiltins = ['node:*', 'fs', 'path', 'crypto', 'os', 'child_process', 'worker_threads', 'http', 'https', 'net', 'zlib'];

export default tseslint.config(
  {
    ignores: ['node_modules/**', 'dist/**', 'out/**', 'release/**', 'test-results/**', 'scratch/**', 'assets/**'],
  },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts', '**/*.tsx'],
    plugins: { 'import-x': importX },
    settings: {
      // Resolve `./x.js` imports to their `.ts` sources, so that the path rules see every import.
      'import-x/resolver-next': [createTypeScriptImportResolver({ project: ['he-core/tsconfig.json', 'mock-service/tsconfig.json', 'main/tsconfig.json', 'scripts/tsconfig.json', 'tests/tsconfig.json'], noWarnOnMultipleProjects: true })],
    },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'off',
      'import-x/no-restricted-paths': [
        'error',
        {
          zones: [
            { target: './he-core', from: ['./main', './mock-service', './renderer', './preload', './scripts', './tests'], message: 'Bad layering: he-core imports nothing else of ours.' },
            { target: './mock-service', from: ['./main', './renderer', './preload'], message: 'Bad layering: the service may import he-core only.' },
            { target: './mock-service', from: './he-core/client', message: 'Bad layering: the service must never reach the secret-key side of he-core.' },
            { target: './he-core/evaluator', from: './he-core/client', message: 'Bad layering: the evaluator works with evaluation keys only.' },
            { target: './renderer', from: ['./main', './he-core', './mock-service'], message: 'Bad layering: the renderer sees the contract types only.' },
            { target: './renderer', from: './preload', except: ['./contract.ts'], message: 'Bad layering: the renderer sees the contract types only.' },
            { target: './main', from: ['./renderer', './mock-service/server'], message: 'Bad layering: main does not import the renderer.' },
          ],
        },
      ],
    },
  },
  {
    files: ['renderer/**/*.ts', 'renderer/**/*.tsx'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['electron', ...nodeBuiltins], message: 'The renderer never imports electron or Node built-ins.' }] }],
    },
  },
  {
    files: ['he-core/**/*.ts', 'mock-service/**/*.ts', 'scripts/**/*.ts', 'tests/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { paths: [{ name: 'electron', message: 'Only the Electron shell files in main/ import electron.' }] }],
    },
  },
);
