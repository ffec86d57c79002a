import { OutlastError } from "../core/errors.js";
import type { KeyConcurrency } from "../core/queue-limits.js";
import { isStorableText } from "../core/text.js";
import type { KeyedConcurrencyOption, QueueOptions } from "./definitions.js";

const MAX_LIMIT = 1_000_000_000;

/** The queue-wide limit a queue's options declare: `concurrency` as a number, or the keyed form's `total`. */
export function queueWideConcurrency(options: QueueOptions | undefined): number | undefined {
  const concurrency = options?.concurrency;
  return typeof concurrency === "object" ? concurrency.total : concurrency;
}

/** The keyed form of `concurrency`, if the options use it. */
export function keyedConcurrency(options: QueueOptions | undefined): KeyedConcurrencyOption | undefined {
  const concurrency = options?.concurrency;
  return typeof concurrency === "object" && concurrency !== null ? concurrency : undefined;
}

/** What a keyed queue stores of its declaration (the numbers; the functions stay in code). */
export function declaredKeyConcurrency(option: KeyedConcurrencyOption): KeyConcurrency {
  return { limit: typeof option.limit === "number" ? option.limit : null, tiers: { ...(option.tiers ?? {}) } };
}

/** Checks the keyed form of `QueueOptions.concurrency` at declaration; a bad one is a `bad_request` naming the field. */
export function checkKeyedConcurrency(queue: string, options: QueueOptions): void {
  const option = options.concurrency;
  if (typeof option !== "object") return;
  const where = (field: string, problem: string) =>
    new OutlastError("bad_request", `Queue "${queue}": concurrency${field} ${problem}`, { details: { field: `concurrency${field}` } });
  if (option === null || Array.isArray(option)) throw where("", "must be a whole number, Infinity, or { key, limit?, tiers?, tier?, total? }");
  const { key, limit, tiers, tier, total, ...rest } = option as unknown as Record<string, unknown>;
  const unknown = Object.keys(rest)[0];
  if (unknown !== undefined) throw where(`.${unknown}`, "is not an option (key, limit, tiers, tier, total)");
  if (key !== "owner" && typeof key !== "function") throw where(".key", 'must be "owner" or a function (input, owner) => key');
  const whole = (value: unknown) => typeof value === "number" && Number.isSafeInteger(value) && value >= 1 && value <= MAX_LIMIT;
  if (limit !== undefined && typeof limit !== "function" && !whole(limit)) throw where(".limit", `must be a whole number from 1 to ${MAX_LIMIT}, or a function (key) => number`);
  if (tiers !== undefined) {
    if (tiers === null || typeof tiers !== "object" || Array.isArray(tiers)) throw where(".tiers", "must be an object of tier names to limits");
    for (const [name, n] of Object.entries(tiers)) {
      if (name.length === 0 || name.length > 256 || !whole(n)) throw where(`.tiers.${name}`, `must be a whole number from 1 to ${MAX_LIMIT}`);
    }
    if (typeof tier !== "function") throw where(".tier", "must be a function (input, owner) => tier name, to pick among tiers");
  } else if (tier !== undefined) throw where(".tiers", "must name the tiers' limits when a tier function is given");
  if (limit === undefined && tiers === undefined) throw where(".limit", "or tiers must be given: the running tasks one key may have at once");
  if (total !== undefined && total !== Infinity && !whole(total)) throw where(".total", "must be a whole number of at least 1 (or Infinity for no limit)");
  if (options.perOwner?.concurrency !== undefined) {
    throw new OutlastError("bad_request", `Queue "${queue}": perOwner.concurrency and a keyed concurrency cannot be combined; use concurrency: { key: "owner", limit }`, {
      details: { field: "perOwner.concurrency" },
    });
  }
}

/** A submit's key, tier and own limit under its queue's keyed concurrency (all null when not keyed); a function that throws or answers badly is a `bad_request`. */
export function keyOfSubmit(
  queue: string,
  option: KeyedConcurrencyOption | undefined,
  input: unknown,
  owner: string,
): { concurrencyKey: string | null; tier: string | null; keyLimit: number | null } {
  if (option === undefined) return { concurrencyKey: null, tier: null, keyLimit: null };
  const key = option.key === "owner" ? owner : text(queue, "key", call(queue, "key", () => option.key !== "owner" && option.key(input, owner)));
  const tier = option.tier ? text(queue, "tier", call(queue, "tier", () => option.tier!(input, owner))) : null;
  let keyLimit: number | null = null;
  if (typeof option.limit === "function") {
    const limit = option.limit;
    const value = call(queue, "limit", () => limit(key));
    if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1 || value > MAX_LIMIT) {
      throw new OutlastError("bad_request", `Queue "${queue}": concurrency.limit must give a whole number from 1 to ${MAX_LIMIT} for every key`, {
        details: { field: "concurrency.limit" },
      });
    }
    keyLimit = value;
  }
  return { concurrencyKey: key, tier, keyLimit };
}

function call(queue: string, field: string, fn: () => unknown): unknown {
  try {
    return fn();
  } catch (error) {
    throw new OutlastError("bad_request", `Queue "${queue}": concurrency.${field} threw: ${error instanceof Error ? error.message : String(error)}`, {
      details: { field: `concurrency.${field}` },
    });
  }
}

function text(queue: string, field: string, value: unknown): string {
  const out = typeof value === "number" && Number.isFinite(value) ? String(value) : value;
  if (typeof out !== "string" || out.length === 0 || out.length > 256 || !isStorableText(out)) {
    throw new OutlastError("bad_request", `Queue "${queue}": concurrency.${field} must give a string of 1 to 256 characters for every submit`, {
      details: { field: `concurrency.${field}` },
    });
  }
  return out;
}
