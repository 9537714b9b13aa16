import { describe, expect, it } from 'vitest';
import { checkChoiceDetail, checkChoiceLabel, percent } from './checks-wording.js';

describe('the wording of the check settings', () => {
  it('says what 1 and 3 hidden test cases catch and cost, from the core’s figures', () => {
    const one = { requests: 1, replacedAnswerCaught: 0.5, requestsPerPrediction: 2 };
    const three = { requests: 3, replacedAnswerCaught: 0.75, requestsPerPrediction: 4 };
    expect(checkChoiceLabel(one)).toBe('1 hidden test case with each digit');
    expect(checkChoiceLabel(three)).toBe('3 hidden test cases with each digit');
    expect(checkChoiceDetail(one)).toBe('A provider that swaps one answer for a wrong one is caught 50% of the time (1 in 2). Each digit sends 2 encrypted requests instead of 1: about twice the data and the waiting time.');
    expect(checkChoiceDetail(three)).toBe('A provider that swaps one answer for a wrong one is caught 75% of the time (3 in 4). Each digit sends 4 encrypted requests instead of 1: about four times the data and the waiting time.');
    // Another stored value (set elsewhere) is worded from its own figures.
    expect(checkChoiceDetail({ requests: 5, replacedAnswerCaught: 5 / 6, requestsPerPrediction: 6 })).toContain('caught 83% of the time (5 in 6)');
    expect(percent(0.999)).toBe('99%');
  });
});
