import type { Clock } from "../engine/clock.js";

/** At most `limit` in any `windowMs`, as a steady rate with that burst. */
export interface RateLimit {
  limit: number;
  windowMs: number;
}

/** Keys tracked at most: past it the longest-idle key is forgotten (it gets a full budget back). */
const MAX_KEYS = 100_000;

/**
 * One budget per key (a client address), by the generic cell rate
 * algorithm: each key keeps only the time its budget is full again, so a
 * key costs two numbers and needs no timer. A key idle for a window has a
 * full budget and is dropped, oldest first, on the next call: memory holds
 * the keys of the last window, and never more than `maxKeys`.
 */
export class RateLimiter {
  private readonly keys = new Map<string, { fullAt: number; touchedAt: number }>();
  private readonly interval: number;
  private readonly burst: number;

  constructor(
    private readonly rate: RateLimit,
    private readonly clock: Clock,
    private readonly maxKeys = MAX_KEYS,
  ) {
    this.interval = rate.windowMs / rate.limit;
    this.burst = rate.windowMs - this.interval;
  }

  /** Keys held now. */
  get size(): number {
    return this.keys.size;
  }

  /** Spends one for `key`: null when allowed, else the milliseconds until one is back. */
  take(key: string): number | null {
    const now = this.clock();
    this.forgetIdle(now);
    const held = this.keys.get(key);
    const fullAt = Math.max(held?.fullAt ?? now, now);
    if (fullAt - now > this.burst) return Math.ceil(fullAt - now - this.burst);
    // Re-inserted so the map stays in order of last use, which forgetIdle relies on.
    this.keys.delete(key);
    this.keys.set(key, { fullAt: fullAt + this.interval, touchedAt: now });
    if (this.keys.size > this.maxKeys) this.keys.delete(this.keys.keys().next().value!);
    return null;
  }

  private forgetIdle(now: number): void {
    for (const [key, entry] of this.keys) {
      if (now - entry.touchedAt < this.rate.windowMs) return;
      this.keys.delete(key);
    }
  }
}
