import { monitorEventLoopDelay } from "node:perf_hooks";
import { nowMs, sleep } from "./stats.js";

/**
 * The reporting loop of one task in the progress scenario, the same for
 * every system: one report per tick at `perSecond`, ticks at fixed times from
 * the loop's start, so a loop that falls behind makes fewer reports instead
 * of bursting to catch up. Returns the reports made.
 */
export async function reportFor(seconds: number, perSecond: number, report: (current: number, total: number) => void | Promise<void>): Promise<number> {
  const start = nowMs();
  const every = 1000 / perSecond;
  const total = Math.round(seconds * perSecond);
  let made = 0;
  for (;;) {
    const now = nowMs();
    if (now - start >= seconds * 1000) return made;
    await report(Math.min(total, Math.floor((now - start) / every) + 1), total);
    made++;
    const next = start + made * every;
    await sleep(Math.max(0, next - nowMs()));
  }
}

/** Times the reporting window of many tasks (first loop start to last loop end) and the event loop's delay meanwhile. */
export class FleetWindow {
  private first: number | null = null;
  private last = 0;
  private running = 0;
  reports = 0;
  private readonly delay = monitorEventLoopDelay({ resolution: 10 });

  begin(): void {
    if (this.first === null) {
      this.first = nowMs();
      this.delay.enable();
    }
    this.running++;
  }

  end(reports: number): void {
    this.reports += reports;
    this.last = nowMs();
    if (--this.running === 0) this.delay.disable();
  }

  get seconds(): number {
    return this.first === null ? 0 : (this.last - this.first) / 1000;
  }

  /** Event loop delay p99 and max over the window, in ms. */
  lag(): { p99: number; max: number } {
    return { p99: this.delay.percentile(99) / 1e6, max: this.delay.max / 1e6 };
  }
}
