import { monitorEventLoopDelay } from "node:perf_hooks";
import type { ScenarioResult } from "./protocol.js";
import { nowMs, peakRssMb, sleep } from "./stats.js";

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

/**
 * The progress scenario's result for every system: events the system kept per
 * second of the window, reports made, the loop's lag. `unrankedSaved`: the
 * system saves progress at a bounded rate by design, so its kept events get no ratio.
 */
export function fleetResult(
  window: FleetWindow,
  run: { tasks: number; perSecond: number; seconds: number; saved: number; unrankedSaved?: boolean; detail?: Record<string, number> },
): ScenarioResult {
  const lag = window.lag();
  return {
    metrics: [
      { name: "saved progress events/s", value: run.saved / window.seconds, unit: "events/s", better: "higher", ...(run.unrankedSaved ? { unranked: true } : {}) },
      { name: "reports/s", value: window.reports / window.seconds, unit: "reports/s", better: "higher" },
      { name: "event loop lag p99", value: lag.p99, unit: "ms", better: "lower" },
    ],
    peakRssMb: peakRssMb(),
    detail: {
      tasks: run.tasks,
      reportsPerTaskPerSecond: run.perSecond,
      seconds: run.seconds,
      windowMs: Math.round(window.seconds * 1000),
      reports: window.reports,
      savedProgressEvents: run.saved,
      ...run.detail,
      eventLoopLagMaxMs: Number(lag.max.toFixed(1)),
    },
  };
}
