import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Vault } from '../../main/vault/index.js';
import { SCRYPT_FLOOR } from '../../main/vault/index.js';
import { ClientKeyring } from '../../main/flow/client-keys.js';
import { PredictionFlow } from '../../main/flow/prediction-flow.js';
import { ProviderClient } from '../../main/provider/provider-client.js';
import type { ProviderConfig } from '../../main/provider/provider-client.js';
import type { FlowOptions } from '../../main/flow/prediction-flow.js';

export const PASSPHRASE = 'correct horse battery staple';

export interface ClientRig {
  dir: string;
  vault: Vault;
  keyring: ClientKeyring;
  flow: PredictionFlow;
  close(): void;
}

/** A fresh vault in a temporary folder (scrypt at its floor, for speed) and a flow against `config`. */
export async function clientRig(config: ProviderConfig, label: string = config.kind, flowOptions: FlowOptions = {}): Promise<ClientRig> {
  const dir = mkdtempSync(join(tmpdir(), 'ciphercare-client-'));
  const vault = await Vault.create(dir, PASSPHRASE, { kdf: SCRYPT_FLOOR });
  const keyring = new ClientKeyring(vault);
  const flow = new PredictionFlow(vault, keyring, new ProviderClient(config), label, flowOptions);
  return {
    dir,
    vault,
    keyring,
    flow,
    close() {
      keyring.dispose();
      vault.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
