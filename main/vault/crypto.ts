import { createCipheriv, createDecipheriv, randomFillSync } from 'node:crypto';

/** AES-256-GCM with a random 96-bit nonce per write, stored as nonce | ciphertext | tag. */
export const DATA_KEY_BYTES = 32;
export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;
export const SEALED_OVERHEAD = NONCE_BYTES + TAG_BYTES;

/**
 * Version tag at the head of every associated-data string. It changes only with a new row
 * encryption scheme, so that a row sealed under one scheme can never be read under another.
 */
export const AD_SCHEME = 'ciphercare-vault/1';

/** A fresh random key in a buffer of its own (never a slice of Node's shared pool, so zeroing it is complete). */
export function newDataKey(): Buffer {
  const key = Buffer.alloc(DATA_KEY_BYTES);
  randomFillSync(key);
  return key;
}

/**
 * The row identity bound into a seal, as the UTF-8 of a JSON array: unambiguous for any
 * strings in it (a ':'-joined string would not be) and stable, since we only put strings
 * and integers in it.
 */
export function associatedData(...parts: ReadonlyArray<string | number>): Buffer {
  return Buffer.from(JSON.stringify([AD_SCHEME, ...parts]), 'utf8');
}

export function seal(key: Uint8Array, plaintext: Uint8Array, ad: Uint8Array): Buffer {
  checkKey(key);
  const nonce = Buffer.alloc(NONCE_BYTES);
  randomFillSync(nonce);
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(ad);
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([nonce, body, cipher.getAuthTag()]);
}

/**
 * Opens a seal; `undefined` when authentication fails (wrong key, wrong identity, a flipped
 * bit, a truncated blob). The caller decides which error that is: a wrong passphrase for a
 * wrapped key, a tampered row for a row.
 */
export function unseal(key: Uint8Array, sealed: Uint8Array, ad: Uint8Array): Buffer | undefined {
  checkKey(key);
  if (sealed.length < SEALED_OVERHEAD) return undefined;
  const nonce = sealed.subarray(0, NONCE_BYTES);
  const body = sealed.subarray(NONCE_BYTES, sealed.length - TAG_BYTES);
  const tag = sealed.subarray(sealed.length - TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  decipher.setAAD(ad);
  decipher.setAuthTag(tag);
  const head = decipher.update(body);
  try {
    return Buffer.concat([head, decipher.final()]);
  } catch {
    // Authentication failed: the unverified plaintext must not outlive this call.
    head.fill(0);
    return undefined;
  }
}

function checkKey(key: Uint8Array): void {
  // A zeroed or short key would be a programming error, never user data: fail loudly.
  if (key.length !== DATA_KEY_BYTES) throw new RangeError(`AES-256-GCM needs a ${DATA_KEY_BYTES}-byte key, got ${key.length}`);
}
