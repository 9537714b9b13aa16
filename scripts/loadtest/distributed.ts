// The load test's target with --redis: a distributed deployment on 127.0.0.1 (2 fronts and 2
// worker processes of the real CLI on one Redis), clients spread over the fronts, and one worker
// SIGKILLed during the run and replaced by a new one (docs/deploy.md).
import type { BundledService } from '../../main/provider/bundled-service.js';
import { API_KEY, metricValue, startProcess, startRedis } from '../distributed/cluster.js';
import type { RedisServer, ServiceProcess } from '../distributed/cluster.js';
import type { Endpoint } from './client.js';

export interface DistributedTarget extends BundledService {
  /** The front client `i` talks to (round robin). */
  endpointFor(i: number): Endpoint;
  /** Call when the load starts: arms the worker kill. */
  loadStarted(): void;
  /** What was done to the deployment during the run, for the summary. */
  readonly faults: string[];
  /** 503 answers counted by all the fronts (and, into `faults`, the jobs they saw run more than once). */
  server503(): Promise<number>;
}

export interface DistributedLaunch {
  /** A Redis URL, or `local` to start redis-server on a free loopback port (no persistence). */
  redis: string;
  fronts: number;
  workers: number;
  /** Evaluation threads per worker process. */
  threads: number;
  maxQueue: number | undefined;
  /** Seconds after the load starts when one worker is SIGKILLed and a new one started. */
  killWorkerAfterS: number;
  log: (line: string) => void;
}

export async function launchDistributedService(options: DistributedLaunch): Promise<DistributedTarget> {
  let redis: RedisServer | undefined;
  let url = options.redis;
  if (options.redis === 'local') {
    redis = await startRedis();
    url = redis.url;
    options.log(`started redis-server on ${url} (no persistence, noeviction)`);
  }
  const fronts: ServiceProcess[] = [];
  const workers: ServiceProcess[] = [];
  const started = await Promise.allSettled([
    ...Array.from({ length: options.fronts }, () => startProcess(url, 'front', options.maxQueue !== undefined ? { maxQueue: options.maxQueue } : {})),
    ...Array.from({ length: options.workers }, () => startProcess(url, 'worker', { workers: options.threads, jobLockMs: 2_000 })),
  ]);
  for (const s of started) if (s.status === 'fulfilled') (s.value.role === 'front' ? fronts : workers).push(s.value);
  const failure = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failure) {
    await Promise.all([...fronts, ...workers].map((p) => p.kill()));
    await redis?.stop();
    throw failure.reason;
  }
  const faults: string[] = [];
  let killTimer: NodeJS.Timeout | undefined;
  let restarting: Promise<void> | undefined;
  const t0 = { at: 0 };
  const stamp = (): string => `t=${((performance.now() - t0.at) / 1000).toFixed(1)} s`;
  return {
    url: fronts[0]!.url,
    token: API_KEY,
    child: fronts[0]!.child,
    faults,
    endpointFor: (i) => ({ url: fronts[i % fronts.length]!.url, token: API_KEY }),
    loadStarted() {
      t0.at = performance.now();
      killTimer = setTimeout(() => {
        const victim = workers.shift()!;
        restarting = (async () => {
          await victim.kill();
          faults.push(`${stamp()}: worker pid ${victim.child.pid} SIGKILLed`);
          options.log(faults[faults.length - 1]!);
          const fresh = await startProcess(url, 'worker', { workers: options.threads, jobLockMs: 2_000 });
          workers.push(fresh);
          faults.push(`${stamp()}: a new worker (pid ${fresh.child.pid}) joined`);
          options.log(faults[faults.length - 1]!);
        })();
      }, options.killWorkerAfterS * 1000);
    },
    async server503() {
      let n = 0;
      let reruns = 0;
      for (const f of fronts) {
        const text = await f.metricsText();
        for (const line of text.split('\n')) if (line.startsWith('ciphercare_http_requests_total{') && line.includes('status="503"')) n += Number(line.slice(line.lastIndexOf(' ') + 1));
        reruns += metricValue(text, 'ciphercare_jobs_rerun_total{role="front"}');
      }
      faults.push(`jobs answered after running twice (their first worker died): ${reruns}`);
      return n;
    },
    async stop() {
      if (killTimer) clearTimeout(killTimer);
      await restarting?.catch(() => undefined);
      await Promise.all([...fronts, ...workers].map((p) => p.stop().catch(() => p.kill())));
      await redis?.stop();
    },
  };
}
