import { describe, expect, it } from 'vitest';
import { requestCompression } from './prediction-flow.js';

describe('requestCompression', () => {
  it('sends batches to the bundled (loopback) service uncompressed, and everything else with zstd', () => {
    expect(requestCompression('batch', 'bundled')).toBe('none');
    expect(requestCompression('single', 'bundled')).toBe('zstd');
    expect(requestCompression('batch', 'remote')).toBe('zstd');
    expect(requestCompression('single', 'remote')).toBe('zstd');
  });
});
