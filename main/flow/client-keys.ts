import { HeContext, loadSeal } from '../../he-core/index.js';
import type { HeParameters, PublicPlan } from '../../he-core/index.js';
import { ClientKeyPair, encodeKeyEnvelopeFor } from './he-client.js';
import type { Vault } from '../vault/index.js';

interface KeyEntry {
  ctx: HeContext;
  pair: ClientKeyPair;
  version: number;
}

/**
 * The client's HE key pairs, one per parameter set, kept in the vault (the secret key never
 * leaves this layer: it is loaded into SEAL here and stored encrypted there).
 */
export class ClientKeyring {
  private readonly entries = new Map<string, KeyEntry>();
  private readonly envelopes = new Map<string, { bytes: Uint8Array; ms: number }>();

  constructor(private readonly vault: Vault) {}

  /** The key pair for these parameters: loaded from the vault, or generated and stored. */
  async pairFor(params: HeParameters): Promise<{ pair: ClientKeyPair; version: number; generated: boolean }> {
    const cached = this.entries.get(params.fingerprint);
    const stored = this.vault.currentSecretKey(params.fingerprint);
    if (cached && stored && cached.version === stored.version) return { pair: cached.pair, version: cached.version, generated: false };
    if (cached) this.drop(params.fingerprint);
    const rt = await loadSeal();
    const ctx = HeContext.create(rt, params);
    try {
      if (stored) {
        const pair = ClientKeyPair.fromSecretKeyBytes(ctx, stored.bytes);
        this.entries.set(params.fingerprint, { ctx, pair, version: stored.version });
        return { pair, version: stored.version, generated: false };
      }
      const pair = ClientKeyPair.generate(ctx);
      const { version } = this.vault.putSecretKey(params.fingerprint, pair.exportSecretKey());
      this.entries.set(params.fingerprint, { ctx, pair, version });
      return { pair, version, generated: true };
    } catch (err) {
      ctx.dispose();
      throw err;
    }
  }

  /** The evaluation-key envelope for a plan (relinearisation + exactly its Galois steps), made once per key version. */
  async evaluationKeys(plan: PublicPlan): Promise<{ envelope: Uint8Array; ms: number; version: number; cached: boolean }> {
    const { pair, version } = await this.pairFor(plan.params);
    const id = `${plan.params.fingerprint}|${version}|${plan.galoisSteps.join(',')}|${plan.relinearization}`;
    const hit = this.envelopes.get(id);
    if (hit) return { envelope: hit.bytes, ms: 0, version, cached: true };
    const made = encodeKeyEnvelopeFor(pair, plan);
    this.envelopes.set(id, made);
    return { envelope: made.bytes, ms: made.ms, version, cached: false };
  }

  /** Generates a new key pair for these parameters; older versions stay in the vault. */
  async rotate(params: HeParameters): Promise<number> {
    const rt = await loadSeal();
    const ctx = HeContext.create(rt, params);
    try {
      const pair = ClientKeyPair.generate(ctx);
      const { version } = this.vault.putSecretKey(params.fingerprint, pair.exportSecretKey());
      this.drop(params.fingerprint);
      this.entries.set(params.fingerprint, { ctx, pair, version });
      return version;
    } catch (err) {
      ctx.dispose();
      throw err;
    }
  }

  private drop(fingerprint: string): void {
    const entry = this.entries.get(fingerprint);
    if (!entry) return;
    this.entries.delete(fingerprint);
    for (const key of [...this.envelopes.keys()]) if (key.startsWith(`${fingerprint}|`)) this.envelopes.delete(key);
    entry.pair.dispose();
    entry.ctx.dispose();
  }

  dispose(): void {
    for (const fingerprint of [...this.entries.keys()]) this.drop(fingerprint);
  }
}
