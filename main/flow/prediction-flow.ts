import { EnvelopeKind, HeError, checkInput, encodeEnvelope, formatBound, loadSeal, postprocess, roundTo } from '../../he-core/index.js';
import type { CatalogModel, ModelFile, PlanMode, PublicPlan } from '../../he-core/index.js';
import { ProviderError } from '../provider/errors.js';
import type { ProviderClient, TransferProgress } from '../provider/provider-client.js';
import type { Vault } from '../vault/index.js';
import type { ClientKeyring } from './client-keys.js';
import { FlowError } from './errors.js';
import { checkCatalog } from './trust.js';
import { ClientModels, checkSource, drawKnownAnswer, hasSpareReplicas, matches, readReplicaChecks, replicaChecks, sameLayout, shuffle } from './checks.js';
import type { CheckSource, KnownAnswer, ReplicaChecks } from './checks.js';
import { decryptBatchAnswer, decryptResult, decryptSlots, encryptRequestPartsParallel, encryptVectors } from './he-client.js';
import type { BatchAnswer, ClientKeyPair } from './he-client.js';
import type { FlowErrorCode } from './errors.js';

export type Stage = 'validate' | 'keys' | 'upload' | 'encrypt' | 'evaluate' | 'decrypt' | 'store';

export interface StageEvent {
  stage: Stage;
  state: 'start' | 'done' | 'progress';
  ms?: number;
  transfer?: TransferProgress;
}

export interface PredictOptions {
  signal?: AbortSignal;
  onStage?: (event: StageEvent) => void;
  /**
   * Known-answer checks (docs/SECURITY.md, "A dishonest provider"). Default: on, unless the
   * provider is the service this app itself launched (`FlowOptions.selfLaunched`).
   */
  canary?: boolean;
  /**
   * Separate check requests sent with a single prediction whose layout has no room for checks
   * inside the ciphertext (mnist-cnn single). Default: the vault setting `checks.requests`, else 1.
   */
  checks?: number;
}

/** The vault setting that holds the default number of separate check requests. */
export const SETTING_CHECK_REQUESTS = 'checks.requests';
export const DEFAULT_CHECK_REQUESTS = 1;
export const MAX_CHECK_REQUESTS = 16;
/** Checks in every batch request: at least this many; the free slots up to BATCH_MAX_CHECKS. */
export const BATCH_MIN_CHECKS = 16;
export const BATCH_MAX_CHECKS = 512;

export interface FlowOptions {
  /** True only when the provider is the service this app launched itself (checks then default off). */
  selfLaunched?: boolean;
  /** The app's own model files (the weights behind fresh checks); tests may point elsewhere. */
  clientModels?: ClientModels;
}

/** How a prediction was checked: where the known answers came from and where they travelled. */
export interface CheckReport {
  source: 'fresh' | 'card';
  /** `replicas`: inside the real ciphertext's replicas; `slots`: batch slots; `requests`: separate requests. */
  placement: 'replicas' | 'slots' | 'requests';
  /** Check samples (replicas: check blocks; slots: check slots per request; requests: check requests). */
  count: number;
}

/** Raw input: values in schema order, or by feature name. */
export type RawInput = readonly number[] | Readonly<Record<string, number>>;

export interface ShownResult {
  /** Post-processed values rounded to the model's declared precision. */
  values: number[];
  classIndex?: number;
  label?: string;
  /**
   * Set when a regression result lies outside the range of targets the model saw in training
   * (its card's `output.trainingRange`): shown, with a warning that the model was never fitted there.
   */
  outsideTraining?: TrainingRange;
}

/** The range of results a model saw in training, in its output unit. */
export interface TrainingRange {
  low: number;
  high: number;
  unit?: string;
}

export interface PredictionResult extends ShownResult {
  modelId: string;
  modelVersion: string;
  provider: string;
  timings: Partial<Record<Stage, number>>;
  bytes: { keys: number; up: number; down: number };
  canary: 'passed' | 'off' | 'unavailable';
  checks?: CheckReport;
  historyId: number;
}

export interface BatchRowResult extends Partial<ShownResult> {
  row: number;
  ok: boolean;
  /** Why the row was not scored: `input_invalid`, `input_out_of_range`, `result_out_of_range`. */
  code?: FlowErrorCode;
  error?: string;
  field?: string;
}

export interface BatchOptions extends PredictOptions {
  /** The number each row has for the person (a CSV's data row, 1 = the first); default: index + 1. */
  rowNumbers?: readonly number[];
}

export interface BatchResult {
  modelId: string;
  rows: BatchRowResult[];
  timings: Partial<Record<Stage, number>>;
  canary: 'passed' | 'off' | 'unavailable';
  checks?: CheckReport;
  historyId: number;
}

/** A request sent and its answer, not yet decrypted. */
interface Exchange {
  plan: PublicPlan;
  pair: ClientKeyPair;
  samples: number;
  response: Uint8Array;
  up: number;
  down: number;
  keyBytes: number;
}

/**
 * The whole prediction, client side: validate, keys (vault), session (upload once), encrypt,
 * evaluate at the provider, check and decrypt, post-process, round, store in the encrypted
 * history. Works from the catalog's public plan only; never needs a model's weights.
 */
export class PredictionFlow {
  private catalog: CatalogModel[] | null = null;
  private readonly sessions = new Map<string, string>();
  private readonly clientModels: ClientModels;

  constructor(
    private readonly vault: Vault,
    private readonly keyring: ClientKeyring,
    private readonly provider: ProviderClient,
    /** How history names the provider (e.g. "bundled" or the remote URL). */
    private readonly providerLabel: string,
    private readonly flowOptions: FlowOptions = {},
  ) {
    this.clientModels = flowOptions.clientModels ?? new ClientModels();
  }

  async models(signal?: AbortSignal): Promise<CatalogModel[]> {
    // Signed cards verified, publishers trusted or pinned; known answers only from such cards (trust.ts).
    this.catalog ??= checkCatalog(await this.provider.catalog(signal ? { signal } : {}), { vault: this.vault, providerUrl: this.provider.config.url });
    return this.catalog;
  }

  async model(modelId: string): Promise<CatalogModel> {
    const model = (await this.models()).find((m) => m.id === modelId);
    if (!model) throw new FlowError('model_not_found', `the provider has no model "${modelId}"`);
    return model;
  }

  /** Turns a named or ordered input into schema order, with a clear error naming what is wrong. */
  toVector(model: CatalogModel, input: RawInput): number[] {
    let values: number[];
    if (Array.isArray(input)) values = [...(input as readonly number[])];
    else {
      if (model.input.kind !== 'features') throw new FlowError('input_invalid', `${model.id} takes an image: pass the pixel values as an array`);
      const named = input as Readonly<Record<string, number>>;
      const known = new Set(model.input.features.map((f) => f.name));
      const unknown = Object.keys(named).filter((k) => !known.has(k));
      if (unknown.length > 0) throw new FlowError('input_invalid', `unknown field ${unknown[0]} for ${model.id}`, unknown[0]);
      values = model.input.features.map((f) => {
        const v = named[f.name];
        if (v === undefined) throw new FlowError('input_invalid', `${f.label} (${f.name}) is missing; enter a value in ${f.unit} from ${f.min} to ${f.max}`, f.name);
        return v;
      });
    }
    try {
      checkInput(model.plans.single.model, values);
    } catch (err) {
      if (err instanceof HeError) {
        const field = typeof err.details?.field === 'string' ? err.details.field : undefined;
        throw new FlowError(err.code === 'input_out_of_range' ? 'input_out_of_range' : 'input_invalid', err.message, field);
      }
      throw err;
    }
    return values;
  }

  shown(model: CatalogModel, output: ArrayLike<number>): ShownResult {
    const p = postprocess(model.plans.single.model.postprocess, output);
    const values = p.values.map((v) => roundTo(v, model.output.precision));
    const out: ShownResult = { values };
    const range = model.task === 'regression' ? model.output.trainingRange : undefined;
    if (range && (values[0]! < range[0] || values[0]! > range[1])) {
      out.outsideTraining = { low: range[0], high: range[1], ...(model.output.unit ? { unit: model.output.unit } : {}) };
    }
    if (p.classIndex !== undefined) {
      out.classIndex = p.classIndex;
      out.label = model.task === 'binary-classification' ? (p.classIndex === 1 ? model.output.labels[0] : (model.output.negativeLabel ?? `not ${model.output.labels[0]}`)) : model.output.labels[p.classIndex];
    }
    return out;
  }

  private async session(model: CatalogModel, mode: PlanMode, timings: Partial<Record<Stage, number>>, options: PredictOptions, force = false): Promise<{ id: string; keyBytes: number }> {
    const plan = model.plans[mode];
    const emit = options.onStage;
    emit?.({ stage: 'keys', state: 'start' });
    let started = performance.now();
    const keys = await this.keyring.evaluationKeys(plan);
    timings.keys = (timings.keys ?? 0) + (performance.now() - started);
    emit?.({ stage: 'keys', state: 'done', ms: timings.keys });
    const id = `${model.id}|${mode}|${plan.params.fingerprint}|${keys.version}`;
    const known = this.sessions.get(id);
    if (known && !force) return { id: known, keyBytes: 0 };
    emit?.({ stage: 'upload', state: 'start' });
    started = performance.now();
    const session = await this.provider.createSession(model.id, mode, keys.envelope, {
      ...(options.signal ? { signal: options.signal } : {}),
      onProgress: (transfer) => emit?.({ stage: 'upload', state: 'progress', transfer }),
    });
    timings.upload = (timings.upload ?? 0) + (performance.now() - started);
    emit?.({ stage: 'upload', state: 'done', ms: timings.upload });
    this.sessions.set(id, session.sessionId);
    return { id: session.sessionId, keyBytes: keys.envelope.byteLength };
  }

  /**
   * One encrypted request: encrypt and evaluate (re-uploading keys once if the provider forgot
   * them). Nothing is decrypted here: a flow sends all its requests first (`open` comes after), so
   * that what goes on the network never depends on a decrypted value (a provider that tampers
   * with one answer must not learn from the client's next request whether the answer passed a check).
   */
  private async send(model: CatalogModel, mode: PlanMode, samples: number[][] | { vector: Float64Array }, timings: Partial<Record<Stage, number>>, options: PredictOptions): Promise<Exchange> {
    const plan: PublicPlan = model.plans[mode];
    const emit = options.onStage;
    let { id, keyBytes } = await this.session(model, mode, timings, options);
    const { pair } = await this.keyring.pairFor(plan.params);
    this.checkCancelled(options);
    emit?.({ stage: 'encrypt', state: 'start' });
    let started = performance.now();
    // A laid-out slot vector (the real sample with checks in its replicas) or samples to lay out.
    // Requests of many ciphertexts (mnist-cnn's batch) are encrypted on both cores.
    // Sent as envelope parts: a batch request's items are never joined into one buffer.
    const request = Array.isArray(samples) ? await encryptRequestPartsParallel(pair, plan, samples) : encodeEnvelope({ kind: EnvelopeKind.ciphertexts, fingerprint: plan.params.fingerprint, items: encryptVectors(pair, plan, [samples.vector]) });
    timings.encrypt = (timings.encrypt ?? 0) + (performance.now() - started);
    emit?.({ stage: 'encrypt', state: 'done', ms: timings.encrypt });
    emit?.({ stage: 'evaluate', state: 'start' });
    started = performance.now();
    const requestOptions = { ...(options.signal ? { signal: options.signal } : {}), onProgress: (transfer: TransferProgress) => emit?.({ stage: 'evaluate', state: 'progress', transfer }) };
    let response: Uint8Array;
    try {
      response = await this.provider.predict(id, request, requestOptions);
    } catch (err) {
      if (!(err instanceof ProviderError) || err.code !== 'session_not_found') throw err;
      // The provider restarted, expired or evicted our keys: upload them again and retry once.
      ({ id, keyBytes } = await this.session(model, mode, timings, options, true));
      response = await this.provider.predict(id, request, requestOptions);
    }
    timings.evaluate = (timings.evaluate ?? 0) + (performance.now() - started);
    emit?.({ stage: 'evaluate', state: 'done', ms: timings.evaluate });
    return { plan, pair, samples: Array.isArray(samples) ? samples.length : 1, response, up: request.byteLength, down: response.byteLength, keyBytes };
  }

  /** Checks and decrypts an answer of `send`: its outputs, or (`slots`) every decrypted slot. */
  private open(exchange: Exchange, timings: Partial<Record<Stage, number>>, options: PredictOptions, slots = false): Float64Array[] {
    const emit = options.onStage;
    emit?.({ stage: 'decrypt', state: 'start' });
    const started = performance.now();
    let outputs: Float64Array[];
    try {
      outputs = slots ? decryptSlots(exchange.pair, exchange.plan, exchange.response) : decryptResult(exchange.pair, exchange.plan, exchange.response, exchange.samples);
    } catch (err) {
      if (err instanceof HeError && err.code === 'result_out_of_range') {
        const bound = formatBound(exchange.plan.output.packing.bound);
        throw new FlowError(
          'result_out_of_range',
          `The model cannot give an answer for this input: the decrypted answer holds a value beyond ±${bound}, the range this model's answers are checked against, so it was not shown and nothing was stored. Either the input is unlike anything the model was calibrated on (check its values), or the provider altered the answer (if the input is ordinary, try another provider)`,
        );
      }
      if (err instanceof HeError) {
        throw new FlowError('provider_wrong_result', `the provider returned something that is not this model's answer (${err.message}); nothing was decrypted`);
      }
      throw err;
    }
    timings.decrypt = (timings.decrypt ?? 0) + (performance.now() - started);
    emit?.({ stage: 'decrypt', state: 'done', ms: timings.decrypt });
    return outputs;
  }

  /** Checks and decrypts a batch answer of `send`, with a range verdict per slot (decryptBatchAnswer). */
  private openBatch(exchange: Exchange, timings: Partial<Record<Stage, number>>, options: PredictOptions): BatchAnswer {
    const emit = options.onStage;
    emit?.({ stage: 'decrypt', state: 'start' });
    const started = performance.now();
    let answer: BatchAnswer;
    try {
      answer = decryptBatchAnswer(exchange.pair, exchange.plan, exchange.response);
    } catch (err) {
      if (err instanceof HeError) {
        throw new FlowError('provider_wrong_result', `the provider returned something that is not this model's answer (${err.message}); nothing was decrypted`);
      }
      throw err;
    }
    timings.decrypt = (timings.decrypt ?? 0) + (performance.now() - started);
    emit?.({ stage: 'decrypt', state: 'done', ms: timings.decrypt });
    return answer;
  }

  private checkCancelled(options: PredictOptions): void {
    if (options.signal?.aborted) throw new FlowError('cancelled', 'the prediction was cancelled');
  }

  /** The checks this prediction carries: none (off), none possible (unavailable), or their source. */
  private checksFor(model: CatalogModel, options: PredictOptions): { state: 'off' | 'unavailable' } | { state: 'on'; source: CheckSource; own: ModelFile | null } {
    const wanted = options.canary ?? this.flowOptions.selfLaunched !== true;
    if (!wanted) return { state: 'off' };
    const own = this.clientModels.weights(model.id, model.version);
    const source = checkSource(model, own);
    return source ? { state: 'on', source, own } : { state: 'unavailable' };
  }

  /** Separate check requests for a single prediction: the option, the vault's setting, or 1. */
  private checkRequests(options: PredictOptions): number {
    const stored = Number(this.vault.getSetting(SETTING_CHECK_REQUESTS));
    const n = options.checks ?? (Number.isInteger(stored) && stored >= 1 ? stored : DEFAULT_CHECK_REQUESTS);
    if (!Number.isInteger(n) || n < 1 || n > MAX_CHECK_REQUESTS) throw new FlowError('input_invalid', `the number of check requests is a whole number from 1 to ${MAX_CHECK_REQUESTS}; got ${n}`);
    return n;
  }

  /** A refused prediction: what was checked, what failed, what to do next. */
  private checkFailed(model: CatalogModel, checked: string, why: string): FlowError {
    return new FlowError(
      'provider_check_failed',
      `the provider's answer was refused: ${checked} for ${model.id}, and ${why}. The provider did not compute ${model.title || model.id} on your data (a tampered model, or a replayed or swapped answer); the result was not shown and nothing was stored. Use another provider, and report this one to whoever runs it`,
    );
  }

  /** One prediction for one patient (or image), end to end. */
  async predict(modelId: string, input: RawInput, options: PredictOptions = {}): Promise<PredictionResult> {
    const timings: Partial<Record<Stage, number>> = {};
    const emit = options.onStage;
    const model = await this.model(modelId);
    emit?.({ stage: 'validate', state: 'start' });
    let started = performance.now();
    const values = this.toVector(model, input);
    timings.validate = performance.now() - started;
    emit?.({ stage: 'validate', state: 'done', ms: timings.validate });

    const checks = this.checksFor(model, options);
    const plan = model.plans.single;
    let real: Float64Array | undefined;
    let report: CheckReport | undefined;
    const sent: Exchange[] = [];
    // Checks inside the ciphertext where the layout has replicas and the client has the weights.
    let replicas: ReplicaChecks | null = null;
    if (checks.state === 'on' && checks.source.kind === 'fresh' && hasSpareReplicas(plan)) {
      const own = this.clientModels.plan((await loadSeal()).seal, checks.source.file, 'single');
      if (sameLayout(own.public, plan)) replicas = replicaChecks(own, checks.source.file, checks.source.precision, values);
    }
    if (replicas) {
      this.checkCancelled(options);
      const exchange = await this.send(model, 'single', { vector: replicas.vector }, timings, options);
      sent.push(exchange);
      const [slots] = this.open(exchange, timings, options, true);
      const read = readReplicaChecks(replicas, slots!);
      if (!read.ok) throw this.checkFailed(model, `${replicas.checkBlocks.length} fresh check samples were hidden among the copies of your input in the same ciphertext`, read.why);
      real = read.output;
      report = { source: 'fresh', placement: 'replicas', count: replicas.checkBlocks.length };
    } else {
      // Separate check requests of the same shape, sent in random order with the real one (the
      // provider sees fresh ciphertexts and cannot tell which is which), all before any answer
      // is decrypted.
      const known: (KnownAnswer | null)[] = [null];
      if (checks.state === 'on') for (let c = this.checkRequests(options); c > 0; c--) known.push(drawKnownAnswer(checks.source, plan));
      const order = shuffle(known);
      // All at once (the session first, so that they share it): the provider holds every request
      // of the prediction before it answers any, and the requests never wait on one another.
      if (order.length > 1) await this.session(model, 'single', timings, options);
      this.checkCancelled(options);
      const exchanges = await Promise.all(order.map((k) => this.send(model, 'single', [k ? k.input : values], timings, options)));
      const answers = order.map((k, i) => ({ k, exchange: exchanges[i]! }));
      sent.push(...exchanges);
      let failed = false;
      for (const { k, exchange } of answers) {
        const [out] = this.open(exchange, timings, options);
        if (!k) real = out;
        else if (!matches(out!, k)) failed = true;
      }
      if (failed) throw this.checkFailed(model, `${known.length - 1} check request${known.length > 2 ? 's' : ''} with ${checks.state === 'on' && checks.source.kind === 'fresh' ? 'fresh inputs whose answers this app computed itself' : "the card's known answers"} went with yours in random order`, 'a check answer did not match its known answer');
      if (checks.state === 'on') report = { source: checks.source.kind, placement: 'requests', count: known.length - 1 };
    }
    const up = sent.reduce((a, x) => a + x.up, 0);
    const down = sent.reduce((a, x) => a + x.down, 0);
    const keyBytes = sent.reduce((a, x) => a + x.keyBytes, 0);
    const shown = this.shown(model, real!);
    emit?.({ stage: 'store', state: 'start' });
    started = performance.now();
    const named = model.input.kind === 'features' ? Object.fromEntries(model.input.features.map((f, i) => [f.name, values[i]])) : { pixels: values };
    const historyId = this.vault.addHistory({
      modelId: model.id,
      modelVersion: model.version,
      provider: this.providerLabel,
      input: named,
      result: shown,
      createdAt: new Date().toISOString(),
    });
    timings.store = performance.now() - started;
    emit?.({ stage: 'store', state: 'done', ms: timings.store });
    this.prepareNext(sent[0]!.pair, plan);
    return { ...shown, modelId: model.id, modelVersion: model.version, provider: this.providerLabel, timings, bytes: { keys: keyBytes, up, down }, canary: checks.state === 'on' ? 'passed' : checks.state, ...(report ? { checks: report } : {}), historyId };
  }

  /**
   * Once the answer is shown, the key pair prepares the next prediction's encryptions while the
   * app is idle (he-core/client/zeros.ts: most of an encryption's work, about 2 ms each for
   * breast-cancer-mlp, done ahead). Should that fail (the key pair was locked away meanwhile), the
   * next encryption is simply made by SEAL in full: the same ciphertext, drawn the same way.
   */
  private prepareNext(pair: ClientKeyPair, plan: PublicPlan): void {
    setImmediate(() => {
      try {
        pair.zeros.prepare(plan);
      } catch {
        // See above: nothing depends on it.
      }
    });
  }

  /**
   * Many patients at once in the batch layout (one slot each). Bad rows get a row-level error;
   * the good rows are still scored. Checks take slots drawn afresh (crypto randomness) for every
   * request, mixed among the real rows: at least BATCH_MIN_CHECKS, and the free slots up to
   * BATCH_MAX_CHECKS.
   *
   * The range check is per row (docs/he-core.md, "Packed answers"): a row whose answer lies beyond
   * the plan's accepted bound but within the exact range gets its own `result_out_of_range`
   * verdict and the other rows are scored. The whole request is refused when a row's answer lies
   * beyond the exact range (it may have wrapped around and moved every slot), when a check slot is
   * out of bound or wrong (a failed check), when a slot that holds no row is out of bound, or when
   * more than a quarter of the slots of one answer are rows beyond the bound (a wrap-around puts
   * more than half of them there; checks off and a full request leave no other sign of one).
   */
  async predictBatch(modelId: string, rows: readonly RawInput[], options: BatchOptions = {}): Promise<BatchResult> {
    const timings: Partial<Record<Stage, number>> = {};
    const model = await this.model(modelId);
    const results: BatchRowResult[] = rows.map((_, row) => ({ row, ok: false }));
    const good: { row: number; values: number[] }[] = [];
    let started = performance.now();
    rows.forEach((input, row) => {
      try {
        good.push({ row, values: this.toVector(model, input) });
      } catch (err) {
        const e = err instanceof FlowError ? err : new FlowError('input_invalid', (err as Error).message);
        results[row] = { row, ok: false, code: e.code, error: e.message, ...(e.field ? { field: e.field } : {}) };
      }
    });
    timings.validate = performance.now() - started;
    const checks = this.checksFor(model, options);
    const plan = model.plans.batch;
    const capacity = plan.samplesPerRequest;
    const minChecks = checks.state === 'on' ? Math.min(BATCH_MIN_CHECKS, capacity - 1) : 0;
    const chunk = Math.max(1, capacity - minChecks);
    type Slot = { row: number; values: number[] } | { check: KnownAnswer };
    // Every chunk is sent before any answer is decrypted (see `send`).
    const sent: { slots: Slot[]; exchange: Exchange }[] = [];
    let perRequest = 0;
    for (let start = 0; start < good.length; start += chunk) {
      this.checkCancelled(options);
      const part = good.slice(start, start + chunk);
      const slots: Slot[] = [...part];
      if (checks.state === 'on') {
        const count = Math.max(minChecks, Math.min(BATCH_MAX_CHECKS, capacity - part.length));
        for (let c = 0; c < count; c++) slots.push({ check: drawKnownAnswer(checks.source, plan) });
        perRequest = Math.max(perRequest, count);
      }
      shuffle(slots);
      const samples = slots.map((s) => ('check' in s ? s.check.input : s.values));
      sent.push({ slots, exchange: await this.send(model, 'batch', samples, timings, options) });
      options.onStage?.({ stage: 'evaluate', state: 'progress', transfer: { direction: 'download', loaded: Math.min(good.length, start + chunk), total: good.length } });
    }
    // Every answer is decrypted and judged before any row is shown: a refusal of the whole request
    // (below) leaves nothing shown or stored.
    const rowNumber = (row: number): number => options.rowNumbers?.[row] ?? row + 1;
    const { bound, range } = plan.output.packing;
    let failed = 0;
    let wrapped: number | undefined;
    let strayUnused = false;
    let crowded = 0;
    const beyond: number[] = [];
    const scored: { row: number; values: number[]; out: Float64Array }[] = [];
    for (const { slots, exchange } of sent) {
      const answer = this.openBatch(exchange, timings, options);
      const before = beyond.length;
      answer.outputs.forEach((out, i) => {
        const where = answer.range[i]!;
        const s = slots[i];
        if (!s) {
          // A slot that holds no row: the answer for an all-zero pre-processed input, inside the input box.
          if (where !== 'in') strayUnused = true;
        } else if ('check' in s) {
          if (where !== 'in' || !matches(out, s.check)) failed++;
        } else if (where === 'beyond_range') wrapped ??= s.row;
        else if (where === 'beyond_bound') beyond.push(s.row);
        else scored.push({ row: s.row, values: s.values, out });
      });
      // A wrap-around moves every slot by up to 2 × range = 3 × bound: more than half of them land
      // beyond the bound. More than a quarter of the slots of one answer beyond it reads as one.
      if (beyond.length - before > answer.outputs.length / 4) crowded = Math.max(crowded, beyond.length - before);
    }
    if (wrapped !== undefined) {
      throw new FlowError(
        'result_out_of_range',
        `Row ${rowNumber(wrapped)}: the model cannot give an answer for this input, and its encrypted answer lies beyond ±${formatBound(range)}, where it can wrap around and change every other answer sent with it, so no row was shown and nothing was stored. Either the row is unlike anything the model was calibrated on (check its values, or leave it out and score the file again), or the provider altered the answers (if the row is ordinary, try another provider)`,
      );
    }
    if (failed > 0 && checks.state === 'on') {
      throw this.checkFailed(model, `${perRequest} ${checks.source.kind === 'fresh' ? 'fresh check samples, whose answers this app computed itself,' : "of the card's known answers"} were mixed at random positions among your rows in every request`, `${failed} of them did not match their known answer`);
    }
    if (strayUnused) {
      throw new FlowError(
        'result_out_of_range',
        `The provider's answer was refused: a slot that held none of your rows came back beyond ±${formatBound(bound)}, the range this model's answers are checked against. Either a row's answer lay so far out that it wrapped around and changed every answer sent with it, or the provider altered the answers; no row was shown and nothing was stored. Check the rows' values, and if they are ordinary, try another provider`,
      );
    }
    if (crowded > 0) {
      throw new FlowError(
        'result_out_of_range',
        `The provider's answer was refused: ${crowded} rows of one request came back beyond ±${formatBound(bound)}, the range this model's answers are checked against, more than a quarter of the request. That is what an answer that wrapped around looks like, so no row can be trusted: no row was shown and nothing was stored. Check the rows' values, and if they are ordinary, try another provider`,
      );
    }
    for (const { row, out } of scored) results[row] = { row, ok: true, ...this.shown(model, out) };
    for (const row of beyond) {
      results[row] = {
        row,
        ok: false,
        code: 'result_out_of_range',
        error: `Row ${rowNumber(row)}: the model cannot give an answer for this input: its answer lies outside the range this model can give (±${formatBound(bound)}), so it was not shown or stored; the other rows were scored. Check the row's values: if they are right, this model cannot score this row${checks.state === 'on' ? ' (the checks sent with it passed: the provider did compute the model)' : ''}`,
      };
    }
    started = performance.now();
    // History keeps the scored rows' inputs and results; a row not scored keeps only its verdict.
    const stored = scored.map((g) => g.row).sort((a, b) => a - b);
    const inputs = new Map(scored.map((g) => [g.row, g.values]));
    const historyId = this.vault.addHistory({
      modelId: model.id,
      modelVersion: model.version,
      provider: this.providerLabel,
      input: { batch: rows.length, rows: stored.map((row) => inputs.get(row)!) },
      result: { rows: results },
      createdAt: new Date().toISOString(),
    });
    timings.store = performance.now() - started;
    const report: CheckReport | undefined = checks.state === 'on' ? { source: checks.source.kind, placement: 'slots', count: perRequest } : undefined;
    return { modelId: model.id, rows: results, timings, canary: checks.state === 'on' ? 'passed' : checks.state, ...(report ? { checks: report } : {}), historyId };
  }

  /** Forgets this client's keys at the provider (every session opened in this process). */
  async forgetKeys(): Promise<number> {
    let n = 0;
    for (const id of this.sessions.values()) {
      await this.provider.deleteSession(id).catch(() => undefined);
      n++;
    }
    this.sessions.clear();
    return n;
  }
}
