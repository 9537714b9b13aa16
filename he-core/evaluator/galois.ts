/** SEAL's Galois element for a CKKS rotation by `step` slots (left when positive). */
export function galoisElement(step: number, polyModulusDegree: number): number {
  const m = 2 * polyModulusDegree;
  const slots = polyModulusDegree / 2;
  const s = ((step % slots) + slots) % slots;
  let elt = 1;
  for (let i = 0; i < s; i++) elt = (elt * 3) % m;
  return elt;
}
