/**
 * The one place the renderer reaches the bridge contract: types only, erased at build time. The
 * renderer sees inputs and decrypted results, never a key (DESIGN.md section 1).
 */
export type * from '../../../preload/contract.js';
