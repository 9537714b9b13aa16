/**
 * The publisher of the bundled models: its Ed25519 public key (raw 32 bytes, base64), shipped with
 * the app and trusted by default. The private key is not in the repository: the release owner keeps
 * it offline and re-signs `assets/models/cards/` after `npm run train` (docs/SECURITY.md).
 */
export interface TrustedPublisher {
  name: string;
  /** Base64 of the raw 32-byte Ed25519 public key. */
  publicKey: string;
  /** Model ids reserved to this publisher: a card for one of them signed by any other key is refused. */
  modelIds: readonly string[];
}

export const BUNDLED_PUBLISHER: TrustedPublisher = {
  name: 'CipherCare bundled models',
  publicKey: 'CncZ8lZm1eK2pxN2Q+1s4pdPgaU7JXm9C19f9DRZIcs=',
  modelIds: ['breast-cancer', 'breast-cancer-mlp', 'diabetes-progression', 'mnist-cnn'],
};
