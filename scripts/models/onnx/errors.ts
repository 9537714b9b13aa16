/** A refusal of the ONNX importer: one message naming the node, file or value at fault and what to do. */
export class ImportError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'ImportError';
  }
}
