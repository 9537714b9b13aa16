/**
 * The bridge contract between the renderer and the privileged side: the one global the preload
 * exposes (`window.ciphercare`), its channels and payload types. Imports nothing; main and the
 * renderer `import type` it. No type here carries key material: the renderer sees inputs and
 * decrypted results, never a key.
 */

export type StageName = 'validate' | 'keys' | 'upload' | 'encrypt' | 'evaluate' | 'decrypt' | 'store';

export interface BridgeError {
  /** Stable code, e.g. wrong_passphrase, input_out_of_range, unauthorized, provider_wrong_result. */
  code: string;
  message: string;
  /** The input field at fault, when there is one. */
  field?: string;
}

export type BridgeResult<T> = { ok: true; value: T } | { ok: false; error: BridgeError };

export interface VaultStatus {
  exists: boolean;
  unlocked: boolean;
  dataDir: string;
  /** Whether the OS keychain also wraps the data key. */
  keychain: 'enabled' | 'available' | 'unavailable';
}

export type ProviderInput = { kind: 'bundled' } | { kind: 'remote'; url: string; apiKey?: string };

export type ProviderSettings = { kind: 'bundled' } | { kind: 'remote'; url: string; hasApiKey: boolean };

export interface ConnectionTest {
  ok: boolean;
  models: number;
  latencyMs: number;
  message: string;
  code?: string;
}

export interface FeatureField {
  name: string;
  label: string;
  unit: string;
  min: number;
  max: number;
  typical: number;
  decimals?: number;
  /** 'integer': whole numbers only; 'categorical': one of `codes`; absent or 'number': any value in range. */
  type?: 'number' | 'integer' | 'categorical';
  /** The codes of a categorical field and what each means. */
  codes?: { value: number; label: string }[];
}

export type ModelInputView =
  | { kind: 'features'; features: FeatureField[] }
  | { kind: 'image'; channels: number; height: number; width: number; min: number; max: number; description: string };

/** Who vouches for a model's card (docs/SECURITY.md, "Signed model cards"). */
export interface ModelTrustView {
  /** verified: a trusted publisher signed its card; pinned: the publisher pinned on first use; unverified: no signed card, no checks possible. */
  status: 'verified' | 'pinned' | 'unverified';
  /** The publisher's key fingerprint (SHA-256), hex in groups of four. */
  publisherFingerprint?: string;
  /** A trusted publisher's name. */
  publisherName?: string;
}

export interface ModelSummary {
  id: string;
  version: string;
  title: string;
  description: string;
  task: 'binary-classification' | 'multiclass-classification' | 'regression';
  input: ModelInputView;
  outputLabels: string[];
  negativeLabel?: string;
  unit?: string;
  precision: number;
  metrics: { accuracy?: number; auc?: number; rmse?: number; mae?: number; r2?: number; testRows: number; trainRows: number };
  he: {
    polyModulusDegree: number;
    securityBits: 128;
    levels: number;
    rotationKeys: number;
    evaluationKeyBytes: number;
    requestBytes: number;
    responseBytes: number;
    samplesPerBatch: number;
  };
  /** A held-out sample the form can fill in ("sample patient"). */
  sample: number[];
  /** Who vouches for the model's card; absent means unverified. */
  trust?: ModelTrustView;
}

export interface ProgressEvent {
  runId: string;
  stage: StageName;
  state: 'start' | 'progress' | 'done';
  ms?: number;
  loaded?: number;
  total?: number;
}

export interface PredictionRequest {
  runId: string;
  modelId: string;
  /** Values in schema order, or by feature name; images: pixel values row by row. */
  input: number[] | Record<string, number>;
}

export interface PredictionView {
  runId: string;
  modelId: string;
  modelVersion: string;
  /** Rounded to the model's precision: a probability, class probabilities, or a value. */
  values: number[];
  classIndex?: number;
  label?: string;
  timings: Partial<Record<StageName, number>>;
  bytes: { keys: number; up: number; down: number };
  canary: 'passed' | 'off' | 'unavailable';
  historyId: number;
  /** Set when a regression result lies outside the range of targets seen in training (shown with a warning). */
  outsideTraining?: TrainingRangeView;
}

/** The range of results a model saw in training, in its output unit. */
export interface TrainingRangeView {
  low: number;
  high: number;
  unit?: string;
}

export interface BatchRequest {
  runId: string;
  modelId: string;
  /** CSV text with a header row of feature names. */
  csv: string;
}

export interface BatchRowView {
  row: number;
  ok: boolean;
  values?: number[];
  label?: string;
  error?: string;
  /** Why the row was not scored (an error code such as `input_out_of_range` or `result_out_of_range`). */
  code?: string;
  field?: string;
  /** Set when the row's result lies outside the range of targets seen in training. */
  outsideTraining?: TrainingRangeView;
}

export interface BatchView {
  modelId: string;
  rows: BatchRowView[];
  scored: number;
  failed: number;
  /** The results as CSV text (row, status, result columns, error). */
  csv: string;
}

export interface HistoryItem {
  id: number;
  modelId: string;
  modelVersion: string;
  provider: string;
  createdAt: string;
  input: unknown;
  result: unknown;
}

export interface HistoryView {
  items: HistoryItem[];
  unreadable: { id: number; code: string }[];
  total: number;
}

export interface KeysView {
  parameterSets: { fingerprint: string; models: string[]; versions: number[]; current: number | null }[];
}

/** What one choice of separate check requests buys and costs (docs/SECURITY.md, "A dishonest provider"). */
export interface CheckChoiceView {
  /** Separate known-answer check requests sent with each prediction. */
  requests: number;
  /** Computed probability (main/flow/check-odds.ts) that a provider who replaces one of a prediction's answers at random is caught in that prediction. */
  replacedAnswerCaught: number;
  /** Encrypted requests per prediction, the real one included: the data sent and the time grow about in proportion. */
  requestsPerPrediction: number;
}

/** Settings the person chooses in the app (kept in the vault). */
export interface SettingsView {
  /**
   * Separate check requests sent with a single prediction of a model whose layout has no room for
   * checks inside the ciphertext (mnist-cnn); the vault setting the command line's --save-checks writes too.
   */
  checkRequests: number;
  /** The choices the app offers (1 and 3, and the stored value if it is another). */
  checkChoices: CheckChoiceView[];
}

/** A publisher CipherCare trusts without pinning: the bundled one (built in) and any the vault lists. */
export interface TrustedPublisherView {
  name: string;
  /** SHA-256 of the publisher's key, hex in groups of four. */
  fingerprint: string;
  /** Model ids reserved to this publisher. */
  modelIds: string[];
  /** The publisher of the bundled models, shipped with the app. */
  builtIn: boolean;
}

/** A model id whose publisher was pinned on first use. */
export interface PinnedModelView {
  modelId: string;
  /** The pinned publisher's fingerprint, hex in groups of four. */
  fingerprint: string;
  /** The versions whose cards are pinned. */
  versions: string[];
  /** The providers pinned to this publisher on first use: where it was first seen. */
  firstSeenAt: string[];
}

/** A provider whose publishers were pinned on first use. */
export interface PinnedProviderView {
  url: string;
  fingerprints: string[];
}

export interface TrustView {
  trusted: TrustedPublisherView[];
  models: PinnedModelView[];
  providers: PinnedProviderView[];
}

/** The whole API, grouped by domain. */
export interface CipherCareApi {
  vault: {
    status(): Promise<VaultStatus>;
    create(passphrase: string): Promise<VaultStatus>;
    unlock(passphrase: string): Promise<VaultStatus>;
    lock(): Promise<VaultStatus>;
    changePassphrase(current: string, next: string): Promise<VaultStatus>;
    /** Deletes the vault and everything in it; `confirmation` must be the word "wipe". */
    wipe(confirmation: string): Promise<VaultStatus>;
    /**
     * Unlocks a vault that refused to open with `changes_lost` (committed changes missing from its
     * file), accepting the loss: the rest is kept, lost entry numbers are never given again.
     */
    unlockAcceptingLostChanges(passphrase: string): Promise<VaultStatus>;
  };
  settings: {
    get(): Promise<SettingsView>;
    /** Separate check requests per prediction where the layout has no room for checks (1 to 16). */
    setCheckRequests(requests: number): Promise<SettingsView>;
  };
  trust: {
    /** Trusted publishers and the publishers pinned on first use, per model id and per provider. */
    list(): Promise<TrustView>;
    /** Forgets the pins of a model id or of a provider URL; the next use pins what it sees then. */
    forget(target: string): Promise<TrustView>;
  };
  provider: {
    get(): Promise<ProviderSettings>;
    set(settings: ProviderInput): Promise<ProviderSettings>;
    test(settings: ProviderInput): Promise<ConnectionTest>;
  };
  models: {
    list(): Promise<ModelSummary[]>;
  };
  predictions: {
    run(request: PredictionRequest): Promise<PredictionView>;
    cancel(runId: string): Promise<void>;
    /** Stage progress of running predictions; returns the unsubscribe function. */
    onProgress(listener: (event: ProgressEvent) => void): () => void;
  };
  batch: {
    run(request: BatchRequest): Promise<BatchView>;
  };
  history: {
    list(query: { limit?: number; offset?: number }): Promise<HistoryView>;
  };
  keys: {
    list(): Promise<KeysView>;
    rotate(): Promise<KeysView>;
    exportBackup(backupPassphrase: string): Promise<{ path: string; bytes: number }>;
    forgetAtProvider(): Promise<{ sessions: number }>;
  };
}

/**
 * What the preload exposes as `window.ciphercare`: the same methods, but each resolves a
 * `BridgeResult` and never rejects. Electron's contextBridge copies only the message of a thrown
 * or rejected error (custom properties such as `code` are lost), so failures cross the bridge as
 * plain data; the renderer's api wrapper turns them back into typed errors.
 */
export type CipherCareBridge = {
  [D in keyof CipherCareApi]: {
    [M in keyof CipherCareApi[D]]: CipherCareApi[D][M] extends (...args: infer A) => Promise<infer R> ? (...args: A) => Promise<BridgeResult<R>> : CipherCareApi[D][M];
  };
};

/** IPC channel of every invokable method: `ciphercare:<domain>:<method>`. */
export const CHANNELS = {
  vault: { status: 'ciphercare:vault:status', create: 'ciphercare:vault:create', unlock: 'ciphercare:vault:unlock', lock: 'ciphercare:vault:lock', changePassphrase: 'ciphercare:vault:changePassphrase', wipe: 'ciphercare:vault:wipe', unlockAcceptingLostChanges: 'ciphercare:vault:unlockAcceptingLostChanges' },
  settings: { get: 'ciphercare:settings:get', setCheckRequests: 'ciphercare:settings:setCheckRequests' },
  trust: { list: 'ciphercare:trust:list', forget: 'ciphercare:trust:forget' },
  provider: { get: 'ciphercare:provider:get', set: 'ciphercare:provider:set', test: 'ciphercare:provider:test' },
  models: { list: 'ciphercare:models:list' },
  predictions: { run: 'ciphercare:predictions:run', cancel: 'ciphercare:predictions:cancel' },
  batch: { run: 'ciphercare:batch:run' },
  history: { list: 'ciphercare:history:list' },
  keys: { list: 'ciphercare:keys:list', rotate: 'ciphercare:keys:rotate', exportBackup: 'ciphercare:keys:exportBackup', forgetAtProvider: 'ciphercare:keys:forgetAtProvider' },
} as const;

/** Main -> renderer progress events (the only push channel). */
export const PROGRESS_CHANNEL = 'ciphercare:predictions:progress';

/** The name of the global the preload exposes. */
export const BRIDGE_GLOBAL = 'ciphercare';
