// The cost of the known-answer checks (main/flow/checks.ts): the real PredictionFlow against the
// service, each model's single prediction with checks off and on (mnist-cnn: 1 and 3 separate
// check requests), and the client-side cost of the checks of one batch request. End to end here
// is `flow.predict` without validation and the history write (as the single-mode table: encrypt,
// round trip, decrypt; plus laying out and checking the checks), medians after one warm-up and
// after session setup; mnist-cnn gets at most 5 runs.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { answerPrecision, loadSeal } from '../../he-core/index.js';
import type { CatalogModel, ModelFile } from '../../he-core/index.js';
import { ClientModels, drawKnownAnswer, replicaChecks } from '../../main/flow/checks.js';
import { ClientKeyring } from '../../main/flow/client-keys.js';
import { BATCH_MAX_CHECKS, BATCH_MIN_CHECKS, PredictionFlow } from '../../main/flow/prediction-flow.js';
import { ProviderClient } from '../../main/provider/provider-client.js';
import { SCRYPT_FLOOR, Vault } from '../../main/vault/index.js';
import type { Endpoint } from './client.js';
import { median, round } from './stats.js';

export interface ChecksRow {
  model: string;
  mode: string;
  placement: string;
  checks: number;
  offMs: number;
  onMs: number;
  offBytes: number;
  onBytes: number;
  /** Client-side time to lay out the checks and compute their answers (median, ms). */
  prepareMs: number;
}

function timed<T>(fn: () => T): number {
  const t = performance.now();
  fn();
  return performance.now() - t;
}

export async function benchChecks(endpoint: Endpoint, models: readonly ModelFile[], entries: readonly CatalogModel[], runs: number, log: (line: string) => void): Promise<ChecksRow[]> {
  const dir = mkdtempSync(join(tmpdir(), 'ciphercare-bench-checks-'));
  const vault = await Vault.create(dir, 'bench checks passphrase', { kdf: SCRYPT_FLOOR });
  const keyring = new ClientKeyring(vault);
  const own = new ClientModels();
  const { seal } = await loadSeal();
  const rows: ChecksRow[] = [];
  try {
    // selfLaunched: checks default off; `canary: true` turns them on, as for any other provider.
    const flow = new PredictionFlow(vault, keyring, new ProviderClient({ kind: 'bundled', url: endpoint.url, credential: endpoint.token }), 'bench', { selfLaunched: true });
    for (const model of models) {
      const entry = entries.find((e) => e.id === model.id)!;
      const sample = model.testVectors[0]!.input;
      const variants: { label: string; options: { canary: boolean; checks?: number } }[] = entry.plans.single.input.kind === 'vector' ? [{ label: 'single', options: { canary: true } }] : [1, 3].map((c) => ({ label: `single, ${c} check request${c > 1 ? 's' : ''}`, options: { canary: true, checks: c } }));
      // Off and on alternate run by run, so that a busy machine weighs on both alike.
      const all: { label: string; options: { canary: boolean; checks?: number } }[] = [{ label: 'off', options: { canary: false } }, ...variants];
      const ms = all.map(() => [] as number[]);
      const last = all.map(() => ({ bytes: 0, checks: 0, placement: 'none' }));
      const n = model.id === 'mnist-cnn' ? Math.min(runs, 5) : runs;
      log(`${model.id} single: checks off and on alternately, ${n} runs each after a warm-up`);
      for (let i = 0; i <= n; i++) {
        for (const [v, variant] of all.entries()) {
          const t = performance.now();
          const r = await flow.predict(model.id, sample, variant.options);
          if (i > 0) ms[v]!.push(performance.now() - t - (r.timings.validate ?? 0) - (r.timings.store ?? 0));
          last[v] = { bytes: r.bytes.up + r.bytes.down, checks: r.checks?.count ?? 0, placement: r.checks?.placement ?? 'none' };
        }
      }
      const off = { ms: round(median(ms[0]!)), bytes: last[0]!.bytes };
      for (const [i, v] of variants.entries()) {
        const on = { ms: round(median(ms[i + 1]!)), ...last[i + 1]! };
        const file = own.weights(model.id, model.version)!;
        const plan = own.plan(seal, file, 'single');
        const prepare = median(
          Array.from({ length: 20 }, () =>
            on.placement === 'replicas' ? timed(() => replicaChecks(plan, file, answerPrecision(file), sample)) : timed(() => Array.from({ length: on.checks }, () => drawKnownAnswer({ kind: 'fresh', file, precision: answerPrecision(file) }, entry.plans.single))),
          ),
        );
        rows.push({ model: model.id, mode: v.label, placement: on.placement, checks: on.checks, offMs: off.ms, onMs: on.ms, offBytes: off.bytes, onBytes: on.bytes, prepareMs: round(prepare) });
      }
      // Batch: the checks fill free slots of the requests already sent (no extra bytes unless a
      // batch fills every slot); their cost is on the client: drawing them and their answers.
      const batchPlan = entry.plans.batch;
      const count = Math.max(BATCH_MIN_CHECKS, Math.min(BATCH_MAX_CHECKS, batchPlan.samplesPerRequest - 1));
      const file = own.weights(model.id, model.version)!;
      const prepare = median(Array.from({ length: 5 }, () => timed(() => Array.from({ length: count }, () => drawKnownAnswer({ kind: 'fresh', file, precision: answerPrecision(file) }, batchPlan)))));
      rows.push({ model: model.id, mode: 'batch (per request)', placement: 'slots', checks: count, offMs: Number.NaN, onMs: Number.NaN, offBytes: Number.NaN, onBytes: Number.NaN, prepareMs: round(prepare) });
    }
  } finally {
    keyring.dispose();
    vault.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

const kb = (b: number): string => (Number.isNaN(b) ? '—' : `${(b / 1000).toFixed(1)} kB`);
const msText = (v: number): string => (Number.isNaN(v) ? '—' : `${v} ms`);

export function checksTable(rows: readonly ChecksRow[]): { headers: string[]; rows: string[][] } {
  return {
    headers: ['model', 'mode', 'checks', 'off: end to end', 'on: end to end', 'off: bytes', 'on: bytes', 'check preparation'],
    rows: rows.map((r) => [
      r.model,
      r.mode,
      `${r.checks} ${r.placement === 'replicas' ? 'in replicas' : r.placement === 'slots' ? 'in slots' : r.checks === 1 ? 'request' : 'requests'}`,
      msText(r.offMs),
      msText(r.onMs),
      kb(r.offBytes),
      kb(r.onBytes),
      `${r.prepareMs} ms`,
    ]),
  };
}

export function markdownTable(t: { headers: string[]; rows: string[][] }): string {
  const line = (cells: string[]): string => `| ${cells.join(' | ')} |`;
  return [line(t.headers), `|${t.headers.map((_, i) => (i < 3 ? ' --- ' : ' ---: ')).join('|')}|`, ...t.rows.map(line)].join('\n');
}

const START = '<!-- checks:start -->';
const END = '<!-- checks:end -->';

/** Writes (or replaces) the checks section of docs/benchmarks.md. */
export function writeChecksSection(file: string, table: string, command: string): void {
  const section = [
    START,
    '## Known-answer checks',
    '',
    `Generated by \`${command}\` on ${new Date().toISOString()}. The real flow (\`PredictionFlow\`) against the service on 127.0.0.1, one held-out sample; end to end = \`flow.predict\` without input validation and the history write (encrypt, round trip, decrypt, as in the single-mode table, plus laying out and checking the checks), medians after a warm-up and after session setup (mnist-cnn: at most 5 runs). Bytes = request + answer. Check preparation = laying out the checks and computing their answers with the plaintext reference (included in "on"). Batch: the checks take free slots of requests sent anyway (no extra bytes unless every slot of a request is used; then ${BATCH_MIN_CHECKS} slots per request go to checks). What the checks detect: docs/SECURITY.md, "A dishonest provider".`,
    '',
    table,
    END,
  ].join('\n');
  const doc = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmarks\n';
  const at = doc.indexOf(START);
  const end = doc.indexOf(END);
  const next = at >= 0 && end > at ? doc.slice(0, at) + section + doc.slice(end + END.length) : `${doc.trimEnd()}\n\n${section}\n`;
  writeFileSync(file, next);
}
