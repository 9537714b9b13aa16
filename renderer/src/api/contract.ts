/**
 * The one place the renderer reaches the bridge contract: types only, erased at build time. The
 * renderer sees inputs and decrypted results, never a key (DESIGN.md section 1).
 */
// eslint-disable-next-line import-x/no-restricted-paths -- the contract types are the renderer's one allowed import (DESIGN.md section 1); the lint zone does not carve them out yet
export type * from '../../../preload/contract.js';
