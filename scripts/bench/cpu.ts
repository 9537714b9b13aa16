// How busy the rest of the machine was during a measurement: CPU time of the whole system
// (/proc/stat, steal included) minus that of this process and the service process it measures.
import { readFileSync } from 'node:fs';

/** Linux's USER_HZ: /proc times are in hundredths of a second. */
const TICK_S = 0.01;

function systemBusySeconds(): number {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest time is already counted in user)
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = fields;
  return (user + nice + system + irq + softirq + steal) * TICK_S;
}

function processSeconds(pid: number | 'self'): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const after = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14 and 15 of proc(5), utime and stime, counted from field 3 (the state) here.
  return (Number(after[11]) + Number(after[12])) * TICK_S;
}

function ownSeconds(pids: readonly (number | 'self')[]): number {
  let total = 0;
  for (const pid of pids) total += processSeconds(pid);
  return total;
}

export class CpuMeter {
  private constructor(
    private readonly pids: (number | 'self')[],
    private readonly wall: number,
    private readonly busy: number,
    private readonly own: number,
  ) {}

  /** Starts measuring; `pids` are other processes of the benchmark (the service process). */
  static start(pids: number[] = []): CpuMeter | null {
    try {
      const all: (number | 'self')[] = ['self', ...pids];
      return new CpuMeter(all, performance.now(), systemBusySeconds(), ownSeconds(all));
    } catch {
      return null;
    }
  }

  /** Mean number of cores that other processes kept busy since the start (NaN when /proc cannot say). */
  othersCores(): number {
    try {
      const seconds = (performance.now() - this.wall) / 1000;
      const own = ownSeconds(this.pids) - this.own;
      return Math.max(0, (systemBusySeconds() - this.busy - own) / seconds);
    } catch {
      return Number.NaN;
    }
  }
}

export function othersCores(meter: CpuMeter | null): number {
  return meter ? Math.round(meter.othersCores() * 100) / 100 : Number.NaN;
}
