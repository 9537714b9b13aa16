import { ClientKeyring } from '../flow/client-keys.js';
import { PredictionFlow } from '../flow/prediction-flow.js';
import { launchBundledService } from '../provider/bundled-service.js';
import { DEADLINE_SETTING, secondsToDeadlineMs } from '../provider/deadline.js';
import type { BundledService } from '../provider/bundled-service.js';
import { ProviderClient } from '../provider/provider-client.js';
import type { ProviderConfig } from '../provider/provider-client.js';
import { Vault, VaultError, defaultDataDir } from '../vault/index.js';
import { CliError, EXIT } from './errors.js';
import { Output } from './output.js';
import { SecretSource } from './passphrase.js';
import type { SecretEnv } from './passphrase.js';
import { progressEnabled } from './progress.js';

/** The global options, as commander parses them. */
export interface GlobalOptions {
  provider?: string;
  apiKey?: string;
  dataDir?: string;
  json?: boolean;
  passphraseStdin?: boolean;
  /** Open a vault that lost committed changes (changes_lost) instead of refusing it. */
  acceptLostChanges?: boolean;
}

/**
 * Where predictions go: the bundled service this process launches, a service already running on
 * this machine's loopback address (http, its bearer token as the API key), or a remote provider
 * (https only, API key).
 */
export type ProviderTarget = { kind: 'launch'; label: 'bundled' } | { kind: 'url'; config: ProviderConfig; label: string };

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

export function parseProvider(value: string | undefined, apiKey: string | undefined): ProviderTarget {
  if (value === undefined || value === 'bundled') return { kind: 'launch', label: 'bundled' };
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new CliError(`--provider takes "bundled" or a URL (https://provider.example, or http://127.0.0.1:PORT for a local service); got "${value}"`);
  }
  if (url.username || url.password) throw new CliError('--provider: put the API key in --api-key or CIPHERCARE_API_KEY, not in the URL');
  const base = `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
  if (url.protocol === 'http:' && LOOPBACK.has(url.hostname)) {
    if (!apiKey) throw new CliError(`the local service at ${base} needs its bearer token: pass --api-key or set CIPHERCARE_API_KEY`);
    return { kind: 'url', config: { kind: 'bundled', url: base, credential: apiKey }, label: `local ${base}` };
  }
  if (url.protocol === 'http:') throw new CliError(`a remote provider must use https:// (got ${base}); plain http is accepted on the loopback address only`);
  if (url.protocol !== 'https:') throw new CliError(`--provider: unsupported URL scheme ${url.protocol}`);
  if (!apiKey) throw new CliError(`the provider at ${base} needs an API key: pass --api-key or set CIPHERCARE_API_KEY`);
  return { kind: 'url', config: { kind: 'remote', url: base, credential: apiKey }, label: base };
}

/** `--deadline SECONDS`: a positive number of seconds, returned in milliseconds. */
export function parseDeadlineSeconds(value: string): number {
  const ms = secondsToDeadlineMs(value);
  if (ms === undefined) throw new CliError(`--deadline takes a positive number of seconds (got "${value}")`);
  return ms;
}

/** Everything a command opens from the global options, closed in one place (vault, key ring, service). */
export class CliContext {
  readonly out: Output;
  readonly secrets: SecretSource;
  readonly dataDir: string;
  readonly progress: boolean;
  /** Aborted on Ctrl+C: the flow stops between stages. */
  readonly abort = new AbortController();
  private vault: Vault | undefined;
  private keyring: ClientKeyring | undefined;
  private service: BundledService | undefined;
  private starting: Promise<ProviderClient> | undefined;
  private client: ProviderClient | undefined;
  private target: ProviderTarget | undefined;
  /** --deadline (predict, batch), in ms; set before `flow()`. Else the vault's DEADLINE_SETTING; else computed per call. */
  deadlineMs: number | undefined;

  constructor(
    readonly options: GlobalOptions,
    private readonly secretEnv: SecretEnv,
  ) {
    this.out = new Output(options.json === true);
    this.secrets = new SecretSource(secretEnv, options.passphraseStdin === true);
    this.dataDir = options.dataDir ?? defaultDataDir();
    this.progress = progressEnabled(options.json === true);
  }

  get json(): boolean {
    return this.options.json === true;
  }

  providerTarget(): ProviderTarget {
    this.target ??= parseProvider(this.options.provider, this.options.apiKey ?? this.secretEnv.CIPHERCARE_API_KEY);
    return this.target;
  }

  get providerLabel(): string {
    return this.providerTarget().label;
  }

  /** The provider client; for "bundled", launches the service (stopped by close()). */
  provider(): Promise<ProviderClient> {
    this.starting ??= (async () => {
      const target = this.providerTarget();
      const deadline = this.deadline();
      if (target.kind === 'url') {
        this.client = new ProviderClient({ ...target.config, ...deadline });
        return this.client;
      }
      if (!this.json) this.out.note('starting the bundled evaluation service…');
      this.service = await launchBundledService();
      this.client = new ProviderClient({ kind: 'bundled', url: this.service.url, credential: this.service.token, ...deadline });
      return this.client;
    })();
    return this.starting;
  }

  /** Opens the vault at --data-dir (locked); with --accept-lost-changes, one that lost changes, saying so. */
  openVault(): Vault {
    const vault = Vault.open(this.dataDir, this.options.acceptLostChanges === true ? { acceptLostChanges: true } : {});
    if (vault.lostChanges) this.out.warn(vault.lostChanges.message);
    return vault;
  }

  /** The fixed deadline, if one is asked for: the flag first, then the vault setting. */
  private deadline(): { deadlineMs?: number } {
    if (this.deadlineMs !== undefined) return { deadlineMs: this.deadlineMs };
    const setting = this.vault?.getSetting(DEADLINE_SETTING);
    if (setting === undefined) return {};
    const ms = secondsToDeadlineMs(setting);
    if (ms === undefined) throw new CliError(`the vault setting ${DEADLINE_SETTING} must be a positive number of seconds (it is "${setting}"); fix or delete it`, EXIT.usage);
    return { deadlineMs: ms };
  }

  /** Opens the vault at --data-dir and unlocks it (three tries at an interactive prompt). */
  async unlockedVault(): Promise<Vault> {
    if (this.vault?.isUnlocked) return this.vault;
    this.vault ??= this.openVault();
    for (let attempt = 1; ; attempt++) {
      const passphrase = await this.secrets.get({ env: 'CIPHERCARE_PASSPHRASE', what: 'passphrase' });
      try {
        await this.vault.unlock(passphrase);
        return this.vault;
      } catch (err) {
        const retry = err instanceof VaultError && err.code === 'wrong_passphrase' && this.secrets.interactive && !this.secrets.fromEnv('CIPHERCARE_PASSPHRASE') && attempt < 3;
        if (!retry) throw err;
        this.out.note('wrong passphrase, try again');
      }
    }
  }

  /** The vault (unlocked), its key ring and a prediction flow against the chosen provider. */
  async flow(): Promise<{ flow: PredictionFlow; vault: Vault; keyring: ClientKeyring }> {
    // Fail fast on a missing vault; then start the service while scrypt (or the person) works on the passphrase.
    this.vault ??= this.openVault();
    this.providerTarget();
    const providerPromise = this.provider();
    providerPromise.catch(() => undefined);
    const vault = await this.unlockedVault();
    const provider = await providerPromise;
    this.keyring ??= new ClientKeyring(vault);
    return { flow: new PredictionFlow(vault, this.keyring, provider, this.providerLabel, { selfLaunched: this.providerTarget().kind === 'launch' }), vault, keyring: this.keyring };
  }

  /** Closes what was opened: key ring (SEAL memory), vault (data key zeroed), bundled service. */
  async close(): Promise<void> {
    this.secrets.close();
    this.keyring?.dispose();
    this.keyring = undefined;
    this.vault?.close();
    this.vault = undefined;
    if (this.starting) await this.starting.catch(() => undefined);
    const service = this.service;
    this.service = undefined;
    await service?.stop();
  }
}
