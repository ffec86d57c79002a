/** Exponential backoff between attempts. */
export interface BackoffOptions {
  /** Delay before the second attempt. @defaultValue 1000 */
  baseMs?: number;
  /** Ceiling for any delay. @defaultValue 60000 */
  maxMs?: number;
  /** Share of the delay that is randomised, 0..1. @defaultValue 0.2 */
  jitter?: number;
}

/** Delay after attempt number `attempt` (1-based) failed. `random` is injectable for tests. */
export function backoffDelay(attempt: number, options: BackoffOptions = {}, random: () => number = Math.random): number {
  const base = Math.max(0, options.baseMs ?? 1000);
  const max = Math.max(base, options.maxMs ?? 60_000);
  const jitter = Math.min(1, Math.max(0, options.jitter ?? 0.2));
  const raw = Math.min(max, base * 2 ** Math.max(0, attempt - 1));
  // Jitter pulls the delay down (never above max) so synchronized failures spread out.
  return Math.round(raw * (1 - jitter * random()));
}
