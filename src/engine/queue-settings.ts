import { OutlastError } from "../core/errors.js";
import { byName, MAX_RATE_PERIOD_MS, type LimitValue, type QueueLimitsPatch, type QueueSettings, type RateLimit } from "../core/queue-limits.js";
import type { Store } from "../store/store.js";
import type { Clock, Logger } from "./clock.js";
import type { QueueOptions } from "./definitions.js";
import { declaredKeyConcurrency, keyedConcurrency, queueWideConcurrency } from "./key-concurrency.js";

/** How often a process reads the stored limits again: an operator's change reaches it within this. */
export const SETTINGS_REFRESH_MS = 1_000;
export const DEFAULT_CONCURRENCY = 10;

/** An operator's change of a queue's limits, in the queue options' own names. null: no limit. */
export interface QueueLimitsChange {
  /** The queue-wide limit; or, for a queue code keys, its per-key numbers (`total`: the queue-wide one). A tier or `limit` of null drops the operator's number. */
  concurrency?: number | null | { limit?: number | null; tiers?: Record<string, number | null>; total?: number | null };
  /** One key's limit over its tier and the default; null drops that key's (a null map: every key's). */
  keyLimits?: Record<string, number | null> | null;
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
    const total = queueWideConcurrency(options);
    if (total !== undefined) declared.concurrency = limit(total);
    const keyed = keyedConcurrency(options);
    // A queue is keyed where code declares the keyed form; a number there makes it unkeyed again.
    if (options?.concurrency !== undefined) declared.keyConcurrency = keyed ? declaredKeyConcurrency(keyed) : null;
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
    const stored = (await this.refresh()).find((queue) => queue.name === name);
    Object.assign(patch, keyedChange(name, change, stored, reset));
    const settings = await this.store.setQueueLimits(name, patch, reset, this.clock());
    this.settings.set(name, settings);
    return settings;
  }

  /** Tasks this process runs at once from a queue: its share (`perProcess`, `start({ perProcess })`), within the stored limit. */
  localLimit(queue: string, options: QueueOptions | undefined, processShare: number): number {
    const share = Math.min(processShare, options?.perProcess ?? Infinity);
    const stored = this.settings.get(queue)?.limits.concurrency;
    const declared = queueWideConcurrency(options);
    const concurrency = stored !== undefined ? stored : declared === Infinity ? null : (declared ?? DEFAULT_CONCURRENCY);
    // No shared limit: each process runs its share, DEFAULT_CONCURRENCY when it set none.
    if (concurrency === null) return Number.isFinite(share) ? share : DEFAULT_CONCURRENCY;
    return Math.min(share, concurrency);
  }
}

const MAX_KEY_LIMITS = 10_000;

/**
 * The per-key part of an operator's change, merged into what is stored: the
 * override of a keyed queue's numbers keeps the tiers it does not name, and
 * `keyLimits` adds to (or, with null, drops from) the keys already set.
 */
function keyedChange(queue: string, change: QueueLimitsChange, stored: QueueSettings | undefined, reset: boolean): QueueLimitsPatch {
  const out: QueueLimitsPatch = {};
  const limit = (value: unknown, field: string): number | null => {
    if (value === null) return null;
    if (typeof value === "number" && Number.isSafeInteger(value) && value >= 1 && value <= 1_000_000_000) return value;
    throw new OutlastError("bad_request", `Queue "${queue}": ${field} must be a whole number of at least 1, or null`, { details: { field } });
  };
  const name = (value: string, field: string) => {
    if (value.length === 0 || value.length > 256) throw new OutlastError("bad_request", `Queue "${queue}": ${field} names must be 1 to 256 characters`, { details: { field } });
  };
  const keyed = typeof change.concurrency === "object" && change.concurrency !== null ? change.concurrency : null;
  if (keyed !== null && (keyed.limit !== undefined || keyed.tiers !== undefined)) {
    const declared = stored?.declared.keyConcurrency;
    if (!declared) {
      throw new OutlastError("bad_request", `Queue "${queue}" has no keyed concurrency: declare concurrency: { key, limit } in code first`, {
        details: { field: "concurrency.limit" },
      });
    }
    const current = (reset ? undefined : stored.overrides.keyConcurrency) ?? declared;
    const tiers = { ...current.tiers };
    if (keyed.tiers !== undefined) {
      if (keyed.tiers === null || typeof keyed.tiers !== "object" || Array.isArray(keyed.tiers)) {
        throw new OutlastError("bad_request", `Queue "${queue}": concurrency.tiers must be an object of tier names to limits`, { details: { field: "concurrency.tiers" } });
      }
      for (const [tier, n] of Object.entries(keyed.tiers)) {
        name(tier, "concurrency.tiers");
        const value = limit(n, `concurrency.tiers.${tier}`);
        // null: back to what code declares for that tier (or none).
        if (value === null) {
          if (declared.tiers[tier] !== undefined) tiers[tier] = declared.tiers[tier];
          else delete tiers[tier];
        } else tiers[tier] = value;
      }
    }
    const perKey = keyed.limit === undefined ? current.limit : (limit(keyed.limit, "concurrency.limit") ?? declared.limit);
    out.keyConcurrency = { limit: perKey, tiers };
  }
  if (change.keyLimits !== undefined) {
    if (change.keyLimits === null) out.keyLimits = null;
    else {
      if (typeof change.keyLimits !== "object" || Array.isArray(change.keyLimits)) {
        throw new OutlastError("bad_request", `Queue "${queue}": keyLimits must be an object of keys to limits (null drops one)`, { details: { field: "keyLimits" } });
      }
      const merged: Record<string, number> = { ...((reset ? undefined : stored?.overrides.keyLimits) ?? {}) };
      for (const [key, n] of Object.entries(change.keyLimits)) {
        name(key, "keyLimits");
        const value = limit(n, `keyLimits.${key}`);
        if (value === null) delete merged[key];
        else merged[key] = value;
      }
      if (Object.keys(merged).length > MAX_KEY_LIMITS) {
        throw new OutlastError("bad_request", `Queue "${queue}": at most ${MAX_KEY_LIMITS} keys may have limits of their own`, { details: { field: "keyLimits" } });
      }
      out.keyLimits = Object.keys(merged).length === 0 ? null : merged;
    }
  }
  return out;
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
  if (typeof change.concurrency === "object" && change.concurrency !== null) {
    // Its per-key numbers are merged with what is stored (keyedChange).
    const unknown = Object.keys(change.concurrency).find((field) => field !== "limit" && field !== "tiers" && field !== "total");
    if (unknown !== undefined) throw new OutlastError("bad_request", `Queue "${queue}": concurrency.${unknown} is not a limit (limit, tiers, total)`, { details: { field: `concurrency.${unknown}` } });
    take(change.concurrency.total, "concurrency", "concurrency.total");
  } else take(change.concurrency, "concurrency", "concurrency");
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

function limitText(value: LimitValue): string {
  if (value === null) return "no limit";
  if (typeof value === "number") return String(value);
  if (isRateLimit(value)) return `${value.limit} per ${value.periodMs} ms${value.keyed ? " per key" : ""}`;
  return JSON.stringify(value);
}

function isRateLimit(value: object): value is RateLimit {
  return "periodMs" in value;
}
