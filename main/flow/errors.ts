export type FlowErrorCode = 'model_not_found' | 'input_invalid' | 'input_out_of_range' | 'provider_wrong_result' | 'provider_check_failed' | 'result_out_of_range' | 'cancelled' | 'csv_invalid'
  // Signed model cards and publisher trust (main/flow/trust.ts):
  | 'card_invalid' | 'card_signature_invalid' | 'card_mismatch' | 'card_id_reserved' | 'card_publisher_changed' | 'card_changed' | 'trust_state_invalid' | 'model_unverified';

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
