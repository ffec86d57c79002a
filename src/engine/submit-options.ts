import { DEDUPE_MODES, type DedupeMode, type DedupeSpec } from "../core/dedupe.js";
import { OutlastError } from "../core/errors.js";
import { MAX_LEASE_EXPIRIES_LIMIT } from "../core/dead-letters.js";
import { isStorableText } from "../core/text.js";
import { checkTitle } from "../core/title.js";
import { MAX_RATE_PERIOD_MS } from "../core/queue-limits.js";
import type { RateLimitOption, SubmitOptions } from "./definitions.js";

export interface CheckedSubmitOptions {
  owner?: string;
  priority?: number;
  idempotencyKey?: string;
  runAt?: number;
  queue?: string;
  title?: string;
  maxAttempts?: number;
  timeoutMs?: number;
  dedupe?: DedupeSpec;
  cost?: number;
}

const MAX_DELAY_MS = 366 * 24 * 60 * 60 * 1000;

/** The shortest `stallMs`: the check runs on a timer a quarter of it apart. */
export const MIN_STALL_MS = 100;

/** Checks submit options from code or from HTTP bodies; a bad one is a `bad_request` naming the field. */
export function checkSubmitOptions(options: SubmitOptions, now: number): CheckedSubmitOptions {
  const out: CheckedSubmitOptions = {};
  if (options === null || typeof options !== "object") throw bad("options", "must be an object");
  if (options.owner !== undefined) out.owner = text(options.owner, "owner", 256);
  if (options.idempotencyKey !== undefined) out.idempotencyKey = text(options.idempotencyKey, "idempotencyKey", 512);
  if (options.queue !== undefined) {
    out.queue = text(options.queue, "queue", 128);
    if (!/^[A-Za-z0-9][A-Za-z0-9._:-]*$/.test(out.queue)) throw bad("queue", "may hold only letters, digits, '.', '_', ':' and '-'");
  }
  if (options.title !== undefined) out.title = checkTitle(options.title);
  if (options.priority !== undefined) out.priority = integer(options.priority, "priority", -1_000_000, 1_000_000);
  if (options.maxAttempts !== undefined) out.maxAttempts = integer(options.maxAttempts, "maxAttempts", 1, 1000);
  if (options.timeoutMs !== undefined) out.timeoutMs = integer(options.timeoutMs, "timeoutMs", 1, 7 * 24 * 60 * 60 * 1000);
  if (options.cost !== undefined) out.cost = integer(options.cost, "cost", 1, 1_000_000_000);
  if (options.delayMs !== undefined && options.runAt !== undefined) throw bad("runAt", "give either runAt or delayMs, not both");
  if (options.delayMs !== undefined) out.runAt = now + integer(options.delayMs, "delayMs", 0, MAX_DELAY_MS);
  if (options.runAt !== undefined) {
    const at = options.runAt instanceof Date ? options.runAt.getTime() : typeof options.runAt === "string" ? Date.parse(options.runAt) : options.runAt;
    if (typeof at !== "number" || !Number.isFinite(at)) throw bad("runAt", "must be a date, an ISO-8601 string or epoch milliseconds");
    if (at > now + MAX_DELAY_MS) throw bad("runAt", "may be at most a year ahead");
    out.runAt = Math.max(0, Math.round(at));
  }
  if (options.dedupe !== undefined) {
    if (options.idempotencyKey !== undefined) throw bad("dedupe", "cannot be given with idempotencyKey: a submit has one or the other");
    out.dedupe = checkDedupe(options.dedupe);
    if (out.dedupe.mode === "debounce" && (options.delayMs !== undefined || options.runAt !== undefined)) {
      throw bad(options.delayMs !== undefined ? "delayMs" : "runAt", "cannot be given with a debounce: its delay is dedupe.delayMs");
    }
  }
  return out;
}

const DEDUPE_FIELDS = new Set(["key", "mode", "delayMs", "maxDelayMs"]);

/** A submit's `dedupe` (core/dedupe.ts); a bad one is a `bad_request` naming its field. */
function checkDedupe(value: unknown): DedupeSpec {
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw bad("dedupe", "must be { key, mode, delayMs?, maxDelayMs? }");
  const given = value as Record<string, unknown>;
  for (const field of Object.keys(given)) {
    if (!DEDUPE_FIELDS.has(field)) throw bad(`dedupe.${field}`, "is not a dedupe field; the fields are key, mode, delayMs and maxDelayMs");
  }
  const key = text(given.key, "dedupe.key", 512);
  if (typeof given.mode !== "string" || !(DEDUPE_MODES as readonly string[]).includes(given.mode)) {
    throw bad("dedupe.mode", `must be ${DEDUPE_MODES.map((m) => `"${m}"`).join(", ")}`);
  }
  const mode = given.mode as DedupeMode;
  if (mode !== "debounce") {
    for (const field of ["delayMs", "maxDelayMs"] as const) {
      if (given[field] !== undefined) throw bad(`dedupe.${field}`, `is for mode "debounce" only`);
    }
    return { key, mode, delayMs: 0, maxDelayMs: null };
  }
  if (given.delayMs === undefined) throw bad("dedupe.delayMs", 'is required for mode "debounce"');
  const delayMs = integer(given.delayMs, "dedupe.delayMs", 0, MAX_DELAY_MS);
  const maxDelayMs = given.maxDelayMs === undefined ? null : integer(given.maxDelayMs, "dedupe.maxDelayMs", 0, MAX_DELAY_MS);
  if (maxDelayMs !== null && maxDelayMs < delayMs) throw bad("dedupe.maxDelayMs", "must be at least dedupe.delayMs");
  return { key, mode, delayMs, maxDelayMs };
}

/** Checks what a task definition (or declaration) gives beside its handler; a bad one is a `bad_request` naming it. */
export function checkTaskSpec(name: string, spec: Record<string, unknown>): void {
  const where = (field: string) => `Task "${name}": ${field}`;
  try {
    if (spec.maxAttempts !== undefined) integer(spec.maxAttempts, "maxAttempts", 1, 1000);
    if (spec.timeoutMs !== undefined) integer(spec.timeoutMs, "timeoutMs", 1, 7 * 24 * 60 * 60 * 1000);
    if (spec.priority !== undefined) integer(spec.priority, "priority", -1_000_000, 1_000_000);
    if (spec.stallMs !== undefined) integer(spec.stallMs, "stallMs", MIN_STALL_MS, 7 * 24 * 60 * 60 * 1000);
    if (spec.maxLeaseExpiries !== undefined) integer(spec.maxLeaseExpiries, "maxLeaseExpiries", 1, MAX_LEASE_EXPIRIES_LIMIT);
    if (spec.backoff !== undefined) {
      const backoff = spec.backoff as Record<string, unknown> | null;
      if (backoff === null || typeof backoff !== "object") throw bad("backoff", "must be { baseMs, maxMs }");
      if (backoff.baseMs !== undefined) integer(backoff.baseMs, "backoff.baseMs", 0, MAX_DELAY_MS);
      if (backoff.maxMs !== undefined) integer(backoff.maxMs, "backoff.maxMs", 0, MAX_DELAY_MS);
    }
    if (spec.signals !== undefined) {
      if (spec.signals === null || typeof spec.signals !== "object" || Array.isArray(spec.signals)) throw bad("signals", "must be { name: schema }");
      for (const [signal, schema] of Object.entries(spec.signals as Record<string, { "~standard"?: { validate?: unknown } } | null>)) {
        if (typeof schema?.["~standard"]?.validate !== "function") throw bad(`signals.${signal}`, "must be a Standard Schema validator");
      }
    }
    const input = spec.input as { "~standard"?: { validate?: unknown } } | null | undefined;
    if (input !== undefined && typeof input?.["~standard"]?.validate !== "function") {
      throw bad("input", "must be a Standard Schema validator (zod, valibot, arktype…), like z.object({ … })");
    }
  } catch (error) {
    if (error instanceof OutlastError) throw new OutlastError("bad_request", where(error.message), { details: error.details });
    throw error;
  }
}

function text(value: unknown, field: string, max: number): string {
  if (typeof value !== "string" || value.length === 0 || value.length > max) throw bad(field, `must be a string of 1 to ${max} characters`);
  if (!isStorableText(value)) throw bad(field, "must be text without NUL characters or unpaired surrogates");
  return value;
}

function integer(value: unknown, field: string, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min || value > max) {
    throw bad(field, `must be a whole number from ${min} to ${max}`);
  }
  return value;
}

function bad(field: string, problem: string): OutlastError {
  return new OutlastError("bad_request", `${field} ${problem}`, { details: { field } });
}

/** Checks `QueueOptions.rateLimit` at declaration; a bad one is a `bad_request` naming the field. */
export function checkRateLimitOption(queue: string, rateLimit: unknown): void {
  if (rateLimit === undefined || rateLimit === null) return;
  const where = (field: string, problem: string) =>
    new OutlastError("bad_request", `Queue "${queue}": rateLimit${field} ${problem}`, { details: { field: `rateLimit${field}` } });
  if (typeof rateLimit !== "object" || Array.isArray(rateLimit)) throw where("", "must be { limit, periodMs, key? } or null");
  const { limit, periodMs, key, ...rest } = rateLimit as Record<string, unknown>;
  const unknown = Object.keys(rest)[0];
  if (unknown !== undefined) throw where(`.${unknown}`, "is not an option (limit, periodMs, key)");
  if (typeof limit !== "number" || !Number.isSafeInteger(limit) || limit < 1 || limit > 1_000_000_000) throw where(".limit", "must be a whole number from 1 to 1000000000");
  if (typeof periodMs !== "number" || !Number.isSafeInteger(periodMs) || periodMs < 1 || periodMs > MAX_RATE_PERIOD_MS) {
    throw where(".periodMs", `must be a whole number of milliseconds from 1 to ${MAX_RATE_PERIOD_MS}`);
  }
  if (key !== undefined && key !== "owner" && typeof key !== "function") throw where(".key", 'must be "owner" or a function (input, owner) => key');
}

/** The rate key of a submit to a keyed queue (null when unkeyed); a key function that throws or gives no usable key is a `bad_request`. */
export function rateKeyOf(queue: string, rateLimit: RateLimitOption | null | undefined, input: unknown, owner: string): string | null {
  const rule = rateLimit?.key;
  if (rule === undefined) return null;
  if (rule === "owner") return owner;
  let key: unknown;
  try {
    key = rule(input, owner);
  } catch (error) {
    throw new OutlastError("bad_request", `Queue "${queue}": rateLimit.key threw: ${error instanceof Error ? error.message : String(error)}`, {
      details: { field: "rateLimit.key" },
    });
  }
  if (typeof key === "number" && Number.isFinite(key)) key = String(key);
  if (typeof key !== "string" || key.length === 0 || key.length > 256 || !isStorableText(key)) {
    throw new OutlastError("bad_request", `Queue "${queue}": rateLimit.key must give a string of 1 to 256 characters for every submit`, {
      details: { field: "rateLimit.key" },
    });
  }
  return key;
}
