import { useCallback, useEffect, useMemo, useState } from 'react';
import { bridge, toUiError } from '../api/bridge.js';
import type { BridgeError, HistoryItem, HistoryView, ModelSummary } from '../api/contract.js';
import { Disclaimer } from '../result/Disclaimer.js';
import { ErrorNotice } from '../shell/ErrorNotice.js';
import { ScreenHeading } from '../shell/ScreenHeading.js';
import { formatDate } from '../shell/format.js';
import { HistoryChart } from './HistoryChart.js';
import { inputSummary, resultSummary } from './describe.js';

const PAGE = 25;

/** Past predictions, decrypted from the vault for display only. */
export function HistoryScreen({ models }: { models: ModelSummary[] }) {
  const [items, setItems] = useState<HistoryItem[]>([]);
  const [unreadable, setUnreadable] = useState<HistoryView['unreadable']>([]);
  const [total, setTotal] = useState(0);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<BridgeError | null>(null);
  const [chartModel, setChartModel] = useState<string>('');
  const byId = useMemo(() => new Map(models.map((m) => [m.id, m])), [models]);

  const load = useCallback(async (offset: number) => {
    setLoading(true);
    setError(null);
    try {
      const page = await bridge().history.list({ limit: PAGE, offset });
      setItems((prev) => (offset === 0 ? page.items : [...prev, ...page.items]));
      setUnreadable((prev) => (offset === 0 ? page.unreadable : [...prev, ...page.unreadable]));
      setTotal(page.total);
    } catch (err) {
      setError(toUiError(err));
    } finally {
      setLoading(false);
    }
  }, []);

  useEffect(() => {
    void load(0);
  }, [load]);

  const chartable = models.filter((m) => m.task !== 'multiclass-classification' && items.some((i) => i.modelId === m.id));
  const selected = byId.get(chartModel) ?? chartable[0];
  const loaded = items.length + unreadable.length;

  return (
    <div className="screen history" data-screen="history">
      <ScreenHeading>History</ScreenHeading>
      <Disclaimer />
      <p className="notice" data-testid="encrypted-note">
        Your history is stored only on this computer, encrypted at rest in the vault under a key that your passphrase protects. It is decrypted here for display
        and never sent anywhere.
      </p>
      <ErrorNotice error={error} title="The history could not be read." />
      {unreadable.length > 0 && (
        <div className="notice warning" role="alert" data-testid="unreadable">
          <p>
            <strong>
              {unreadable.length} entr{unreadable.length === 1 ? 'y' : 'ies'} could not be decrypted and {unreadable.length === 1 ? 'is' : 'are'} not shown.
            </strong>{' '}
            The vault file may have been modified or damaged; restore from a backup if this is unexpected.
          </p>
          <ul className="small">
            {unreadable.map((u) => (
              <li key={u.id}>
                Entry {u.id}: <code>{u.code}</code>
              </li>
            ))}
          </ul>
        </div>
      )}
      {selected && (
        <section className="card" aria-labelledby="chart-title">
          <h2 id="chart-title">Results over time</h2>
          {chartable.length > 1 && (
            <div className="field inline">
              <label htmlFor="chart-model">Model</label>
              <select id="chart-model" value={selected.id} onChange={(e) => setChartModel(e.target.value)}>
                {chartable.map((m) => (
                  <option key={m.id} value={m.id}>
                    {m.title}
                  </option>
                ))}
              </select>
            </div>
          )}
          <HistoryChart items={items.filter((i) => i.modelId === selected.id)} model={selected} />
        </section>
      )}
      <section className="card" aria-labelledby="history-table-title">
        <h2 id="history-table-title">
          All predictions <span className="muted small" data-testid="history-total">({total} stored)</span>
        </h2>
        {items.length === 0 && !loading ? (
          <p>No predictions yet.</p>
        ) : (
          <div className="table-scroll" tabIndex={0} role="region" aria-labelledby="history-table-title">
            <table className="data-table" data-testid="history-table" aria-busy={loading}>
              <thead>
                <tr>
                  <th scope="col">When</th>
                  <th scope="col">Model</th>
                  <th scope="col">Result</th>
                  <th scope="col">Input</th>
                  <th scope="col">Provider</th>
                </tr>
              </thead>
              <tbody>
                {items.map((item) => {
                  const model = byId.get(item.modelId);
                  return (
                    <tr key={item.id} data-history-id={item.id} data-model={item.modelId}>
                      <td>
                        <time dateTime={item.createdAt}>{formatDate(item.createdAt)}</time>
                      </td>
                      <td>{model?.title ?? item.modelId}</td>
                      <td data-testid="history-result">{resultSummary(item, model)}</td>
                      <td className="small">{inputSummary(item, model)}</td>
                      <td className="small">{item.provider}</td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        )}
        <div className="actions">
          {loaded < total && (
            <button type="button" className="button" onClick={() => void load(loaded)} disabled={loading}>
              Show older predictions
            </button>
          )}
          <button type="button" className="button ghost" onClick={() => void load(0)} disabled={loading}>
            Refresh
          </button>
        </div>
        {/* Empty while loading, so that the count is a change a screen reader announces. */}
        <p className="sr-only" aria-live="polite" data-testid="history-live">
          {loading ? '' : `${items.length} of ${total} predictions shown.`}
        </p>
      </section>
    </div>
  );
}
