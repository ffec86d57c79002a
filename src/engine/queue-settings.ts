import { OutlastError } from "../core/errors.js";
import { byName, MAX_RATE_PERIOD_MS, type QueueLimitsPatch, type QueueSettings, type RateLimit } from "../core/queue-limits.js";
import type { Store } from "../store/store.js";
import type { Clock, Logger } from "./clock.js";
import type { QueueOptions } from "./definitions.js";

/** How often a process reads the stored limits again: an operator's change reaches it within this. */
export const SETTINGS_REFRESH_MS = 1_000;
export const DEFAULT_CONCURRENCY = 10;

/** An operator's change of a queue's limits, in the queue options' own names. null: no limit. */
export interface QueueLimitsChange {
  concurrency?: number | null;
  maxQueued?: number | null;
  perOwner?: { concurrency?: number | null; maxQueued?: number | null };
  /** Starts at most per window; null removes it. Whether it is keyed stays what code declares. */
  rateLimit?: { limit: number; periodMs: number } | null;
}

/**
 * This process's copy of the queues' stored settings (core/queue-limits.ts):
 * what it declares is written field by field, what the store holds is read
 * again each second, and the local share of a queue follows the stored limit.
 */
export class QueueSettingsCopy {
  private readonly settings = new Map<string, QueueSettings>();
  private readAt = -Infinity;
  private reading: Promise<QueueSettings[]> | null = null;

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {}

  /** Writes what this process's code declares of a queue (only that), and warns where it differs from an earlier declaration. */
  async declare(name: string, options: QueueOptions | undefined): Promise<void> {
    const declared: QueueLimitsPatch = {};
    const limit = (value: number) => (value === Infinity ? null : value);
    if (options?.concurrency !== undefined) declared.concurrency = limit(options.concurrency);
    if (options?.maxQueued !== undefined) declared.maxQueued = limit(options.maxQueued);
    if (options?.perOwner?.concurrency !== undefined) declared.ownerConcurrency = limit(options.perOwner.concurrency);
    if (options?.perOwner?.maxQueued !== undefined) declared.ownerMaxQueued = limit(options.perOwner.maxQueued);
    if (options?.rateLimit !== undefined) {
      const rate = options.rateLimit;
      declared.rateLimit = rate === null ? null : { limit: rate.limit, periodMs: rate.periodMs, keyed: rate.key !== undefined };
    }
    const { settings, conflicts } = await this.store.declareQueue(name, declared, this.clock());
    this.settings.set(name, settings);
    for (const conflict of conflicts) {
      const held = settings.overrides[conflict.field] !== undefined;
      this.logger.warn(
        { queue: name, ...conflict },
        `queue "${name}": this process declares ${conflict.field} ${limitText(conflict.declared)} where ${limitText(conflict.stored)} was declared before; ` +
          (held ? `an operator's ${limitText(settings.overrides[conflict.field] ?? null)} holds until reset` : `${limitText(conflict.declared)} now applies on every process`),
      );
    }
  }

  /** Reads every queue's stored settings. */
  refresh(): Promise<QueueSettings[]> {
    // Callers at the same moment share one read.
    this.reading ??= this.store
      .queueSettings()
      .then((all) => {
        for (const settings of all) this.settings.set(settings.name, settings);
        this.readAt = this.clock();
        return [...this.settings.values()].sort(byName);
      })
      .finally(() => (this.reading = null));
    return this.reading;
  }

  /** A queue's settings, read again first when older than a second and `fresh` is asked for (a process with no refresh timer). */
  async get(queue: string, fresh: boolean): Promise<QueueSettings | undefined> {
    if (fresh && this.clock() - this.readAt > SETTINGS_REFRESH_MS) await this.refresh();
    return this.settings.get(queue);
  }

  /** An operator's change, of a queue that exists: one with settings stored or tasks (throws not_found otherwise). */
  async change(name: string, change: QueueLimitsChange, reset: boolean): Promise<QueueSettings> {
    const patch = checkLimitsChange(name, change);
    if (!(await this.store.listQueues()).some((queue) => queue.name === name)) throw new OutlastError("not_found", `No queue "${String(name).slice(0, 128)}"`);
    const settings = await this.store.setQueueLimits(name, patch, reset, this.clock());
    this.settings.set(name, settings);
    return settings;
  }

  /** Tasks this process runs at once from a queue: its share (`perProcess`, `start({ perProcess })`), within the stored limit. */
  localLimit(queue: string, options: QueueOptions | undefined, processShare: number): number {
    const share = Math.min(processShare, options?.perProcess ?? Infinity);
    const stored = this.settings.get(queue)?.limits.concurrency;
    const concurrency = stored !== undefined ? stored : options?.concurrency === Infinity ? null : (options?.concurrency ?? DEFAULT_CONCURRENCY);
    // No shared limit: each process runs its share, DEFAULT_CONCURRENCY when it set none.
    if (concurrency === null) return Number.isFinite(share) ? share : DEFAULT_CONCURRENCY;
    return Math.min(share, concurrency);
  }
}

function checkLimitsChange(queue: string, change: QueueLimitsChange): QueueLimitsPatch {
  if (change === null || typeof change !== "object") throw new OutlastError("bad_request", `Queue "${queue}": the change must be an object of limits`);
  const perOwner = change.perOwner ?? {};
  if (perOwner === null || typeof perOwner !== "object") throw new OutlastError("bad_request", `Queue "${queue}": perOwner must be an object`);
  const out: QueueLimitsPatch = {};
  const take = (value: unknown, field: "concurrency" | "maxQueued" | "ownerConcurrency" | "ownerMaxQueued", name: string) => {
    if (value === undefined) return;
    if (value === null || (field === "concurrency" && value === Infinity)) out[field] = null;
    else if (typeof value === "number" && Number.isSafeInteger(value) && value >= 1 && value <= 1_000_000_000) out[field] = value;
    else throw new OutlastError("bad_request", `Queue "${queue}": ${name} must be a whole number of at least 1, or null for no limit`, { details: { field: name } });
  };
  take(change.concurrency, "concurrency", "concurrency");
  take(change.maxQueued, "maxQueued", "maxQueued");
  take(perOwner.concurrency, "ownerConcurrency", "perOwner.concurrency");
  take(perOwner.maxQueued, "ownerMaxQueued", "perOwner.maxQueued");
  const rate = change.rateLimit as Record<string, unknown> | null | undefined;
  if (rate === null) out.rateLimit = null;
  else if (rate !== undefined) {
    const whole = (value: unknown, max: number) => typeof value === "number" && Number.isSafeInteger(value) && value >= 1 && value <= max;
    if (typeof rate !== "object" || Object.keys(rate).some((key) => key !== "limit" && key !== "periodMs")) {
      throw new OutlastError("bad_request", `Queue "${queue}": rateLimit must be { limit, periodMs }, or null for no rate limit`, { details: { field: "rateLimit" } });
    }
    if (!whole(rate.limit, 1_000_000_000)) {
      throw new OutlastError("bad_request", `Queue "${queue}": rateLimit.limit must be a whole number of at least 1`, { details: { field: "rateLimit.limit" } });
    }
    if (!whole(rate.periodMs, MAX_RATE_PERIOD_MS)) {
      throw new OutlastError("bad_request", `Queue "${queue}": rateLimit.periodMs must be a whole number of milliseconds from 1 to ${MAX_RATE_PERIOD_MS}`, {
        details: { field: "rateLimit.periodMs" },
      });
    }
    // The key rule is code's: an operator's change keeps it (core/queue-limits.ts, effectiveLimits).
    out.rateLimit = { limit: rate.limit as number, periodMs: rate.periodMs as number, keyed: false };
  }
  return out;
}

function limitText(value: number | RateLimit | null): string {
  if (value === null) return "no limit";
  if (typeof value === "number") return String(value);
  return `${value.limit} per ${value.periodMs} ms${value.keyed ? " per key" : ""}`;
}
