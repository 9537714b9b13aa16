import { HeError } from '../errors.js';

/** SEAL's Galois element for a CKKS rotation by `step` slots (left when positive). */
export function galoisElement(step: number, polyModulusDegree: number): number {
  const m = 2 * polyModulusDegree;
  const slots = polyModulusDegree / 2;
  // SEAL refuses |step| >= slots and maps 0 to conjugation: neither is a rotation a plan may use.
  if (!Number.isInteger(step) || step === 0 || Math.abs(step) >= slots) {
    throw new HeError('keys_invalid', `${step} is not a rotation step for ${slots} slots`);
  }
  const s = ((step % slots) + slots) % slots;
  let elt = 1;
  for (let i = 0; i < s; i++) elt = (elt * 3) % m;
  return elt;
}
