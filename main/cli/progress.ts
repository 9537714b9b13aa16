import cliProgress from 'cli-progress';
import type { Stage, StageEvent } from '../flow/prediction-flow.js';
import { bytes } from './output.js';

/** Bars only for a person at a terminal: stdout and stderr both TTYs, and not --json. */
export function progressEnabled(json: boolean): boolean {
  return !json && process.stdout.isTTY === true && process.stderr.isTTY === true && process.env.CIPHERCARE_NO_PROGRESS !== '1';
}

const STAGES: Stage[] = ['validate', 'keys', 'upload', 'encrypt', 'evaluate', 'decrypt', 'store'];
const STAGE_TEXT: Record<Stage, string> = {
  validate: 'checking the input',
  keys: 'key generation',
  upload: 'uploading evaluation keys',
  encrypt: 'encrypting',
  evaluate: 'evaluating on ciphertexts',
  decrypt: 'decrypting',
  store: 'saving to the encrypted history',
};

function bar(format: string): cliProgress.SingleBar {
  return new cliProgress.SingleBar(
    { format, stream: process.stderr, clearOnComplete: true, hideCursor: true, barsize: 24, fps: 10, etaBuffer: 20 },
    cliProgress.Presets.shades_classic,
  );
}

/** A progress bar fed by one prediction's stage events (key generation, upload with bytes, evaluation). */
export class StageProgress {
  private readonly bar: cliProgress.SingleBar | undefined;
  private reached = 0;

  constructor(enabled: boolean, private readonly title: string) {
    if (!enabled) return;
    this.bar = bar(`${title.padEnd(22)} {bar} {stage}{detail}`);
    this.bar.start(STAGES.length, 0, { stage: 'starting', detail: '' });
  }

  readonly onStage = (event: StageEvent): void => {
    if (!this.bar) return;
    const index = STAGES.indexOf(event.stage);
    if (event.state === 'done') this.reached = Math.max(this.reached, index + 1);
    let detail = '';
    if (event.state === 'progress' && event.transfer) {
      const { loaded, total, direction } = event.transfer;
      detail = ` (${direction === 'upload' ? 'sent' : 'received'} ${bytes(loaded)}${total ? ` of ${bytes(total)}` : ''})`;
    }
    this.bar.update(this.reached, { stage: STAGE_TEXT[event.stage], detail });
  };

  stop(): void {
    if (!this.bar) return;
    this.bar.update(STAGES.length, { stage: 'done', detail: '' });
    this.bar.stop();
  }
}

/** A counting bar: rows of a batch, parameter sets of a key rotation. */
export class CountProgress {
  private readonly bar: cliProgress.SingleBar | undefined;

  constructor(enabled: boolean, title: string, total: number, unit: string) {
    if (!enabled || total <= 0) return;
    this.bar = bar(`${title.padEnd(22)} {bar} {value}/{total} ${unit}{detail}`);
    this.bar.start(total, 0, { detail: '' });
  }

  update(value: number, detail = ''): void {
    this.bar?.update(value, { detail: detail ? ` | ${detail}` : '' });
  }

  detail(text: string): void {
    this.bar?.update({ detail: text ? ` | ${text}` : '' });
  }

  stop(): void {
    this.bar?.stop();
  }
}

export { STAGE_TEXT };
