import { useEffect, useRef, useState } from 'react';
import type { StageName } from '../api/contract.js';
import { SLOW_STAGE_MS, SPOKEN_STAGES, endAnnouncement, stageAnnouncement } from './announce.js';
import type { RunState } from './use-prediction-run.js';

/**
 * The text of the run's one polite live region. Empty until something is worth saying; a stage is
 * announced once it has run for SLOW_STAGE_MS, the stages too quick for that are summarised when
 * the run ends, and no stage is announced twice.
 */
export function useRunAnnouncement(run: RunState): string {
  const [text, setText] = useState('');
  const announced = useRef<{ runId: string | null; stages: Set<StageName>; ended: boolean; cancelling: boolean }>({ runId: null, stages: new Set(), ended: false, cancelling: false });
  const latest = useRef(run);
  useEffect(() => {
    latest.current = run;
  });

  const runId = run.phase === 'idle' ? null : run.runId;
  const running = run.phase === 'running' ? SPOKEN_STAGES.find((s) => run.stages[s.name]?.state === 'running')?.name : undefined;
  const cancelling = run.phase === 'running' && run.cancelling;

  // A new run starts with nothing announced (effects run in this order, so before the ones below).
  useEffect(() => {
    if (runId !== null && announced.current.runId !== runId) announced.current = { runId, stages: new Set(), ended: false, cancelling: false };
  }, [runId]);

  // A stage still running after SLOW_STAGE_MS is announced on its own.
  useEffect(() => {
    if (!running || runId === null) return;
    const timer = setTimeout(() => {
      const now = latest.current;
      const state = announced.current;
      if (now.phase !== 'running' || now.runId !== runId || now.cancelling || now.stages[running]?.state !== 'running' || state.stages.has(running)) return;
      state.stages.add(running);
      setText(stageAnnouncement(running));
    }, SLOW_STAGE_MS);
    return () => clearTimeout(timer);
  }, [running, runId]);

  useEffect(() => {
    if (cancelling && !announced.current.cancelling) {
      announced.current.cancelling = true;
      setText('Cancelling…');
    }
  }, [cancelling]);

  const phase = run.phase;
  useEffect(() => {
    const now = latest.current;
    if (now.phase === 'idle' || now.phase === 'running' || announced.current.ended) return;
    announced.current.ended = true;
    const finished = SPOKEN_STAGES.filter((s) => now.stages[s.name]?.state === 'done').map((s) => s.name);
    setText(endAnnouncement(now.phase, finished, announced.current.stages));
  }, [phase, runId]);

  return text;
}
