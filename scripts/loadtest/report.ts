// The load test's output: a printed summary, the JSON (--json) and a section of docs/reliability.md.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { Machine } from '../bench/types.js';
import type { CalibrationSample } from '../bench/calibration.js';
import { MiB } from './stats.js';

export interface RssSample {
  /** Seconds since the load started (negative: before). */
  t: number;
  serviceBytes: number;
  clientBytes: number;
}

export interface LoadRun {
  command: string;
  date: string;
  machine: Machine;
  /** Mean cores other processes kept busy during the load (/proc/stat minus this process and the service). */
  otherCores: number;
  /** The benchmark's calibration in this process, before and after the load (the service idle); the mean of the two medians. */
  calibration: { model: string; rotateMs: number; multiplyPlainMs: number; start: CalibrationSample; end: CalibrationSample };
  settings: { clients: number; seconds: number; model: string; workers: number; maxQueue: number; hardStopS: number };
  setup: { serviceStartMs: number; keygenMs: number; keyEnvelopeBytes: number; sessionsMs: number };
  results: {
    durationS: number;
    ok: number;
    errors: number;
    wrong: number;
    errorKinds: Record<string, number>;
    retried503: number;
    retriedNetwork: number;
    reuploads: number;
    predictionsRetried: number;
    throughputPerS: number;
    endToEndMs: { p50: number; p90: number; p99: number; max: number; mean: number };
    roundTripMs: { p50: number; p99: number };
    maxAbsError: number;
    tolerance: number;
    /** Per-client completed predictions: min and max (fairness). */
    perClient: { min: number; max: number };
    /** 503 answers as the service counted them (/v1/metrics), when readable. */
    server503: number | null;
  };
  rss: RssSample[];
}

const fmt = (v: number, digits = 1): string => (Number.isFinite(v) ? v.toFixed(digits) : 'n/a');

/** The rate in calibration units: predictions per node-seal rotation time (the benchmark's "/rot"). */
function perRotation(run: LoadRun): string {
  const c = run.calibration;
  return `${((run.results.throughputPerS * c.rotateMs) / 1000).toFixed(3)} /rot (one rotation at ${c.model}'s top level ${c.rotateMs.toFixed(2)} ms: ${c.start.rotateMs.toFixed(2)} before the load, ${c.end.rotateMs.toFixed(2)} after)`;
}
const mib = (bytes: number): string => `${(bytes / MiB).toFixed(1)} MiB`;

export function summaryLines(run: LoadRun): string[] {
  const r = run.results;
  const rssFirst = run.rss[0];
  const rssLast = run.rss[run.rss.length - 1];
  const rssMax = run.rss.reduce((a, s) => Math.max(a, s.serviceBytes), 0);
  return [
    `load test: ${run.settings.clients} clients, ${run.settings.seconds} s, ${run.settings.model}, ${run.settings.workers} workers, queue ${run.settings.maxQueue}`,
    `  predictions ok ${r.ok}, errors ${r.errors} (wrong answers ${r.wrong})${r.errors ? ` ${JSON.stringify(r.errorKinds)}` : ''}`,
    `  503s retried ${r.retried503} (service counted ${r.server503 ?? 'n/a'}), network errors retried ${r.retriedNetwork}, key re-uploads ${r.reuploads}; predictions needing a retry ${r.predictionsRetried}`,
    `  throughput ${fmt(r.throughputPerS, 2)} predictions/s over ${fmt(r.durationS)} s = ${perRotation(run)}`,
    `  end to end ms: p50 ${fmt(r.endToEndMs.p50)}, p90 ${fmt(r.endToEndMs.p90)}, p99 ${fmt(r.endToEndMs.p99)}, max ${fmt(r.endToEndMs.max)}; round trip p50 ${fmt(r.roundTripMs.p50)}, p99 ${fmt(r.roundTripMs.p99)}`,
    `  max |decrypted - reference| ${r.maxAbsError.toExponential(2)} (tolerance ${r.tolerance})`,
    `  service RSS: ${rssFirst ? mib(rssFirst.serviceBytes) : 'n/a'} at start, ${rssLast ? mib(rssLast.serviceBytes) : 'n/a'} at end, ${mib(rssMax)} max (${run.rss.length} samples)`,
    `  other processes kept ${fmt(run.otherCores, 2)} of ${run.machine.cpus} cores busy on average`,
  ];
}

/** At most `max` evenly spaced samples, always with the first and the last. */
function thin(samples: readonly RssSample[], max: number): RssSample[] {
  if (samples.length <= max) return [...samples];
  const step = (samples.length - 1) / (max - 1);
  return Array.from({ length: max }, (_, i) => samples[Math.round(i * step)]!);
}

export function docSection(run: LoadRun): string {
  const r = run.results;
  const m = run.machine;
  const rssMax = run.rss.reduce((a, s) => Math.max(a, s.serviceBytes), 0);
  const first = run.rss[0];
  const last = run.rss[run.rss.length - 1];
  const growth = first && last ? `${(((last.serviceBytes - first.serviceBytes) / first.serviceBytes) * 100).toFixed(1)}%` : 'n/a';
  // After warm-up: from the first sample 5 s or more into the load (every worker has loaded the keys by then).
  const warm = run.rss.find((r) => r.t >= 4.5);
  const warmGrowth = warm && last && warm !== last ? `${mib(warm.serviceBytes)} → ${mib(last.serviceBytes)}, ${(((last.serviceBytes - warm.serviceBytes) / warm.serviceBytes) * 100).toFixed(1)}%` : 'n/a';
  const errors = r.errors === 0 ? '0' : `${r.errors} (${Object.entries(r.errorKinds).map(([k, v]) => `${k}: ${v}`).join(', ')})`;
  const lines = [
    `<!-- loadtest-run: ${run.command} -->`,
    `### \`${run.command}\``,
    '',
    `- Date: ${run.date}; ${fmt(r.durationS)} s of load (clients stop starting requests after ${run.settings.seconds} s; a hard stop would cut requests at ${run.settings.hardStopS} s).`,
    `- Machine: ${m.cpus} CPUs (${m.cpu_model}), ${(m.total_memory_bytes / MiB).toFixed(0)} MiB RAM, ${m.platform}/${m.arch}, Node ${m.node}; load average ${m.load_average_start.join(' / ')} at start, ${m.load_average_end.join(' / ')} at end. Shared with other engineers' jobs: other processes kept ${fmt(run.otherCores, 2)} of the ${m.cpus} cores busy on average during the load${run.otherCores >= 0.2 ? ', so the times are slower and noisier than on an idle machine' : ''}.`,
    `- Service: its own process (\`launchBundledService\`), ${run.settings.workers} workers, queue limit ${run.settings.maxQueue}; started in ${fmt(run.setup.serviceStartMs, 0)} ms. Clients: ${run.settings.clients} in one process, each with its own key pair (${fmt(run.setup.keygenMs, 0)} ms to make all of them; ${(run.setup.keyEnvelopeBytes / 1e6).toFixed(1)} MB of evaluation keys each, all uploaded in ${fmt(run.setup.sessionsMs, 0)} ms), model ${run.settings.model}.`,
    '',
    '| figure | value |',
    '| --- | ---: |',
    `| predictions completed and correct | ${r.ok} |`,
    `| errors (wrong answers among them) | ${errors} (${r.wrong}) |`,
    `| throughput | ${fmt(r.throughputPerS, 2)} predictions/s = ${perRotation(run)} |`,
    `| end to end p50 / p90 / p99 / max | ${fmt(r.endToEndMs.p50)} / ${fmt(r.endToEndMs.p90)} / ${fmt(r.endToEndMs.p99)} / ${fmt(r.endToEndMs.max)} ms |`,
    `| HTTP round trip p50 / p99 (successful attempt) | ${fmt(r.roundTripMs.p50)} / ${fmt(r.roundTripMs.p99)} ms |`,
    `| 503 answers, each retried to success | ${r.retried503} (service's own count: ${r.server503 ?? 'n/a'}) |`,
    `| network errors retried / key re-uploads | ${r.retriedNetwork} / ${r.reuploads} |`,
    `| predictions that needed a retry | ${r.predictionsRetried} |`,
    `| completed per client, min / max | ${r.perClient.min} / ${r.perClient.max} |`,
    `| largest \\|decrypted − reference\\| (tolerance) | ${r.maxAbsError.toExponential(2)} (${r.tolerance}) |`,
    `| service RSS start → end (max) | ${first ? mib(first.serviceBytes) : 'n/a'} → ${last ? mib(last.serviceBytes) : 'n/a'} (${mib(rssMax)}), ${growth} |`,
    `| service RSS after warm-up (5 s → end) | ${warmGrowth} |`,
    '',
    `Service RSS over time (VmRSS of the service process every 5 s; ${run.rss.length} samples, ${Math.min(run.rss.length, 13)} shown):`,
    '',
    '| t (s) | service RSS | client process RSS |',
    '| ---: | ---: | ---: |',
    ...thin(run.rss, 13).map((s) => `| ${s.t.toFixed(0)} | ${mib(s.serviceBytes)} | ${mib(s.clientBytes)} |`),
    '',
    '<!-- /loadtest-run -->',
  ];
  return lines.join('\n');
}

const BEGIN = '<!-- loadtest:runs:begin -->';
const END = '<!-- loadtest:runs:end -->';

/**
 * Puts the run's section into docs/reliability.md between the run markers: it replaces the section
 * of an earlier run of the same command in place, otherwise it goes first. The rest of the file is kept.
 */
export function writeDocs(file: string, run: LoadRun): void {
  let doc = existsSync(file) ? readFileSync(file, 'utf8') : '# Reliability\n';
  if (!doc.includes(BEGIN) || !doc.includes(END)) doc = `${doc.trimEnd()}\n\n## Load runs\n\n${BEGIN}\n${END}\n`;
  const start = doc.indexOf(BEGIN) + BEGIN.length;
  const end = doc.indexOf(END);
  const body = doc.slice(start, end);
  const sections = body.split(/(?=<!-- loadtest-run: )/).map((s) => s.trim()).filter((s) => s.startsWith('<!-- loadtest-run: '));
  const marker = `<!-- loadtest-run: ${run.command} -->`;
  const at = sections.findIndex((s) => s.startsWith(marker));
  if (at >= 0) sections[at] = docSection(run);
  else sections.unshift(docSection(run));
  const next = sections.join('\n\n');
  writeFileSync(file, `${doc.slice(0, start)}\n${next}\n${doc.slice(end)}`);
}
