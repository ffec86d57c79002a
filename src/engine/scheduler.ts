import { Cron } from "croner";
import { OutlastError } from "../core/errors.js";
import type { Store, SubmitRequest } from "../store/store.js";
import { systemTimers, type CancelTimer, type Clock, type Logger, type Timers } from "./clock.js";

interface Schedule {
  name: string;
  cron: Cron;
  build: () => Promise<SubmitRequest>;
  timer: CancelTimer | null;
}

// setTimeout holds at most ~24.8 days; longer waits are re-armed.
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Fires cron schedules. Every process computes the same ticks; the store
 * lets only the first process that reaches a tick submit it.
 */
export class Scheduler {
  private readonly schedules = new Map<string, Schedule>();
  private running = false;

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly timers: Timers = systemTimers,
  ) {}

  add(name: string, pattern: string, build: () => Promise<SubmitRequest>): void {
    if (this.schedules.has(name)) throw new OutlastError("conflict", `Schedule "${name}" already exists`);
    let cron: Cron;
    try {
      cron = new Cron(pattern, { paused: true });
    } catch (error) {
      throw new OutlastError("bad_request", `Schedule "${name}": invalid cron pattern "${pattern}": ${(error as Error).message}`);
    }
    this.schedules.set(name, { name, cron, build, timer: null });
  }

  start(): void {
    this.running = true;
    for (const schedule of this.schedules.values()) if (!schedule.timer) this.arm(schedule);
  }

  stop(): void {
    this.running = false;
    for (const schedule of this.schedules.values()) {
      schedule.timer?.();
      schedule.timer = null;
    }
  }

  private arm(schedule: Schedule): void {
    if (!this.running) return;
    const next = schedule.cron.nextRun(new Date(this.clock()));
    if (!next) return;
    const tickAt = next.getTime();
    const wait = tickAt - this.clock();
    schedule.timer = this.timers.after(Math.min(Math.max(0, wait), MAX_TIMER_MS), () => {
      schedule.timer = null;
      if (wait > MAX_TIMER_MS) return this.arm(schedule);
      void this.fire(schedule, tickAt).finally(() => this.arm(schedule));
    });
  }

  private async fire(schedule: Schedule, tickAt: number): Promise<void> {
    try {
      const request = await schedule.build();
      await this.store.fireSchedule(schedule.name, tickAt, request, this.clock());
    } catch (error) {
      this.logger.error({ err: error, schedule: schedule.name }, "a scheduled submit failed");
    }
  }
}
