// Reads an ONNX model through protobufjs and the ONNX schema (onnx.proto beside this file, copied
// from the ONNX 1.12 release as Debian's python3-onnx ships it). No hand-written protobuf parsing:
// this file only turns the decoded messages into the few typed fields the importer uses.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { ImportError } from './errors.js';

/** ONNX TensorProto.DataType values the importer reads. */
export const DataType = { FLOAT: 1, INT32: 6, INT64: 7, DOUBLE: 11 } as const;

const TYPE_NAMES: Record<number, string> = { 1: 'float', 2: 'uint8', 3: 'int8', 4: 'uint16', 5: 'int16', 6: 'int32', 7: 'int64', 8: 'string', 9: 'bool', 10: 'float16', 11: 'double', 12: 'uint32', 13: 'uint64', 16: 'bfloat16' };

export function typeName(t: number): string {
  return TYPE_NAMES[t] ?? `type ${t}`;
}

/** A constant tensor: dims and values as float64 (integers exact up to 2^53). */
export interface Tensor {
  dims: number[];
  values: Float64Array;
  dataType: number;
}

export interface Attribute {
  name: string;
  f?: number;
  i?: number;
  s?: string;
  t?: Tensor;
  floats: number[];
  ints: number[];
}

export interface OnnxNode {
  /** The node's name, or `#index (output name)` when the exporter left it empty. */
  name: string;
  opType: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  attributes: Map<string, Attribute>;
}

export interface ValueInfo {
  name: string;
  elemType: number;
  /** A fixed dimension, or null for a symbolic or unknown one (a batch dimension). */
  dims: (number | null)[] | null;
}

export interface OnnxGraph {
  irVersion: number;
  opset: number;
  producer: string;
  inputs: ValueInfo[];
  outputs: ValueInfo[];
  initializers: Map<string, Tensor>;
  nodes: OnnxNode[];
}

interface LongLike {
  toNumber(): number;
}
type Int = number | LongLike;

interface TensorMessage {
  dims?: Int[];
  dataType?: number;
  floatData?: number[];
  int32Data?: number[];
  int64Data?: Int[];
  doubleData?: number[];
  rawData?: Uint8Array;
  name?: string;
  dataLocation?: number;
  externalData?: unknown[];
}

/** ONNX AttributeProto.AttributeType values. */
const AttributeType = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, GRAPH: 5, FLOATS: 6, INTS: 7, GRAPHS: 10 } as const;

interface AttributeMessage {
  name?: string;
  type?: number;
  f?: number;
  i?: Int;
  s?: Uint8Array;
  t?: TensorMessage;
  floats?: number[];
  ints?: Int[];
}

interface NodeMessage {
  input?: string[];
  output?: string[];
  name?: string;
  opType?: string;
  domain?: string;
  attribute?: AttributeMessage[];
}

interface ValueInfoMessage {
  name?: string;
  type?: { tensorType?: { elemType?: number; shape?: { dim?: { dimValue?: Int; dimParam?: string }[] } } };
}

interface GraphMessage {
  node?: NodeMessage[];
  initializer?: TensorMessage[];
  input?: ValueInfoMessage[];
  output?: ValueInfoMessage[];
  sparseInitializer?: unknown[];
}

interface ModelMessage {
  irVersion?: Int;
  opsetImport?: { domain?: string; version?: Int }[];
  producerName?: string;
  producerVersion?: string;
  graph?: GraphMessage;
  functions?: unknown[];
}

const toNumber = (v: Int | undefined): number => (v === undefined ? 0 : typeof v === 'number' ? v : v.toNumber());

let modelType: protobuf.Type | undefined;

/** The ModelProto type of the committed onnx.proto. */
export function onnxModelType(): protobuf.Type {
  if (!modelType) {
    const root = protobuf.loadSync(fileURLToPath(new URL('./onnx.proto', import.meta.url)));
    modelType = root.lookupType('onnx.ModelProto');
  }
  return modelType;
}

/**
 * The shortest decimal that is the same float32: 0.1315 rather than 0.13150000572204590. The
 * exporter stored float32; printing the float64 widening would only add digits that were never in
 * the model. Math.fround of the result is the stored value exactly.
 */
export function shortestFloat32(v: number): number {
  if (!Number.isFinite(v) || v === 0) return v;
  for (let p = 1; p <= 9; p++) {
    const d = Number(v.toPrecision(p));
    if (Math.fround(d) === v) return d;
  }
  return v;
}

function tensorFrom(t: TensorMessage, where: string): Tensor {
  const dims = (t.dims ?? []).map(toNumber);
  const count = dims.reduce((a, b) => a * b, 1);
  const dataType = t.dataType ?? 0;
  if (t.dataLocation === 1 || (t.externalData && t.externalData.length > 0)) {
    throw new ImportError(`${where} keeps its data in an external file; export the model with its weights inside the .onnx file (torch.onnx.export does for models under 2 GB)`);
  }
  const raw = t.rawData && t.rawData.byteLength > 0 ? t.rawData : undefined;
  let values: Float64Array;
  const view = raw ? new DataView(raw.buffer, raw.byteOffset, raw.byteLength) : undefined;
  const expectBytes = (size: number): void => {
    if (raw && raw.byteLength !== count * size) throw new ImportError(`${where} holds ${raw.byteLength} bytes of data for ${count} ${typeName(dataType)} values: the file is damaged`);
  };
  switch (dataType) {
    case DataType.FLOAT:
      expectBytes(4);
      values = view ? Float64Array.from({ length: count }, (_, i) => shortestFloat32(view.getFloat32(4 * i, true))) : Float64Array.from(t.floatData ?? [], (v) => shortestFloat32(Math.fround(v)));
      break;
    case DataType.DOUBLE:
      expectBytes(8);
      values = view ? Float64Array.from({ length: count }, (_, i) => view.getFloat64(8 * i, true)) : Float64Array.from(t.doubleData ?? []);
      break;
    case DataType.INT32:
      expectBytes(4);
      values = view ? Float64Array.from({ length: count }, (_, i) => view.getInt32(4 * i, true)) : Float64Array.from(t.int32Data ?? []);
      break;
    case DataType.INT64:
      expectBytes(8);
      values = view ? Float64Array.from({ length: count }, (_, i) => Number(view.getBigInt64(8 * i, true))) : Float64Array.from((t.int64Data ?? []).map(toNumber));
      break;
    default:
      throw new ImportError(`${where} is a ${typeName(dataType)} tensor; the importer reads float, double, int32 and int64 tensors`);
  }
  if (values.length !== count) throw new ImportError(`${where} has ${values.length} values for dims [${dims.join(', ')}]: the file is damaged`);
  for (const v of values) if (!Number.isFinite(v)) throw new ImportError(`${where} holds a value that is not a finite number`);
  return { dims, values, dataType };
}

function valueInfo(v: ValueInfoMessage): ValueInfo {
  const tt = v.type?.tensorType;
  const dims = tt?.shape?.dim ? tt.shape.dim.map((d) => (d.dimValue !== undefined && toNumber(d.dimValue) > 0 ? toNumber(d.dimValue) : null)) : null;
  return { name: v.name ?? '', elemType: tt?.elemType ?? 0, dims };
}

function nodeFrom(n: NodeMessage, index: number): OnnxNode {
  const outputs = n.output ?? [];
  const name = n.name && n.name.length > 0 ? n.name : `#${index} (${outputs[0] ?? 'no output'})`;
  const attributes = new Map<string, Attribute>();
  for (const a of n.attribute ?? []) {
    const attrName = a.name ?? '';
    // Decoded messages carry defaults for unset fields: the attribute's type says which one is set.
    const type = a.type ?? 0;
    if (type === AttributeType.GRAPH || type === AttributeType.GRAPHS) {
      throw new ImportError(`node "${name}" (${n.opType ?? '?'}): attribute ${attrName} holds a subgraph; control flow (If, Loop, Scan) is not supported: export a model without it`);
    }
    const attr: Attribute = { name: attrName, floats: type === AttributeType.FLOATS ? (a.floats ?? []) : [], ints: type === AttributeType.INTS ? (a.ints ?? []).map(toNumber) : [] };
    if (type === AttributeType.FLOAT) attr.f = a.f ?? 0;
    if (type === AttributeType.INT) attr.i = toNumber(a.i);
    if (type === AttributeType.STRING) attr.s = Buffer.from(a.s ?? new Uint8Array(0)).toString('utf8');
    if (type === AttributeType.TENSOR && a.t) attr.t = tensorFrom(a.t, `node "${name}" attribute ${attrName}`);
    attributes.set(attrName, attr);
  }
  return { name, opType: n.opType ?? '', domain: n.domain ?? '', inputs: n.input ?? [], outputs, attributes };
}

/** Decodes the bytes of an .onnx file; refuses a truncated or malformed file, naming what is wrong. */
export function decodeOnnx(bytes: Uint8Array, file = 'the model'): OnnxGraph {
  if (bytes.byteLength === 0) throw new ImportError(`${file} is empty: not an ONNX model`);
  let message: ModelMessage;
  try {
    message = onnxModelType().decode(bytes) as unknown as ModelMessage;
  } catch (err) {
    throw new ImportError(`${file} is not a readable ONNX model (truncated or damaged protobuf: ${(err as Error).message}); export it again`);
  }
  const graph = message.graph;
  if (!graph || !message.irVersion || !graph.node || graph.node.length === 0 || !graph.output || graph.output.length === 0) {
    throw new ImportError(`${file} is not an ONNX model: it has no ${!message.irVersion ? 'IR version' : !graph ? 'graph' : !graph.node?.length ? 'nodes' : 'outputs'} (truncated, or another kind of file)`);
  }
  if (message.functions && message.functions.length > 0) throw new ImportError(`${file} defines local functions; export it without them (torch.onnx.export with its defaults does)`);
  if (graph.sparseInitializer && graph.sparseInitializer.length > 0) throw new ImportError(`${file} has sparse initializers; export it with dense weights`);
  const opset = (message.opsetImport ?? []).find((o) => (o.domain ?? '') === '' || o.domain === 'ai.onnx');
  const initializers = new Map<string, Tensor>();
  for (const t of graph.initializer ?? []) initializers.set(t.name ?? '', tensorFrom(t, `initializer "${t.name ?? ''}"`));
  return {
    irVersion: toNumber(message.irVersion),
    opset: toNumber(opset?.version),
    producer: `${message.producerName ?? 'unknown'} ${message.producerVersion ?? ''}`.trim(),
    inputs: (graph.input ?? []).map(valueInfo).filter((v) => !initializers.has(v.name)),
    outputs: (graph.output ?? []).map(valueInfo),
    initializers,
    nodes: graph.node.map(nodeFrom),
  };
}

/** Reads and decodes an .onnx file. */
export function readOnnx(file: string): { graph: OnnxGraph; bytes: Uint8Array } {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    throw new ImportError(`cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`, 2);
  }
  return { graph: decodeOnnx(bytes, file), bytes };
}

/**
 * The same model with extra graph outputs (float tensors), for onnxruntime to return intermediate
 * values: the network's raw output before a final Sigmoid or Softmax (of the graph output's element
 * type). Re-encoded by protobufjs.
 */
export function withExtraOutputs(bytes: Uint8Array, names: readonly string[], elemType: number): Uint8Array {
  const type = onnxModelType();
  const message = type.decode(bytes) as unknown as ModelMessage;
  const graph = message.graph!;
  const existing = new Set((graph.output ?? []).map((o) => o.name));
  for (const name of names) if (!existing.has(name)) (graph.output ??= []).push({ name, type: { tensorType: { elemType } } });
  return type.encode(message as unknown as protobuf.Message).finish();
}
