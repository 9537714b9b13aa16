import wabtInit from 'wabt';

/** Compiles WebAssembly text to a binary (no names section: the output depends only on the code). */
export async function compileKernel(filename: string, source: string): Promise<Uint8Array> {
  const wabt = await wabtInit();
  const module = wabt.parseWat(filename, source, { sat_float_to_int: true });
  try {
    module.validate();
    return module.toBinary({ log: false, write_debug_names: false }).buffer;
  } finally {
    module.destroy();
  }
}
