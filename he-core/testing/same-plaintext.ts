// Tests only: whether two plaintexts are the same SEAL object, bit for bit (he-core/evaluator/encoder.test.ts,
// he-core/client/fast-encoding.test.ts).
import type { Plaintext } from 'node-seal';
import { plaintextData, sameParmsId } from '../seal/layout.js';
import type { SealRuntime } from '../seal/runtime.js';

/** The same parms_id, scale, NTT form, size and every coefficient word. */
export function samePlaintext(runtime: SealRuntime, a: Plaintext, b: Plaintext): boolean {
  if (a.coeffCount() !== b.coeffCount() || a.scale() !== b.scale() || a.isNttForm() !== b.isNttForm() || !sameParmsId(runtime, a, b)) return false;
  const x = plaintextData(runtime, a);
  const y = plaintextData(runtime, b);
  if (x === null || y === null) return false;
  const heap = new Uint32Array(runtime.heapBuffer());
  for (let i = 0; i < 2 * a.coeffCount(); i++) if (heap[x / 4 + i] !== heap[y / 4 + i]) return false;
  return true;
}
