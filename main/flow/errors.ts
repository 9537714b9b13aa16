export type FlowErrorCode = 'model_not_found' | 'input_invalid' | 'input_out_of_range' | 'provider_wrong_result' | 'result_out_of_range' | 'cancelled' | 'csv_invalid';

/** A failure of the prediction flow that the user can act on; `field` names the input at fault. */
export class FlowError extends Error {
  constructor(
    readonly code: FlowErrorCode,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'FlowError';
  }
}
