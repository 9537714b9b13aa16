import { describe, expect, it } from 'vitest';
import { parseLoadtestOptions } from '../loadtest/options.js';
import { parseBenchOptions } from './options.js';

// The doc-writing decision of the two measurement tools: a run leaves the tree clean unless asked.
describe('npm run bench: writes docs/benchmarks.md only with --write-docs', () => {
  it('does not write the docs by default, with --quick, --json or --only checks', () => {
    for (const argv of [[], ['--quick'], ['--json', '/tmp/bench.json'], ['--only', 'checks'], ['--only', 'checks', '--runs', '20'], ['--quick', '--workers', '1']]) {
      expect(parseBenchOptions(argv).writeDocs, argv.join(' ')).toBe(false);
    }
  });

  it('writes them with --write-docs, alone or beside other options', () => {
    expect(parseBenchOptions(['--write-docs']).writeDocs).toBe(true);
    expect(parseBenchOptions(['--only', 'checks', '--runs', '20', '--write-docs'])).toMatchObject({ writeDocs: true, only: 'checks', runs: 20 });
    expect(parseBenchOptions(['--quick', '--write-docs'])).toMatchObject({ writeDocs: true, quick: true, runs: 5 });
  });

  it('refuses unknown or malformed options instead of running', () => {
    expect(() => parseBenchOptions(['--write-doc'])).toThrow();
    expect(() => parseBenchOptions(['--no-docs'])).toThrow();
    expect(() => parseBenchOptions(['--only', 'single'])).toThrow(/--only/);
    expect(() => parseBenchOptions(['--workers', '0'])).toThrow(/positive/);
  });
});

describe('npm run loadtest: writes docs/reliability.md only with --write-docs', () => {
  it('does not write the docs by default, with --json, or with the old --no-docs', () => {
    for (const argv of [[], ['--clients', '16', '--seconds', '30'], ['--json', '/tmp/load.json'], ['--no-docs']]) {
      expect(parseLoadtestOptions(argv).writeDocs, argv.join(' ')).toBe(false);
    }
  });

  it('writes them with --write-docs; the section is named by the command line without the output options', () => {
    const o = parseLoadtestOptions(['--clients', '16', '--seconds', '300', '--write-docs', '--json', '/tmp/x.json']);
    expect(o.writeDocs).toBe(true);
    expect(o.command).toBe('npm run loadtest -- --clients 16 --seconds 300');
    expect(parseLoadtestOptions(['--clients', '16', '--seconds', '300']).command).toBe(o.command);
    expect(o.hardStopS).toBe(360);
  });

  it('refuses contradictory or malformed options', () => {
    expect(() => parseLoadtestOptions(['--write-docs', '--no-docs'])).toThrow(/contradict/);
    expect(() => parseLoadtestOptions(['--clients', '0'])).toThrow(/--clients/);
    expect(() => parseLoadtestOptions(['--docs'])).toThrow();
  });
});
