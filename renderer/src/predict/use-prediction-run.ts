import { useCallback, useEffect, useRef, useState } from 'react';
import { bridge, newRunId, toUiError } from '../api/bridge.js';
import type { BridgeError, PredictionView, ProgressEvent, StageName } from '../api/contract.js';

export interface StageState {
  state: 'pending' | 'running' | 'done';
  ms?: number;
  loaded?: number;
  total?: number;
}

export type RunState =
  | { phase: 'idle' }
  | { phase: 'running'; runId: string; stages: Partial<Record<StageName, StageState>>; startedAt: number; cancelling: boolean }
  | { phase: 'done'; runId: string; stages: Partial<Record<StageName, StageState>>; view: PredictionView }
  | { phase: 'failed'; runId: string; stages: Partial<Record<StageName, StageState>>; error: BridgeError }
  | { phase: 'cancelled'; runId: string; stages: Partial<Record<StageName, StageState>> };

function applyEvent(stages: Partial<Record<StageName, StageState>>, e: ProgressEvent): Partial<Record<StageName, StageState>> {
  const prev = stages[e.stage];
  const next: StageState = { state: e.state === 'done' ? 'done' : 'running' };
  const ms = e.ms ?? prev?.ms;
  if (ms !== undefined) next.ms = ms;
  const loaded = e.loaded ?? prev?.loaded;
  const total = e.total ?? prev?.total;
  if (loaded !== undefined) next.loaded = loaded;
  if (total !== undefined) next.total = total;
  return { ...stages, [e.stage]: next };
}

function withTimings(stages: Partial<Record<StageName, StageState>>, view: PredictionView): Partial<Record<StageName, StageState>> {
  const out = { ...stages };
  for (const [stage, ms] of Object.entries(view.timings) as [StageName, number | undefined][]) {
    out[stage] = ms === undefined ? { state: 'done' } : { state: 'done', ms };
  }
  return out;
}

/**
 * One prediction at a time: starts it, follows its stage events (matched by run id), cancels it.
 * The bridge settles the run; progress events only decorate it.
 */
export function usePredictionRun() {
  const [run, setRun] = useState<RunState>({ phase: 'idle' });
  const current = useRef<string | null>(null);

  useEffect(() => {
    const unsubscribe = bridge().predictions.onProgress((event) => {
      if (event.runId !== current.current) return;
      setRun((r) => (r.phase === 'running' && r.runId === event.runId ? { ...r, stages: applyEvent(r.stages, event) } : r));
    });
    return () => {
      unsubscribe();
      // Leaving the screen mid-run cancels it: nobody is left to see the answer.
      if (current.current) void bridge().predictions.cancel(current.current).catch(() => undefined);
    };
  }, []);

  const start = useCallback(async (modelId: string, input: number[]) => {
    const runId = newRunId();
    current.current = runId;
    setRun({ phase: 'running', runId, stages: {}, startedAt: performance.now(), cancelling: false });
    try {
      const view = await bridge().predictions.run({ runId, modelId, input });
      if (current.current !== runId) return;
      // The run's own timings are authoritative: progress events may still be in flight.
      setRun((r) => ({ phase: 'done', runId, stages: withTimings('stages' in r ? r.stages : {}, view), view }));
    } catch (err) {
      if (current.current !== runId) return;
      const error = toUiError(err);
      setRun((r) => {
        const stages = 'stages' in r ? r.stages : {};
        return error.code === 'cancelled' ? { phase: 'cancelled', runId, stages } : { phase: 'failed', runId, stages, error };
      });
    } finally {
      if (current.current === runId) current.current = null;
    }
  }, []);

  const cancel = useCallback(async () => {
    const runId = current.current;
    if (!runId) return;
    setRun((r) => (r.phase === 'running' ? { ...r, cancelling: true } : r));
    try {
      await bridge().predictions.cancel(runId);
    } catch {
      // The run may have finished meanwhile; its own settlement says what happened.
    }
  }, []);

  const reset = useCallback(() => {
    if (current.current === null) setRun({ phase: 'idle' });
  }, []);

  return { run, start, cancel, reset };
}
