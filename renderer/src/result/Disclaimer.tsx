/**
 * What every shown result is and is not, in plain words. It sits with the verdict (single result,
 * batch results, history), in normal text, before any number or chart.
 */
export function Disclaimer() {
  return (
    <p className="disclaimer" data-testid="disclaimer">
      <strong>Not a diagnosis.</strong> This is a research demonstration: the model learned from a small public data set and can be wrong. Do not make medical
      decisions with it; ask a doctor.
    </p>
  );
}
