/** Milliseconds since the epoch. Injected so tests control time. */
export type Clock = () => number;

export const systemClock: Clock = () => Date.now();

/** Stops a timer; calling it again does nothing. */
export type CancelTimer = () => void;

/**
 * Where the engine's waits come from, beside the clock: the worker loop's
 * polls, the scheduler's ticks, progress coalescing, timeouts, heartbeats,
 * lease recovery and SSE pings. Injected with the clock so tests run them on
 * fake time. `unref`: the wait alone does not keep the process alive.
 */
export interface Timers {
  after(ms: number, run: () => void, options?: { unref?: boolean }): CancelTimer;
  every(ms: number, run: () => void, options?: { unref?: boolean }): CancelTimer;
}

export const systemTimers: Timers = {
  after(ms, run, options) {
    const timer = setTimeout(run, ms);
    if (options?.unref) timer.unref();
    return () => clearTimeout(timer);
  },
  every(ms, run, options) {
    const timer = setInterval(run, ms);
    if (options?.unref) timer.unref();
    return () => clearInterval(timer);
  },
};

/** What the engine logs through; pino loggers fit as they are. */
export interface Logger {
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
}

export const consoleLogger: Logger = {
  info: () => {},
  warn: (obj, msg) => console.warn(`[outlast] ${msg ?? ""}`, obj),
  error: (obj, msg) => console.error(`[outlast] ${msg ?? ""}`, obj),
};
