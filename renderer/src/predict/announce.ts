import type { StageName } from '../api/contract.js';

/** The stages a run shows, in order, as a screen reader hears them: while running, and once done. */
export const SPOKEN_STAGES: { name: StageName; running: string; done: string }[] = [
  { name: 'keys', running: 'Loading your keys…', done: 'your keys loaded' },
  { name: 'upload', running: 'Sending the public keys to the provider…', done: 'the public keys sent to the provider' },
  { name: 'encrypt', running: 'Encrypting your values…', done: 'your values encrypted' },
  { name: 'evaluate', running: 'The provider is computing on the encrypted values…', done: 'the provider computed on the encrypted values' },
  { name: 'decrypt', running: 'Decrypting the answer…', done: 'the answer decrypted' },
];

/**
 * A stage is announced on its own only when it is still running after this long; a faster one
 * would be talked over by the next, so it is named once in the summary at the end instead.
 */
export const SLOW_STAGE_MS = 600;

export function stageAnnouncement(stage: StageName): string {
  return SPOKEN_STAGES.find((x) => x.name === stage)?.running ?? `${stage}…`;
}

function list(items: string[]): string {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}

/**
 * What the live region says when a run ends: the outcome, and the stages that finished without
 * having been announced (each stage is announced once: on its own while slow, or here).
 */
export function endAnnouncement(phase: 'done' | 'failed' | 'cancelled', finished: StageName[], announced: ReadonlySet<StageName>): string {
  if (phase === 'cancelled') return 'Cancelled. Nothing was stored, and nothing decrypted.';
  const quick = SPOKEN_STAGES.filter((s) => finished.includes(s.name) && !announced.has(s.name)).map((s) => s.done);
  const also = quick.length > 0 ? ` ${list(quick).replace(/^./, (c) => c.toUpperCase())}.` : '';
  return phase === 'done' ? `Finished.${also} The result follows.` : `The prediction failed.${also} The error follows.`;
}
