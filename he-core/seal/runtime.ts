import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import initialize from 'node-seal';
import type { MainModule } from 'node-seal';
import { HeError } from '../errors.js';
import type { HeErrorCode } from '../errors.js';

/** One SEAL WebAssembly instance (one per thread) and a view on its linear memory. */
export interface SealRuntime {
  readonly seal: MainModule;
  /** Current size of the WebAssembly heap in bytes (it only grows; a leak shows as growth). */
  heapBytes(): number;
  /** The WebAssembly linear memory as it is now (a new buffer after each growth). */
  heapBuffer(): ArrayBuffer;
  /** The WebAssembly.Memory object itself, for kernels that import it (he-core/evaluator/mac.ts). */
  heapMemory(): unknown;
}

interface WasmImports {
  [module: string]: Record<string, unknown>;
}

/** The few WebAssembly APIs used here (the DOM lib, which declares them, is not loaded for Node code). */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
}
interface WasmApi {
  instantiate(bytes: Uint8Array, imports: WasmImports): Promise<{ instance: { exports: Record<string, unknown> }; module: unknown }>;
  Memory: abstract new (...args: never[]) => WasmMemory;
  Exception?: abstract new (...args: never[]) => object;
}
const Wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

let shared: Promise<SealRuntime> | undefined;

function sealWasmPath(): string {
  // node-seal exports only its entry module; the .wasm file sits beside it.
  const entry = fileURLToPath(import.meta.resolve('node-seal'));
  return join(dirname(entry), 'seal_throws.wasm');
}

async function instantiate(): Promise<SealRuntime> {
  const bytes = await readFile(sealWasmPath());
  let memory: WasmMemory | undefined;
  const seal = await initialize({
    // We instantiate ourselves so that the heap can be measured (node-seal does not export it).
    instantiateWasm(imports: WasmImports, receive: (instance: unknown, module: unknown) => void) {
      Wasm.instantiate(bytes, imports).then(
        ({ instance, module }) => {
          memory = Object.values(instance.exports).find((e): e is WasmMemory => e instanceof Wasm.Memory);
          receive(instance, module);
        },
        (err: unknown) => {
          throw err;
        },
      );
      return {};
    },
  });
  return {
    seal,
    heapBytes: () => memory?.buffer.byteLength ?? 0,
    heapMemory: () => {
      if (!memory) throw new HeError('seal_failure', 'the SEAL heap is not available');
      return memory;
    },
    heapBuffer: () => {
      if (!memory) throw new HeError('seal_failure', 'the SEAL heap is not available');
      return memory.buffer;
    },
  };
}

/** The SEAL runtime of this thread, loaded once. */
export function loadSeal(): Promise<SealRuntime> {
  shared ??= instantiate();
  return shared;
}

/** Turns what SEAL threw (a WebAssembly exception, an embind error array) into readable text. */
export function sealErrorMessage(seal: MainModule, err: unknown): string {
  if (Wasm.Exception && err instanceof Wasm.Exception) {
    const api = seal as unknown as {
      getExceptionMessage?: (e: unknown) => [string, string];
      decrementExceptionRefcount?: (e: unknown) => void;
    };
    try {
      const [type, message] = api.getExceptionMessage?.(err) ?? ['exception', 'unknown'];
      return `${type}: ${message}`;
    } finally {
      api.decrementExceptionRefcount?.(err);
    }
  }
  if (Array.isArray(err)) return err.map(String).join(': ');
  if (err instanceof Error) return err.message;
  return String(err);
}

/** Runs a SEAL call and turns any failure into an HeError with the given code. */
export function sealCall<T>(seal: MainModule, code: HeErrorCode, what: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof HeError) throw err;
    throw new HeError(code, `${what}: ${sealErrorMessage(seal, err)}`);
  }
}
