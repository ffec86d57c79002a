/**
 * The client's one use of time: run `run` once after `ms`; the returned
 * function cancels it. Tests pass timers they move by hand.
 */
export interface ClientTimers {
  after(ms: number, run: () => void): () => void;
}

export const realTimers: ClientTimers = {
  after(ms, run) {
    const timer = setTimeout(run, ms);
    return () => clearTimeout(timer);
  },
};
