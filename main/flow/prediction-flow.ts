import { randomInt } from 'node:crypto';
import { HeError, checkInput, postprocess, roundTo } from '../../he-core/index.js';
import type { CatalogModel, PlanMode, PublicPlan } from '../../he-core/index.js';
import { ProviderError } from '../provider/errors.js';
import type { ProviderClient, TransferProgress } from '../provider/provider-client.js';
import type { Vault } from '../vault/index.js';
import type { ClientKeyring } from './client-keys.js';
import { FlowError } from './errors.js';
import { decryptResult, encryptRequest } from './he-client.js';
import type { ClientKeyPair } from './he-client.js';

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
  /** Mix known-answer canaries into the requests (default: on for remote providers). */
  canary?: boolean;
}

/** Raw input: values in schema order, or by feature name. */
export type RawInput = readonly number[] | Readonly<Record<string, number>>;

export interface ShownResult {
  /** Post-processed values rounded to the model's declared precision. */
  values: number[];
  classIndex?: number;
  label?: string;
}

export interface PredictionResult extends ShownResult {
  modelId: string;
  modelVersion: string;
  provider: string;
  timings: Partial<Record<Stage, number>>;
  bytes: { keys: number; up: number; down: number };
  canary: 'passed' | 'off' | 'unavailable';
  historyId: number;
}

export interface BatchRowResult extends Partial<ShownResult> {
  row: number;
  ok: boolean;
  error?: string;
  field?: string;
}

export interface BatchResult {
  modelId: string;
  rows: BatchRowResult[];
  timings: Partial<Record<Stage, number>>;
  canary: 'passed' | 'off' | 'unavailable';
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

/** Output values are CKKS-noisy: the canary compares within the model's published tolerance. */
function matchesVector(out: ArrayLike<number>, expected: readonly number[], tolerance: number): boolean {
  return expected.every((e, i) => Math.abs(out[i]! - e) <= tolerance);
}

function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

/**
 * The whole prediction, client side: validate, keys (vault), session (upload once), encrypt,
 * evaluate at the provider, check and decrypt, post-process, round, store in the encrypted
 * history. Works from the catalog's public plan only; never needs a model's weights.
 */
export class PredictionFlow {
  private catalog: CatalogModel[] | null = null;
  private readonly sessions = new Map<string, string>();

  constructor(
    private readonly vault: Vault,
    private readonly keyring: ClientKeyring,
    private readonly provider: ProviderClient,
    /** How history names the provider (e.g. "bundled" or the remote URL). */
    private readonly providerLabel: string,
  ) {}

  async models(signal?: AbortSignal): Promise<CatalogModel[]> {
    this.catalog ??= await this.provider.catalog(signal ? { signal } : {});
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
  private async send(model: CatalogModel, mode: PlanMode, samples: number[][], timings: Partial<Record<Stage, number>>, options: PredictOptions): Promise<Exchange> {
    const plan: PublicPlan = model.plans[mode];
    const emit = options.onStage;
    let { id, keyBytes } = await this.session(model, mode, timings, options);
    const { pair } = await this.keyring.pairFor(plan.params);
    this.checkCancelled(options);
    emit?.({ stage: 'encrypt', state: 'start' });
    let started = performance.now();
    const request = encryptRequest(pair, plan, samples);
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
    return { plan, pair, samples: samples.length, response, up: request.byteLength, down: response.byteLength, keyBytes };
  }

  /** Checks and decrypts an answer of `send`. */
  private open(exchange: Exchange, timings: Partial<Record<Stage, number>>, options: PredictOptions): Float64Array[] {
    const emit = options.onStage;
    emit?.({ stage: 'decrypt', state: 'start' });
    const started = performance.now();
    let outputs: Float64Array[];
    try {
      outputs = decryptResult(exchange.pair, exchange.plan, exchange.response, exchange.samples);
    } catch (err) {
      if (err instanceof HeError && err.code === 'result_out_of_range') {
        throw new FlowError('result_out_of_range', `${err.message}. Either the provider altered the answer, or the input is unlike anything the model was calibrated on; nothing was stored`);
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

  private checkCancelled(options: PredictOptions): void {
    if (options.signal?.aborted) throw new FlowError('cancelled', 'the prediction was cancelled');
  }

  private canaryOn(model: CatalogModel, options: PredictOptions): 'on' | 'off' | 'unavailable' {
    const wanted = options.canary ?? this.provider.config.kind === 'remote';
    if (!wanted) return 'off';
    return model.testVectors.length > 0 ? 'on' : 'unavailable';
  }

  private wrongResult(model: CatalogModel): FlowError {
    return new FlowError('provider_wrong_result', `provider returned a wrong result: a known-answer check of ${model.id} failed, so its answers cannot be trusted`);
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

    const canary = this.canaryOn(model, options);
    // A canary is a separate request of the same shape, sent in random order with the real one:
    // the provider sees two fresh ciphertexts and cannot tell which is which.
    const vector = canary === 'on' ? model.testVectors[randomInt(model.testVectors.length)]! : null;
    const order = vector ? shuffle([0, 1]) : [0];
    const sent: { which: number; exchange: Exchange }[] = [];
    for (const which of order) {
      this.checkCancelled(options);
      const sample = which === 0 ? values : vector!.input;
      sent.push({ which, exchange: await this.send(model, 'single', [sample], timings, options) });
    }
    let real: Float64Array | undefined;
    for (const { which, exchange } of sent) {
      const [out] = this.open(exchange, timings, options);
      if (which === 0) real = out;
      else if (!matchesVector(out!, vector!.expected, vector!.tolerance)) throw this.wrongResult(model);
    }
    const up = sent.reduce((a, x) => a + x.exchange.up, 0);
    const down = sent.reduce((a, x) => a + x.exchange.down, 0);
    const keyBytes = sent.reduce((a, x) => a + x.exchange.keyBytes, 0);
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
    return { ...shown, modelId: model.id, modelVersion: model.version, provider: this.providerLabel, timings, bytes: { keys: keyBytes, up, down }, canary: canary === 'on' ? 'passed' : canary, historyId };
  }

  /**
   * Many patients at once in the batch layout (one slot each). Bad rows get a row-level error;
   * the good rows are still scored. Canaries take random slots among the real ones.
   */
  async predictBatch(modelId: string, rows: readonly RawInput[], options: PredictOptions = {}): Promise<BatchResult> {
    const timings: Partial<Record<Stage, number>> = {};
    const model = await this.model(modelId);
    const results: BatchRowResult[] = rows.map((_, row) => ({ row, ok: false }));
    const good: { row: number; values: number[] }[] = [];
    let started = performance.now();
    rows.forEach((input, row) => {
      try {
        good.push({ row, values: this.toVector(model, input) });
      } catch (err) {
        const e = err as FlowError;
        results[row] = { row, ok: false, error: e.message, ...(e.field ? { field: e.field } : {}) };
      }
    });
    timings.validate = performance.now() - started;
    const canary = this.canaryOn(model, options);
    const capacity = model.plans.batch.samplesPerRequest;
    const canariesPerRequest = canary === 'on' ? Math.min(2, model.testVectors.length) : 0;
    const chunk = Math.max(1, capacity - canariesPerRequest);
    // Every chunk is sent before any answer is decrypted (see `send`).
    const sent: { slots: ({ row: number; values: number[] } | { canary: number })[]; exchange: Exchange }[] = [];
    for (let start = 0; start < good.length; start += chunk) {
      this.checkCancelled(options);
      const part = good.slice(start, start + chunk);
      const slots: ({ row: number; values: number[] } | { canary: number })[] = [...part];
      for (let c = 0; c < canariesPerRequest; c++) slots.push({ canary: randomInt(model.testVectors.length) });
      shuffle(slots);
      const samples = slots.map((s) => ('canary' in s ? model.testVectors[s.canary]!.input : s.values));
      sent.push({ slots, exchange: await this.send(model, 'batch', samples, timings, options) });
      options.onStage?.({ stage: 'evaluate', state: 'progress', transfer: { direction: 'download', loaded: Math.min(good.length, start + chunk), total: good.length } });
    }
    for (const { slots, exchange } of sent) {
      const outputs = this.open(exchange, timings, options);
      slots.forEach((s, i) => {
        const out = outputs[i]!;
        if ('canary' in s) {
          const tv = model.testVectors[s.canary]!;
          if (!matchesVector(out, tv.expected, tv.tolerance)) throw this.wrongResult(model);
        } else results[s.row] = { row: s.row, ok: true, ...this.shown(model, out) };
      });
    }
    started = performance.now();
    const historyId = this.vault.addHistory({
      modelId: model.id,
      modelVersion: model.version,
      provider: this.providerLabel,
      input: { batch: rows.length, rows: good.map((g) => g.values) },
      result: { rows: results },
      createdAt: new Date().toISOString(),
    });
    timings.store = performance.now() - started;
    return { modelId: model.id, rows: results, timings, canary: canary === 'on' ? 'passed' : canary, historyId };
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
