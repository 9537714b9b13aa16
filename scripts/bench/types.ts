import type { Ceiling } from './ceiling.js';
import type { KeyMemoryResult } from './memory.js';
import type { Calibration } from './calibration.js';
import type { LeverResult } from './levers.js';

/** The JSON shape of issue 6, and the extra detail the table and docs/benchmarks.md show. */

export interface Machine {
  cpus: number;
  node: string;
  platform: string;
  arch: string;
  cpu_model: string;
  total_memory_bytes: number;
  /** os.loadavg() when the run started and ended: the machine is shared. */
  load_average_start: number[];
  load_average_end: number[];
}

export interface SingleResult {
  model: string;
  mode: 'single';
  keygen_ms: number;
  eval_key_bytes: number;
  up_bytes: number;
  down_bytes: number;
  encrypt_ms: number;
  evaluate_ms: number;
  decrypt_ms: number;
  end_to_end_ms: number;
  plaintext_ms: number;
  agree: boolean;
}

export interface BatchResult {
  model: string;
  mode: 'batch';
  batch: number;
  items_per_s: number;
  agree: boolean;
}

export interface Scaling {
  workers_1_per_s: number;
  workers_2_per_s: number;
}

export interface Memory {
  /** Resident set of the service process (VmRSS), bytes. */
  rss_after_100: number;
  rss_after_1000: number;
}

export interface BenchJson {
  machine: Machine;
  results: (SingleResult | BatchResult)[];
  scaling: Scaling;
  memory: Memory;
  /** One node-seal rotation and one multiply_plain at mnist-cnn's top level, ms (this run's medians). */
  calibration: { rotate_ms: number; multiply_plain_ms: number };
}

/** Medians and counts behind one single-mode row. */
export interface SingleDetail {
  runs: number;
  roundTripMs: number;
  /** Round trip minus server evaluation: HTTP, body copies, envelope checks, queueing. */
  transferMs: number;
  uploadMs: number;
  agreement: string;
  /** Mean cores other processes kept busy during the counted runs. */
  otherCores: number;
}

export interface BatchDetail {
  runs: number;
  /** True when the first run was counted (a slow batch has no separate warm-up run). */
  noWarmup: boolean;
  runSeconds: number[];
  encryptMs: number;
  roundTripMs: number;
  evaluateMs: number;
  decryptMs: number;
  endToEndMs: number;
  upBytes: number;
  downBytes: number;
  keyBytes: number;
  plaintextItemsPerS: number;
  agreement: string;
  otherCores: number;
}

export interface ScalingDetail {
  model: string;
  clients: number;
  predictions: number;
  seconds1: number;
  seconds2: number;
  /** Mean server evaluation time per prediction at 1 and at 2 workers. */
  evaluateMs1: number;
  evaluateMs2: number;
  otherCores1: number;
  otherCores2: number;
  /** Each round's throughput, in the order run (1, 2, 2, 1 workers). */
  rounds: { workers: 1 | 2; perS: number }[];
  /** The machine's own ratio for two busy threads of node-seal work against one (ceiling.ts). */
  ceiling: Ceiling;
}

export interface MemoryDetail {
  model: string;
  rssAfterSession: number;
  concurrency: number;
  otherCores: number;
  /** Issue 15: the service's RSS against its key cache's accounted bytes (benchKeyMemory), at the default cache size. */
  keys: KeyMemoryResult;
}

export interface BenchRun {
  json: BenchJson;
  single: Map<string, SingleDetail>;
  batch: Map<string, BatchDetail>;
  scaling: ScalingDetail;
  memory: MemoryDetail;
  calibration: Calibration;
  /** Levers measured before and after in this run (levers.ts). */
  levers: LeverResult[];
  command: string;
  date: string;
  quick: boolean;
  workers: number;
  durationS: number;
}
