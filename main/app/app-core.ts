import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { formatFingerprint } from '../../he-core/index.js';
import type { CatalogModel, PublicPlan } from '../../he-core/index.js';
import type {
  BatchRequest,
  BatchView,
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
  VaultStatus,
} from '../../preload/contract.js';
import { ClientKeyring } from '../flow/client-keys.js';
import { PredictionFlow } from '../flow/prediction-flow.js';
import { checkCatalog, trustOf } from '../flow/trust.js';
import type { StageEvent } from '../flow/prediction-flow.js';
import { launchBundledService } from '../provider/bundled-service.js';
import type { BundledService, LaunchOptions } from '../provider/bundled-service.js';
import { DEADLINE_SETTING, secondsToDeadlineMs } from '../provider/deadline.js';
import { ProviderClient } from '../provider/provider-client.js';
import type { ProviderConfig } from '../provider/provider-client.js';
import { Vault, vaultFilePath } from '../vault/index.js';
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

  private openVault(): Vault {
    if (!this.vault || this.vault.isClosed) this.vault = Vault.open(this.options.dataDir, this.options.kdf ? { kdf: this.options.kdf } : {});
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

  private async unlock(passphrase: string): Promise<VaultStatus> {
    const vault = this.openVault();
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
      const rows = scored.rows.map((r) => ({
        row: r.row,
        ok: r.ok,
        ...(r.values ? { values: r.values } : {}),
        ...(r.label !== undefined ? { label: r.label } : {}),
        ...(r.error ? { error: r.error } : {}),
        ...(r.field ? { field: r.field } : {}),
      }));
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
