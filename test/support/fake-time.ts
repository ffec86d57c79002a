import type { CancelTimer, Clock, Timers } from "../../src/engine/clock.js";

interface Pending {
  at: number;
  order: number;
  run: () => void;
  every: number | null;
  cancelled: boolean;
}

/**
 * A clock and timers that move only when the test says: give both to an
 * engine (`{ clock: time.clock, timers: time.timers }`) and call `advance`.
 * Timers run in time order; between them the promises and I/O they started
 * get a few turns of the real event loop.
 */
export class FakeTime {
  private pending: Pending[] = [];
  private order = 0;

  constructor(public now: number) {}

  readonly clock: Clock = () => this.now;

  readonly timers: Timers = {
    after: (ms, run) => this.add(ms, run, null),
    every: (ms, run) => this.add(ms, run, Math.max(1, ms)),
  };

  /** Timers waiting, for a test that checks nothing was left behind. */
  get waiting(): number {
    return this.pending.filter((p) => !p.cancelled).length;
  }

  /** Moves time forward by `ms`, running every timer due on the way. */
  async advance(ms: number): Promise<void> {
    const end = this.now + ms;
    for (;;) {
      const next = this.pending.filter((p) => !p.cancelled && p.at <= end).sort((a, b) => a.at - b.at || a.order - b.order)[0];
      if (!next) break;
      this.now = Math.max(this.now, next.at);
      if (next.every === null) next.cancelled = true;
      else next.at += next.every;
      next.run();
      await settle();
    }
    this.pending = this.pending.filter((p) => !p.cancelled);
    this.now = end;
    await settle();
  }

  private add(ms: number, run: () => void, every: number | null): CancelTimer {
    const entry: Pending = { at: this.now + Math.max(0, ms), order: this.order++, run, every, cancelled: false };
    this.pending.push(entry);
    return () => void (entry.cancelled = true);
  }
}

/** A few turns of the real event loop, for work a timer started (writes group-commit on setImmediate). */
export async function settle(turns = 5): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise((resolve) => setImmediate(resolve));
}
