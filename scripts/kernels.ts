import wabtInit from 'wabt';

/** Compiles WebAssembly text to a binary (no names section: the output depends only on the code). */
export async function compileKernel(filename: string, source: string): Promise<Uint8Array> {
  const wabt = await wabtInit();
  const features = { sat_float_to_int: true, threads: true, relaxed_simd: true };
  const module = wabt.parseWat(filename, source, features);
  try {
    // wabt's typings omit validate's features argument; without it, a shared memory is refused.
    (module.validate as (options?: typeof features) => void)(features);
    return module.toBinary({ log: false, write_debug_names: false }).buffer;
  } finally {
    module.destroy();
  }
}

/** The source of a kernel's variant on a shared memory (threads): the same code, its memory import shared. */
export function sharedVariant(source: string): string {
  const plain = '(import "env" "memory" (memory 1))';
  if (!source.includes(plain)) throw new Error('the kernel does not import its memory as expected');
  return source.replace(plain, '(import "env" "memory" (memory 1 65536 shared))');
}
