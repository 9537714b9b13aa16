import { describe, expect, it } from 'vitest';
import { HeContext, loadSeal, selectParameters } from '../index.js';
import { ClientKeyPair } from './client-keys.js';

describe('ClientKeyPair', () => {
  it('restores a secret key from a Node Buffer (as the vault returns it) and zeroes nothing of the caller', async () => {
    const rt = await loadSeal();
    const params = selectParameters(rt.seal, { depth: 1, scaleBits: 26, headroomBits: 8, minSlots: 32 });
    const ctx = HeContext.create(rt, params);
    const original = ClientKeyPair.generate(ctx);
    const bytes = Buffer.from(original.exportSecretKey());
    const before = Buffer.from(bytes);
    const restored = ClientKeyPair.fromSecretKeyBytes(ctx, bytes);
    // Same secret key: the restored pair exports the same bytes, and the caller's buffer is intact.
    expect(Buffer.from(restored.exportSecretKey()).equals(before)).toBe(true);
    expect(bytes.equals(before)).toBe(true);
    restored.dispose();
    original.dispose();
    ctx.dispose();
  });
});
