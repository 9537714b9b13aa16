/** Prometheus text exposition, by hand: a few counters, gauges and histograms. */
const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

function labelText(labels: Record<string, string>): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
}

class Histogram {
  readonly series = new Map<string, { labels: Record<string, string>; counts: number[]; sum: number; count: number }>();
  observe(labels: Record<string, string>, seconds: number): void {
    const key = labelText(labels);
    let s = this.series.get(key);
    if (!s) {
      s = { labels, counts: BUCKETS.map(() => 0), sum: 0, count: 0 };
      this.series.set(key, s);
    }
    BUCKETS.forEach((b, i) => {
      if (seconds <= b) s.counts[i]!++;
    });
    s.sum += seconds;
    s.count++;
  }
  render(name: string, help: string): string[] {
    const lines = [`# HELP ${name} ${help}`, `# TYPE ${name} histogram`];
    for (const s of this.series.values()) {
      BUCKETS.forEach((b, i) => lines.push(`${name}_bucket${labelText({ ...s.labels, le: String(b) })} ${s.counts[i]}`));
      lines.push(`${name}_bucket${labelText({ ...s.labels, le: '+Inf' })} ${s.count}`);
      lines.push(`${name}_sum${labelText(s.labels)} ${s.sum}`);
      lines.push(`${name}_count${labelText(s.labels)} ${s.count}`);
    }
    return lines;
  }
}

/** A gauge read when the metrics are rendered (the distributed roles add their own). */
export interface GaugeValue {
  name: string;
  help: string;
  value: number;
}

export class ServiceMetrics {
  private readonly requests = new Map<string, { labels: Record<string, string>; value: number }>();
  private readonly latency = new Histogram();
  private readonly evaluation = new Histogram();
  private readonly counters = new Map<string, { help: string; series: Map<string, { labels: Record<string, string>; value: number }> }>();
  private readonly histograms = new Map<string, { help: string; histogram: Histogram }>();

  /** Adds to a named counter (created on first use; `name` should end in `_total`). */
  count(name: string, help: string, labels: Record<string, string> = {}, by = 1): void {
    let counter = this.counters.get(name);
    if (!counter) {
      counter = { help, series: new Map() };
      this.counters.set(name, counter);
    }
    const key = labelText(labels);
    const entry = counter.series.get(key) ?? { labels, value: 0 };
    entry.value += by;
    counter.series.set(key, entry);
  }

  /** Observes seconds in a named histogram (created on first use). */
  observe(name: string, help: string, seconds: number, labels: Record<string, string> = {}): void {
    let h = this.histograms.get(name);
    if (!h) {
      h = { help, histogram: new Histogram() };
      this.histograms.set(name, h);
    }
    h.histogram.observe(labels, seconds);
  }

  countRequest(route: string, method: string, status: number, seconds: number): void {
    const labels = { route, method, status: String(status) };
    const key = labelText(labels);
    const entry = this.requests.get(key) ?? { labels, value: 0 };
    entry.value++;
    this.requests.set(key, entry);
    this.latency.observe({ route, method }, seconds);
  }

  observeEvaluation(model: string, mode: string, seconds: number): void {
    this.evaluation.observe({ model, mode }, seconds);
  }

  render(gauges: { queueDepth: number; busyWorkers: number; workers: number; sessions: number; cacheBytes: number }, extra: readonly GaugeValue[] = []): string {
    const lines = ['# HELP ciphercare_http_requests_total HTTP requests by route, method and status.', '# TYPE ciphercare_http_requests_total counter'];
    for (const { labels, value } of this.requests.values()) lines.push(`ciphercare_http_requests_total${labelText(labels)} ${value}`);
    lines.push(...this.latency.render('ciphercare_http_request_duration_seconds', 'HTTP request latency.'));
    lines.push(...this.evaluation.render('ciphercare_evaluation_duration_seconds', 'Homomorphic evaluation time inside a worker.'));
    const gauge = (name: string, help: string, value: number): void => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`, `${name} ${value}`);
    };
    gauge('ciphercare_queue_depth', 'Jobs waiting for a worker.', gauges.queueDepth);
    gauge('ciphercare_workers_busy', 'Workers evaluating now.', gauges.busyWorkers);
    gauge('ciphercare_workers', 'Workers in the pool.', gauges.workers);
    gauge('ciphercare_sessions', 'Evaluation-key sessions held.', gauges.sessions);
    gauge('ciphercare_session_cache_bytes', 'Bytes of evaluation keys held by sessions.', gauges.cacheBytes);
    for (const g of extra) gauge(g.name, g.help, g.value);
    for (const [name, counter] of this.counters) {
      lines.push(`# HELP ${name} ${counter.help}`, `# TYPE ${name} counter`);
      for (const { labels, value } of counter.series.values()) lines.push(`${name}${labelText(labels)} ${value}`);
    }
    for (const [name, h] of this.histograms) lines.push(...h.histogram.render(name, h.help));
    return `${lines.join('\n')}\n`;
  }
}
