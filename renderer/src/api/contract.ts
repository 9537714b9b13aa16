/**
 * The one place the renderer reaches the bridge contract: types only, erased at build time. The
 * renderer sees inputs and decrypted results, never a key (docs/architecture.md, "Layers").
 */
export type * from '../../../preload/contract.js';
