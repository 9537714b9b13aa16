/**
 * Payload schemas of every IPC method: what the renderer may send, checked before anything runs.
 * Small and explicit on purpose: each validator returns an error message or null.
 */
export type Check = (value: unknown) => string | null;

const RUN_ID = /^[A-Za-z0-9_-]{1,64}$/;
const MODEL_ID = /^[a-z0-9][a-z0-9-]{0,63}$/;

export const str =
  (max: number, min = 0): Check =>
  (v) =>
    typeof v === 'string' && v.length >= min && v.length <= max ? null : `a text of ${min} to ${max} characters`;

const pattern =
  (re: RegExp, what: string): Check =>
  (v) =>
    typeof v === 'string' && re.test(v) ? null : what;

const finiteNumber = (v: unknown): boolean => typeof v === 'number' && Number.isFinite(v);

const inputValues: Check = (v) => {
  if (Array.isArray(v)) return v.length >= 1 && v.length <= 4096 && v.every(finiteNumber) ? null : 'an array of 1 to 4096 finite numbers';
  if (v && typeof v === 'object') {
    const entries = Object.entries(v);
    return entries.length >= 1 && entries.length <= 256 && entries.every(([k, x]) => /^[A-Za-z0-9_]{1,64}$/.test(k) && finiteNumber(x)) ? null : 'named finite numbers';
  }
  return 'input values';
};

const object =
  (fields: Record<string, { check: Check; optional?: boolean }>): Check =>
  (v) => {
    if (!v || typeof v !== 'object' || Array.isArray(v)) return 'an object';
    const record = v as Record<string, unknown>;
    for (const key of Object.keys(record)) if (!(key in fields)) return `no field "${key}"`;
    for (const [key, { check, optional }] of Object.entries(fields)) {
      if (record[key] === undefined) {
        if (optional) continue;
        return `a field "${key}"`;
      }
      const problem = check(record[key]);
      if (problem) return `${key}: ${problem}`;
    }
    return null;
  };

const int =
  (min: number, max: number): Check =>
  (v) =>
    Number.isInteger(v) && (v as number) >= min && (v as number) <= max ? null : `an integer from ${min} to ${max}`;

const providerInput: Check = (v) => {
  const kind = (v as { kind?: unknown } | null)?.kind;
  if (kind === 'bundled') return object({ kind: { check: () => null } })(v);
  if (kind === 'remote') return object({ kind: { check: () => null }, url: { check: str(2048, 8) }, apiKey: { check: str(512, 1), optional: true } })(v);
  return 'a provider of kind bundled or remote';
};

const passphrase = str(1024, 1);

/** Argument checks per channel (positional). */
export const SCHEMAS: Record<string, Check[]> = {
  'ciphercare:vault:status': [],
  'ciphercare:vault:create': [passphrase],
  'ciphercare:vault:unlock': [passphrase],
  'ciphercare:vault:lock': [],
  'ciphercare:vault:changePassphrase': [passphrase, passphrase],
  'ciphercare:vault:wipe': [str(16, 1)],
  'ciphercare:vault:unlockAcceptingLostChanges': [passphrase],
  'ciphercare:settings:get': [],
  'ciphercare:settings:setCheckRequests': [int(1, 16)],
  'ciphercare:trust:list': [],
  'ciphercare:trust:forget': [str(2048, 1)],
  'ciphercare:provider:get': [],
  'ciphercare:provider:set': [providerInput],
  'ciphercare:provider:test': [providerInput],
  'ciphercare:models:list': [],
  'ciphercare:predictions:run': [object({ runId: { check: pattern(RUN_ID, 'a run id') }, modelId: { check: pattern(MODEL_ID, 'a model id') }, input: { check: inputValues } })],
  'ciphercare:predictions:cancel': [pattern(RUN_ID, 'a run id')],
  'ciphercare:batch:run': [object({ runId: { check: pattern(RUN_ID, 'a run id') }, modelId: { check: pattern(MODEL_ID, 'a model id') }, csv: { check: str(20 * 2 ** 20, 1) } })],
  'ciphercare:history:list': [object({ limit: { check: int(1, 500), optional: true }, offset: { check: int(0, 1e9), optional: true } })],
  'ciphercare:keys:list': [],
  'ciphercare:keys:rotate': [],
  'ciphercare:keys:exportBackup': [passphrase],
  'ciphercare:keys:forgetAtProvider': [],
};

/** The first problem with a call's arguments, or null when they fit the channel's schema. */
export function checkArguments(channel: string, args: unknown[]): string | null {
  const schema = SCHEMAS[channel];
  if (!schema) return `unknown channel ${channel}`;
  if (args.length !== schema.length) return `expected ${schema.length} argument(s), got ${args.length}`;
  for (let i = 0; i < schema.length; i++) {
    const problem = schema[i]!(args[i]);
    if (problem) return `argument ${i + 1} must be ${problem}`;
  }
  return null;
}
