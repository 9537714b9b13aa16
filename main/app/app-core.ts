import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { BUNDLED_PUBLISHER, formatFingerprint, publisherFingerprint } from '../../he-core/index.js';
import type { CatalogModel, PublicPlan } from '../../he-core/index.js';
import type {
  BatchRequest,
  BatchRowView,
  BatchView,
  CheckChoiceView,
  CipherCareApi,
  ConnectionTest,
  HistoryView,
  KeysView,
  ModelSummary,
  ModelTrustView,
  PredictionRequest,
  PredictionView,
  ProgressEvent,
  ProviderInput,
  ProviderSettings,
  SettingsView,
  TrustView,
  VaultStatus,
} from '../../preload/contract.js';
import { undetected } from '../flow/check-odds.js';
import { ClientKeyring } from '../flow/client-keys.js';
import { DEFAULT_CHECK_REQUESTS, MAX_CHECK_REQUESTS, PredictionFlow, SETTING_CHECK_REQUESTS } from '../flow/prediction-flow.js';
import { checkCatalog, forgetPins, loadTrustState, trustOf } from '../flow/trust.js';
import type { StageEvent } from '../flow/prediction-flow.js';
import { launchBundledService } from '../provider/bundled-service.js';
import type { BundledService, LaunchOptions } from '../provider/bundled-service.js';
import { DEADLINE_SETTING, secondsToDeadlineMs } from '../provider/deadline.js';
import { ProviderClient } from '../provider/provider-client.js';
import type { ProviderConfig } from '../provider/provider-client.js';
import { Vault, VaultError, vaultFilePath } from '../vault/index.js';
import type { KeyWrapper, ScryptParams } from '../vault/index.js';
import { scoreCsv } from '../flow/batch-csv.js';
import { parseCsv } from '../flow/csv.js';
import { AppError, toBridgeError } from './bridge-errors.js';

export interface AppCoreOptions {
  dataDir: string;
  kdf?: ScryptParams;
  /** The OS keychain wrapper (Electron's safeStorage), when its backend is secure. */
  keychain?: KeyWrapper;
  /** Where to write an exported backup (a save dialog in the app); null cancels. */
  chooseBackupPath?: () => Promise<string | null>;
  bundled?: LaunchOptions;
  /** Extra trusted CAs for remote providers (PEM). */
  remoteCa?: string | Buffer;
  /** A bundled service the host already started (the Electron shell starts it as a utility process). */
  presetBundled?: { url: string; token: string };
}

const SETTING_PROVIDER_KIND = 'provider.kind';
const SETTING_PROVIDER_URL = 'provider.url';
const SECRET_API_KEY = 'provider.apiKey';
const MIN_PASSPHRASE = 10;
/** The numbers of separate check requests the app offers (docs/SECURITY.md: what 1 and 3 buy and cost). */
const CHECK_CHOICES = [1, 3] as const;

/**
 * The privileged side of the app as one object: vault, provider, flow. The Electron IPC handlers
 * and the browser tests' bridge both call `api`; nothing here imports electron.
 */
export class AppCore {
  readonly api: CipherCareApi;
  private vault: Vault | null = null;
  private keyring: ClientKeyring | null = null;
  private flow: PredictionFlow | null = null;
  private bundled: BundledService | null = null;
  private bundledStarting: Promise<BundledService> | null = null;
  private readonly runs = new Map<string, AbortController>();
  private readonly listeners = new Set<(e: ProgressEvent) => void>();

  constructor(private readonly options: AppCoreOptions) {
    this.api = {
      vault: {
        status: async () => this.status(),
        create: async (passphrase) => this.create(passphrase),
        unlock: async (passphrase) => this.unlock(passphrase),
        lock: async () => this.lock(),
        changePassphrase: async (current, next) => this.changePassphrase(current, next),
        wipe: async (confirmation) => this.wipe(confirmation),
        unlockAcceptingLostChanges: async (passphrase) => this.unlock(passphrase, { acceptLostChanges: true }),
      },
      settings: {
        get: async () => this.settings(),
        setCheckRequests: async (requests) => this.setCheckRequests(requests),
      },
      trust: {
        list: async () => this.trustList(),
        forget: async (target) => this.forgetTrust(target),
      },
      provider: {
        get: async () => this.providerSettings(),
        set: async (settings) => this.setProvider(settings),
        test: async (settings) => this.testProvider(settings),
      },
      models: { list: async () => this.models() },
      predictions: {
        run: async (request) => this.predict(request),
        cancel: async (runId) => {
          this.runs.get(runId)?.abort();
        },
        onProgress: (listener) => {
          this.listeners.add(listener);
          return () => this.listeners.delete(listener);
        },
      },
      batch: { run: async (request) => this.batch(request) },
      history: { list: async (query) => this.history(query) },
      keys: {
        list: async () => this.keys(),
        rotate: async () => this.rotateKeys(),
        exportBackup: async (backupPassphrase) => this.exportBackup(backupPassphrase),
        forgetAtProvider: async () => ({ sessions: await this.requireFlow().then((f) => f.forgetKeys()) }),
      },
    };
  }

  // ---- vault -------------------------------------------------------------------------------

  private status(): VaultStatus {
    const exists = existsSync(vaultFilePath(this.options.dataDir));
    const unlocked = Boolean(this.vault?.isUnlocked);
    const keychain = this.vault?.keychainBackend() ? 'enabled' : this.options.keychain?.isSecure() ? 'available' : 'unavailable';
    return { exists, unlocked, dataDir: this.options.dataDir, keychain };
  }

  /**
   * The vault, opened if it is not. A vault whose file lost committed changes refuses to open
   * (`changes_lost`) unless `acceptLostChanges`, the path of the command line's
   * --accept-lost-changes: the rest is kept and lost ids are never given again.
   */
  private openVault(options: { acceptLostChanges?: boolean } = {}): Vault {
    if (!this.vault || this.vault.isClosed) {
      try {
        this.vault = Vault.open(this.options.dataDir, { ...(this.options.kdf ? { kdf: this.options.kdf } : {}), ...(options.acceptLostChanges ? { acceptLostChanges: true } : {}) });
      } catch (err) {
        if (err instanceof VaultError && err.code === 'changes_lost') throw lostChangesError(err);
        throw err;
      }
    }
    return this.vault;
  }

  private afterUnlock(vault: Vault): void {
    if (this.options.keychain?.isSecure() && !vault.keychainBackend()) vault.enableKeychain(this.options.keychain);
    this.keyring?.dispose();
    this.keyring = new ClientKeyring(vault);
    this.flow = null;
  }

  private async create(passphrase: string): Promise<VaultStatus> {
    if (typeof passphrase !== 'string' || passphrase.length < MIN_PASSPHRASE) {
      throw new AppError('weak_passphrase', `choose a passphrase of at least ${MIN_PASSPHRASE} characters`);
    }
    mkdirSync(this.options.dataDir, { recursive: true });
    this.vault = await Vault.create(this.options.dataDir, passphrase, this.options.kdf ? { kdf: this.options.kdf } : {});
    this.afterUnlock(this.vault);
    return this.status();
  }

  private async unlock(passphrase: string, options: { acceptLostChanges?: boolean } = {}): Promise<VaultStatus> {
    const vault = this.openVault(options);
    await vault.unlock(passphrase);
    this.afterUnlock(vault);
    return this.status();
  }

  /** Unlocks with the OS keychain, when it wraps the data key (at app start). */
  unlockWithKeychain(): boolean {
    if (!this.options.keychain?.isSecure() || !existsSync(vaultFilePath(this.options.dataDir))) return false;
    const vault = this.openVault();
    if (!vault.keychainBackend()) return false;
    vault.unlockWithKeychain(this.options.keychain);
    this.afterUnlock(vault);
    return true;
  }

  private lock(): VaultStatus {
    this.vault?.lock();
    this.keyring?.dispose();
    this.keyring = null;
    this.flow = null;
    return this.status();
  }

  private async changePassphrase(current: string, next: string): Promise<VaultStatus> {
    if (typeof next !== 'string' || next.length < MIN_PASSPHRASE) throw new AppError('weak_passphrase', `choose a passphrase of at least ${MIN_PASSPHRASE} characters`);
    await this.requireVault().changePassphrase(current, next);
    return this.status();
  }

  private wipe(confirmation: string): VaultStatus {
    if (confirmation !== 'wipe') throw new AppError('confirmation_required', 'type the word "wipe" to delete the vault and everything in it');
    this.keyring?.dispose();
    this.keyring = null;
    this.flow = null;
    this.openVault().wipe();
    this.vault = null;
    return this.status();
  }

  private requireVault(): Vault {
    if (!this.vault || !this.vault.isUnlocked) throw new AppError('vault_locked', 'unlock the vault first');
    return this.vault;
  }

  // ---- provider ----------------------------------------------------------------------------

  private providerSettings(): ProviderSettings {
    const vault = this.requireVault();
    if (vault.getSetting(SETTING_PROVIDER_KIND) === 'remote') {
      return { kind: 'remote', url: vault.getSetting(SETTING_PROVIDER_URL) ?? '', hasApiKey: Boolean(vault.getSecret(SECRET_API_KEY)) };
    }
    return { kind: 'bundled' };
  }

  private checkRemote(settings: ProviderInput): void {
    if (settings.kind !== 'remote') return;
    let url: URL;
    try {
      url = new URL(settings.url);
    } catch {
      throw new AppError('invalid_url', `"${settings.url}" is not a URL`);
    }
    if (url.protocol !== 'https:') throw new AppError('invalid_url', 'a remote provider must use https://');
  }

  private async setProvider(settings: ProviderInput): Promise<ProviderSettings> {
    const vault = this.requireVault();
    this.checkRemote(settings);
    if (settings.kind === 'remote') {
      vault.setSetting(SETTING_PROVIDER_KIND, 'remote');
      vault.setSetting(SETTING_PROVIDER_URL, settings.url);
      if (settings.apiKey) vault.setSecret(SECRET_API_KEY, settings.apiKey);
    } else {
      vault.setSetting(SETTING_PROVIDER_KIND, 'bundled');
    }
    this.flow = null;
    return this.providerSettings();
  }

  /** Starts the bundled service (the app calls this at launch; otherwise on first use). */
  async startBundled(): Promise<BundledService> {
    if (this.bundled) return this.bundled;
    if (this.options.presetBundled) {
      // Owned by the host: stopping it is the host's job.
      this.bundled = { ...this.options.presetBundled, child: null, stop: async () => undefined };
      return this.bundled;
    }
    this.bundledStarting ??= launchBundledService(this.options.bundled ?? {}).then((s) => {
      this.bundled = s;
      return s;
    });
    try {
      return await this.bundledStarting;
    } finally {
      this.bundledStarting = null;
    }
  }

  private async providerConfig(settings: ProviderInput | null): Promise<{ config: ProviderConfig; label: string }> {
    const chosen: ProviderInput = settings ?? (this.providerSettings().kind === 'remote' ? { kind: 'remote', url: this.requireVault().getSetting(SETTING_PROVIDER_URL) ?? '' } : { kind: 'bundled' });
    if (chosen.kind === 'bundled') {
      const service = await this.startBundled();
      return { config: { kind: 'bundled', url: service.url, credential: service.token }, label: 'bundled (this computer)' };
    }
    this.checkRemote(chosen);
    const apiKey = chosen.apiKey ?? this.requireVault().getSecret(SECRET_API_KEY);
    if (!apiKey) throw new AppError('api_key_missing', 'enter the API key your provider gave you');
    return { config: { kind: 'remote', url: chosen.url, credential: apiKey, ...(this.options.remoteCa ? { ca: this.options.remoteCa } : {}) }, label: chosen.url };
  }

  private async testProvider(settings: ProviderInput): Promise<ConnectionTest> {
    const started = performance.now();
    try {
      const { config } = await this.providerConfig(settings);
      const client = new ProviderClient({ ...config, attempts: 1, timeoutMs: 15_000 });
      // Signatures and reserved ids checked here too (no pins: those are checked and set on first use).
      const models = checkCatalog(await client.catalog(), { providerUrl: config.url });
      return { ok: true, models: models.length, latencyMs: Math.round(performance.now() - started), message: `connected: ${models.length} models` };
    } catch (err) {
      const e = toBridgeError(err);
      return { ok: false, models: 0, latencyMs: Math.round(performance.now() - started), message: e.message, code: e.code };
    }
  }

  private async requireFlow(): Promise<PredictionFlow> {
    const vault = this.requireVault();
    if (this.flow) return this.flow;
    const { config, label } = await this.providerConfig(null);
    this.keyring ??= new ClientKeyring(vault);
    // Checks default off only for the service this app launched itself (any other URL, loopback included, gets them).
    // A fixed deadline for every provider call if the vault setting asks for one; else computed per call from the plan.
    const setting = vault.getSetting(DEADLINE_SETTING);
    const deadlineMs = setting === undefined ? undefined : secondsToDeadlineMs(setting);
    if (setting !== undefined && deadlineMs === undefined) throw new AppError('invalid_setting', `the vault setting ${DEADLINE_SETTING} must be a positive number of seconds (it is "${setting}")`);
    this.flow = new PredictionFlow(vault, this.keyring, new ProviderClient({ ...config, ...(deadlineMs !== undefined ? { deadlineMs } : {}) }), label, { selfLaunched: config.kind === 'bundled' });
    return this.flow;
  }

  // ---- settings ----------------------------------------------------------------------------

  /** The stored number of separate check requests, as the flow reads it (else the default). */
  private checkRequests(vault: Vault): number {
    const stored = Number(vault.getSetting(SETTING_CHECK_REQUESTS));
    return Number.isInteger(stored) && stored >= 1 && stored <= MAX_CHECK_REQUESTS ? stored : DEFAULT_CHECK_REQUESTS;
  }

  private settings(): SettingsView {
    const requests = this.checkRequests(this.requireVault());
    const offered = [...new Set<number>([...CHECK_CHOICES, requests])].sort((a, b) => a - b);
    return { checkRequests: requests, checkChoices: offered.map(checkChoice) };
  }

  /** Stored in the vault, where the flow reads it for every prediction (and the command line's --save-checks writes it). */
  private setCheckRequests(requests: number): SettingsView {
    const vault = this.requireVault();
    if (!Number.isInteger(requests) || requests < 1 || requests > MAX_CHECK_REQUESTS) {
      throw new AppError('invalid_setting', `the number of check requests is a whole number from 1 to ${MAX_CHECK_REQUESTS}`);
    }
    vault.setSetting(SETTING_CHECK_REQUESTS, String(requests));
    return this.settings();
  }

  // ---- trust -------------------------------------------------------------------------------

  /** What the command line's `trust list` shows, from the same vault state. */
  private trustList(): TrustView {
    const state = loadTrustState(this.requireVault());
    const bundled = publisherFingerprint(BUNDLED_PUBLISHER.publicKey);
    const trusted = [BUNDLED_PUBLISHER, ...state.trusted].map((p) => {
      const fingerprint = publisherFingerprint(p.publicKey);
      return { name: p.name, fingerprint: formatFingerprint(fingerprint), modelIds: [...p.modelIds].sort(), builtIn: fingerprint === bundled };
    });
    const models = Object.entries(state.models)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([modelId, fp]) => ({
        modelId,
        fingerprint: formatFingerprint(fp),
        versions: Object.keys(state.cards)
          .filter((k) => k.slice(0, k.lastIndexOf('@')) === modelId)
          .map((k) => k.slice(k.lastIndexOf('@') + 1))
          .sort(),
        firstSeenAt: Object.entries(state.providers)
          .filter(([, fps]) => fps.includes(fp))
          .map(([url]) => url)
          .sort(),
      }));
    const providers = Object.entries(state.providers)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([url, fps]) => ({ url, fingerprints: fps.map(formatFingerprint) }));
    return { trusted, models, providers };
  }

  /** The command line's `trust forget`: a model id's pins, or a provider's. The next use pins again. */
  private forgetTrust(target: string): TrustView {
    const vault = this.requireVault();
    if (typeof target !== 'string' || target.trim() === '') throw new AppError('invalid_argument', 'name the model or provider whose pins to forget');
    const forgotten = forgetPins(vault, target);
    if (forgotten.models.length + forgotten.providers.length + forgotten.cards.length === 0) {
      throw new AppError('pin_not_found', `no publisher is pinned for "${target}"; the list shows the pinned models and providers`);
    }
    // The flow keeps the catalog it checked: the next use checks (and pins) again.
    this.flow = null;
    return this.trustList();
  }

  // ---- models and predictions --------------------------------------------------------------

  private summary(m: CatalogModel): ModelSummary {
    const plan: PublicPlan = m.plans.single;
    return {
      id: m.id,
      version: m.version,
      title: m.title,
      description: m.description,
      task: m.task,
      input: m.input.kind === 'features' ? { kind: 'features', features: m.input.features.map((f) => ({ ...f })) } : { ...m.input },
      outputLabels: m.output.labels,
      ...(m.output.negativeLabel ? { negativeLabel: m.output.negativeLabel } : {}),
      ...(m.output.unit ? { unit: m.output.unit } : {}),
      precision: m.output.precision,
      metrics: {
        testRows: m.metrics.testRows,
        trainRows: m.metrics.trainRows,
        ...(m.metrics.accuracy !== undefined ? { accuracy: m.metrics.accuracy } : {}),
        ...(m.metrics.auc !== undefined ? { auc: m.metrics.auc } : {}),
        ...(m.metrics.rmse !== undefined ? { rmse: m.metrics.rmse } : {}),
        ...(m.metrics.mae !== undefined ? { mae: m.metrics.mae } : {}),
        ...(m.metrics.r2 !== undefined ? { r2: m.metrics.r2 } : {}),
      },
      he: {
        polyModulusDegree: plan.params.polyModulusDegree,
        securityBits: 128,
        levels: plan.params.primes.length - 1,
        rotationKeys: plan.galoisSteps.length,
        evaluationKeyBytes: m.expectedSizes.single.evaluationKeyBytes,
        requestBytes: m.expectedSizes.single.requestBytes,
        responseBytes: m.expectedSizes.single.responseBytes,
        samplesPerBatch: m.plans.batch.samplesPerRequest,
      },
      sample: m.testVectors[0]?.input ?? [],
      trust: this.trust(m),
    };
  }

  private trust(m: CatalogModel): ModelTrustView {
    const t = trustOf(m);
    return { status: t.status, ...(t.publisher ? { publisherFingerprint: formatFingerprint(t.publisher.fingerprint), ...(t.publisher.name ? { publisherName: t.publisher.name } : {}) } : {}) };
  }

  private async models(): Promise<ModelSummary[]> {
    const flow = await this.requireFlow();
    return (await flow.models()).map((m) => this.summary(m));
  }

  private emit(runId: string, e: StageEvent): void {
    const event: ProgressEvent = { runId, stage: e.stage, state: e.state, ...(e.ms !== undefined ? { ms: e.ms } : {}), ...(e.transfer ? { loaded: e.transfer.loaded, ...(e.transfer.total !== undefined ? { total: e.transfer.total } : {}) } : {}) };
    for (const l of this.listeners) l(event);
  }

  private async predict(request: PredictionRequest): Promise<PredictionView> {
    const flow = await this.requireFlow();
    const controller = new AbortController();
    this.runs.set(request.runId, controller);
    try {
      const r = await flow.predict(request.modelId, request.input, { signal: controller.signal, onStage: (e) => this.emit(request.runId, e) });
      return {
        runId: request.runId,
        modelId: r.modelId,
        modelVersion: r.modelVersion,
        values: r.values,
        ...(r.classIndex !== undefined ? { classIndex: r.classIndex } : {}),
        ...(r.label !== undefined ? { label: r.label } : {}),
        timings: r.timings,
        bytes: r.bytes,
        canary: r.canary,
        historyId: r.historyId,
        ...(r.outsideTraining ? { outsideTraining: r.outsideTraining } : {}),
      };
    } finally {
      this.runs.delete(request.runId);
    }
  }

  private async batch(request: BatchRequest): Promise<BatchView> {
    const flow = await this.requireFlow();
    const controller = new AbortController();
    this.runs.set(request.runId, controller);
    try {
      const scored = await scoreCsv(flow, request.modelId, parseCsv(request.csv), { signal: controller.signal, onStage: (e) => this.emit(request.runId, e) });
      const rows = scored.rows.map(
        (r): BatchRowView => ({
          row: r.row,
          ok: r.ok,
          ...(r.values ? { values: r.values } : {}),
          ...(r.label !== undefined ? { label: r.label } : {}),
          ...(r.error ? { error: r.error } : {}),
          // A row with the wrong number of cells is refused by the CSV reader before the flow, without a code.
          ...(r.code ? { code: r.code } : !r.ok ? { code: 'input_invalid' } : {}),
          ...(r.field ? { field: r.field } : {}),
          ...(r.outsideTraining ? { outsideTraining: r.outsideTraining } : {}),
        }),
      );
      return { modelId: scored.model.id, rows, scored: scored.ok, failed: scored.errors, csv: scored.csv };
    } finally {
      this.runs.delete(request.runId);
    }
  }

  private history(query: { limit?: number; offset?: number }): HistoryView {
    const page = this.requireVault().listHistory({ limit: Math.min(500, Math.max(1, query.limit ?? 100)), offset: Math.max(0, query.offset ?? 0) });
    return {
      items: page.entries.map((e) => ({ id: e.id, modelId: e.modelId, modelVersion: e.modelVersion, provider: e.provider, createdAt: e.createdAt, input: e.input, result: e.result })),
      unreadable: page.unreadable.map((u) => ({ id: u.id, code: u.code })),
      total: page.total,
    };
  }

  // ---- keys --------------------------------------------------------------------------------

  private async keys(): Promise<KeysView> {
    const vault = this.requireVault();
    const flow = await this.requireFlow();
    const byFingerprint = new Map<string, { models: Set<string>; fingerprint: string }>();
    for (const m of await flow.models()) {
      for (const mode of ['single', 'batch'] as const) {
        const fp = m.plans[mode].params.fingerprint;
        const entry = byFingerprint.get(fp) ?? { models: new Set<string>(), fingerprint: fp };
        entry.models.add(m.id);
        byFingerprint.set(fp, entry);
      }
    }
    return {
      parameterSets: [...byFingerprint.values()].map((e) => {
        const versions = vault.secretKeyVersions(e.fingerprint);
        return { fingerprint: e.fingerprint.slice(0, 12), models: [...e.models].sort(), versions, current: versions.length ? Math.max(...versions) : null };
      }),
    };
  }

  private async rotateKeys(): Promise<KeysView> {
    const flow = await this.requireFlow();
    const keyring = this.keyring!;
    const seen = new Set<string>();
    for (const m of await flow.models()) {
      for (const mode of ['single', 'batch'] as const) {
        const params = m.plans[mode].params;
        if (seen.has(params.fingerprint)) continue;
        seen.add(params.fingerprint);
        await keyring.rotate(params);
      }
    }
    return this.keys();
  }

  private async exportBackup(backupPassphrase: string): Promise<{ path: string; bytes: number }> {
    const vault = this.requireVault();
    if (typeof backupPassphrase !== 'string' || backupPassphrase.length < MIN_PASSPHRASE) {
      throw new AppError('weak_passphrase', `choose a backup passphrase of at least ${MIN_PASSPHRASE} characters`);
    }
    const chosen = this.options.chooseBackupPath ? await this.options.chooseBackupPath() : join(this.options.dataDir, `ciphercare-backup-${Date.now()}.ccbackup`);
    if (!chosen) throw new AppError('cancelled', 'the backup was cancelled');
    await vault.exportBackup(chosen, backupPassphrase);
    return { path: chosen, bytes: statSync(chosen).size };
  }

  /** Stops the bundled service, locks and closes the vault. */
  async close(): Promise<void> {
    for (const c of this.runs.values()) c.abort();
    this.keyring?.dispose();
    this.keyring = null;
    this.vault?.close();
    this.vault = null;
    await this.bundled?.stop();
    this.bundled = null;
  }
}

/** What `requests` separate check requests buy (computed as in docs/SECURITY.md) and cost. */
export function checkChoice(requests: number): CheckChoiceView {
  const missed = undetected('replace-one', { placement: 'requests', checks: requests }, { replay: 0, tampered: 0 });
  return { requests, replacedAnswerCaught: 1 - (missed ?? 1), requestsPerPrediction: requests + 1 };
}

/**
 * `changes_lost` in the app's words: the vault's message names the command line's option, which an
 * app user does not have; what was lost comes from the error's details.
 */
function lostChangesError(err: VaultError): AppError {
  const details = err.details ?? {};
  const missing = typeof details.missingChanges === 'number' ? details.missingChanges : undefined;
  const ids = details.historyIds as { from: number; to: number } | null | undefined;
  const keyVersions = details.keyVersions && typeof details.keyVersions === 'object' ? Object.keys(details.keyVersions).length : 0;
  const parts: string[] = [];
  if (ids) parts.push(ids.from === ids.to ? `history entry ${ids.from}` : `history entries ${ids.from} to ${ids.to}`);
  if (keyVersions > 0) parts.push(`the newest keys of ${keyVersions} key set${keyVersions === 1 ? '' : 's'}`);
  const what = parts.length > 0 ? `${parts.join(' and ')}, and possibly settings` : 'settings or key records';
  const count = missing === undefined ? 'some saved changes' : `${missing} saved change${missing === 1 ? '' : 's'}`;
  return new AppError(
    'changes_lost',
    `the vault file is missing ${count} (${what}). They were saved, but the file that held them last (vault.sqlite-wal, beside the vault) was deleted or lost after a crash, or an older copy of the vault was put back. Everything else in the vault is intact and readable`,
  );
}
