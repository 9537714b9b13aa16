import type { CheckChoiceView } from '../api/contract.js';

const TIMES: Record<number, string> = { 2: 'twice', 3: 'three times', 4: 'four times' };

/** "50%" from 0.5: whole percentages, rounded down (a chance of being caught is never overstated). */
export function percent(probability: number): string {
  return `${Math.floor(probability * 100 + 1e-9)}%`;
}

/** The label of one choice: how many hidden test cases go with each digit. */
export function checkChoiceLabel(choice: CheckChoiceView): string {
  return `${choice.requests} hidden test case${choice.requests === 1 ? '' : 's'} with each digit`;
}

/**
 * What one choice catches and what it costs, from the core's computed figures (never typed in
 * here): the chance that a provider who replaces one answer at random is caught in a prediction,
 * and the encrypted requests a prediction sends.
 */
export function checkChoiceDetail(choice: CheckChoiceView): string {
  const inOf = `${choice.requests} in ${choice.requestsPerPrediction}`;
  const factor = TIMES[choice.requestsPerPrediction] ?? `${choice.requestsPerPrediction} times`;
  return (
    `A provider that swaps one answer for a wrong one is caught ${percent(choice.replacedAnswerCaught)} of the time (${inOf}). ` +
    `Each digit sends ${choice.requestsPerPrediction} encrypted requests instead of 1: about ${factor} the data and the waiting time.`
  );
}
