import { formatPercent, formatValue } from '../shell/format.js';

/** One bar per class, the predicted one marked in text as well as colour. */
export function ClassBars({ labels, values, classIndex, precision }: { labels: string[]; values: number[]; classIndex: number | undefined; precision: number }) {
  return (
    <table className="class-bars" data-testid="class-bars">
      <caption className="sr-only">Probability of each class</caption>
      <thead>
        <tr>
          <th scope="col">Class</th>
          <th scope="col">Probability</th>
          <th scope="col" aria-hidden="true" />
        </tr>
      </thead>
      <tbody>
        {values.map((v, i) => (
          <tr key={labels[i] ?? i} className={i === classIndex ? 'predicted' : undefined}>
            <th scope="row">
              {labels[i] ?? `class ${i}`}
              {i === classIndex && <span className="sr-only"> (predicted)</span>}
            </th>
            <td data-testid={`class-value-${i}`}>{formatValue(v, precision)}</td>
            <td aria-hidden="true" className="bar-cell">
              <div className="bar-wrap">
                <svg viewBox="0 0 100 10" preserveAspectRatio="none" className="bar">
                  <rect x="0" y="0" width="100" height="10" className="bar-track" />
                  <rect x="0" y="0" width={Math.max(0, Math.min(1, v)) * 100} height="10" className="bar-fill" />
                </svg>
                <span className="small muted">{formatPercent(Math.max(0, Math.min(1, v)))}</span>
              </div>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
