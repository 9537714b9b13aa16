// onnxruntime-node, the plaintext reference of imported models: the original .onnx file runs on its
// CPU execution provider, with the raw network output (before a final Sigmoid or Softmax) added as
// a graph output so that it can be compared with the encrypted output.
import * as ort from 'onnxruntime-node';
import type { MappedNetwork } from './graph.js';
import { DataType, withExtraOutputs } from './read.js';

export interface ReferenceOutputs {
  /** The network's raw output per row (before the final Sigmoid or Softmax). */
  raw: Float64Array[];
  /** The graph's own output per row. */
  final: Float64Array[];
}

export function onnxruntimeVersion(): string {
  return ort.env.versions.node ?? 'unknown';
}

export async function runOnnx(bytes: Uint8Array, net: MappedNetwork, rows: readonly (readonly number[])[]): Promise<ReferenceOutputs> {
  const model = net.rawOutput === net.output ? bytes : withExtraOutputs(bytes, [net.rawOutput], net.outputElemType);
  const session = await ort.InferenceSession.create(model, { executionProviders: ['cpu'], graphOptimizationLevel: 'all' });
  try {
    const double = net.outputElemType === DataType.DOUBLE;
    const per = net.input.shape.reduce((a, b) => a * b, 1);
    const raw: Float64Array[] = [];
    const final: Float64Array[] = [];
    // A free batch dimension takes all rows at once; a fixed batch of 1 one row per run.
    const chunk = net.input.batched ? rows.length : 1;
    for (let start = 0; start < rows.length; start += chunk) {
      const part = rows.slice(start, start + chunk);
      const flat = part.flat();
      const data = double ? Float64Array.from(flat) : Float32Array.from(flat);
      const tensor = new ort.Tensor(double ? 'float64' : 'float32', data, [part.length, ...net.input.shape]);
      const result = await session.run({ [net.input.name]: tensor });
      const take = (name: string, into: Float64Array[]): void => {
        const t = result[name]!;
        const values = Float64Array.from(t.data as Float32Array | Float64Array);
        const width = values.length / part.length;
        if (width * part.length !== values.length || width !== net.outputs) throw new Error(`onnxruntime returned ${values.length} values of ${name} for ${part.length} rows of ${net.outputs} outputs`);
        for (let r = 0; r < part.length; r++) into.push(values.slice(r * width, (r + 1) * width));
      };
      take(net.rawOutput, raw);
      take(net.output, final);
      for (const t of Object.values(result)) t.dispose();
      tensor.dispose();
    }
    if (per === 0) throw new Error('the model takes no input values');
    return { raw, final };
  } finally {
    await session.release();
  }
}
