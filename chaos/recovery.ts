// When tasks finished, sampled from the store, and the faults injected, so
// each fault's recovery can be read as the time from the fault until the
// next task finished and every process was healthy again.
import type { StoreObserver } from "./observer.js";

export interface FaultRecord {
  kind: string;
  at: number;
  /** When the processes were healthy again (a killed worker ready, the server's /readyz answering). */
  healthyAt?: number;
  detail?: string;
}

export interface RecoveryRow {
  kind: string;
  count: number;
  /** Milliseconds, median and worst; null when no task finished after the fault within the run. */
  p50Ms: number | null;
  maxMs: number | null;
  unrecovered: number;
}

export class FinishClock {
  private readonly increases: number[] = [];
  private last = -1;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly observer: StoreObserver) {}

  start(everyMs = 200): void {
    const tick = async () => {
      const n = await this.observer.succeeded();
      if (n !== undefined && n > this.last) {
        if (this.last >= 0) this.increases.push(Date.now());
        this.last = n;
      }
      if (this.timer !== null) this.timer = setTimeout(() => void tick(), everyMs);
    };
    this.timer = setTimeout(() => void tick(), 0);
  }

  stop(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  /** Milliseconds from `at` until a task finished after `at` (and the processes were healthy), or null. */
  recoveryMs(fault: FaultRecord): number | null {
    const from = Math.max(fault.at, fault.healthyAt ?? fault.at);
    const next = this.increases.find((t) => t > from);
    return next === undefined ? null : next - fault.at;
  }
}

export function recoveryTable(faults: readonly FaultRecord[], clock: FinishClock): RecoveryRow[] {
  const kinds = [...new Set(faults.map((f) => f.kind))];
  return kinds.map((kind) => {
    const times = faults.filter((f) => f.kind === kind).map((f) => clock.recoveryMs(f));
    const known = times.filter((t): t is number => t !== null).sort((a, b) => a - b);
    return {
      kind,
      count: times.length,
      p50Ms: known.length ? known[Math.floor((known.length - 1) / 2)]! : null,
      maxMs: known.length ? known[known.length - 1]! : null,
      unrecovered: times.length - known.length,
    };
  });
}
