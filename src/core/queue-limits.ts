/**
 * A queue's limits as the store keeps them, and the rules that make them:
 * each process writes only what its code declares, an operator's change
 * (API, CLI, dashboard) holds over any declaration until it is reset, and a
 * limit nobody set is the default. Both stores apply these rules; the
 * effective limits are what claims and submits enforce.
 */

import { readLimitMap, type KeyRules } from "./key-limits.js";

/**
 * A queue's rate limit as stored (core/rate-limit.ts): at most `limit` cost
 * units of starts in any window of `periodMs`; `keyed`: each task's rate key
 * (set at submit) has a budget of its own. Whether it is keyed is what code
 * declares: an operator's change sets only `limit` and `periodMs`.
 */
export interface RateLimit {
  limit: number;
  periodMs: number;
  keyed: boolean;
}

/**
 * A queue's concurrency per key as stored (core/key-limits.ts): `limit` per
 * key by default (null: each task's own, from a limit function at submit),
 * and limits by tier. Whether a queue is keyed, and how keys and tiers are
 * found, is what code declares; an operator may change the numbers.
 */
export interface KeyConcurrency {
  limit: number | null;
  tiers: Record<string, number>;
}

/** null: no limit. For `concurrency`, no limit shared between processes (each runs its `perProcess` share). */
export interface QueueLimits {
  concurrency: number | null;
  maxQueued: number | null;
  ownerConcurrency: number | null;
  ownerMaxQueued: number | null;
  rateLimit: RateLimit | null;
  keyConcurrency: KeyConcurrency | null;
  /** One key's limit, set by an operator over any tier or default. */
  keyLimits: Record<string, number> | null;
}

export type LimitValue = number | RateLimit | KeyConcurrency | Record<string, number> | null;

/** Some of a queue's limits: what one process declares, or what an operator changed. */
export type QueueLimitsPatch = Partial<QueueLimits>;

export const LIMIT_FIELDS = ["concurrency", "maxQueued", "ownerConcurrency", "ownerMaxQueued", "rateLimit", "keyConcurrency", "keyLimits"] as const satisfies readonly (keyof QueueLimits)[];

export const DEFAULT_QUEUE_LIMITS: Readonly<QueueLimits> = Object.freeze({
  concurrency: 10,
  maxQueued: null,
  ownerConcurrency: null,
  ownerMaxQueued: null,
  rateLimit: null,
  keyConcurrency: null,
  keyLimits: null,
});

/** Longest rate-limit window: a day. */
export const MAX_RATE_PERIOD_MS = 24 * 60 * 60 * 1000;

/** A queue's settings as stored. */
export interface QueueSettings {
  name: string;
  paused: boolean;
  /** What applies: the operator's change, else the last declaration, else the default. */
  limits: QueueLimits;
  /** What code declared, field by field (the last process to declare a field wins). */
  declared: QueueLimitsPatch;
  /** What an operator changed, field by field. */
  overrides: QueueLimitsPatch;
}

/** Where a process's declaration differs from the one stored before it (another process's, or an older deploy's). */
export interface DeclarationConflict {
  field: keyof QueueLimits;
  stored: LimitValue;
  declared: LimitValue;
}

export function effectiveLimits(declared: QueueLimitsPatch, overrides: QueueLimitsPatch): QueueLimits {
  const out: Record<string, LimitValue> = { ...DEFAULT_QUEUE_LIMITS };
  for (const field of LIMIT_FIELDS) {
    const override = overrides[field];
    const declaration = declared[field];
    if (override !== undefined) out[field] = override;
    else if (declaration !== undefined) out[field] = declaration;
  }
  // An operator's per-key numbers keep the rule code declares: a queue is keyed only where code says how tasks get keys.
  const keyed = out.keyConcurrency as KeyConcurrency | null;
  if (overrides.keyConcurrency && !declared.keyConcurrency) out.keyConcurrency = null;
  else if (keyed !== null && overrides.keyConcurrency && declared.keyConcurrency) {
    out.keyConcurrency = { limit: keyed.limit, tiers: { ...declared.keyConcurrency.tiers, ...keyed.tiers } };
  }
  // An operator's rate limit keeps the key rule code declares (the key is set at submit, by code).
  const rate = out.rateLimit as RateLimit | null;
  if (rate !== null && overrides.rateLimit) out.rateLimit = { limit: rate.limit, periodMs: rate.periodMs, keyed: declared.rateLimit?.keyed ?? false };
  return out as unknown as QueueLimits;
}

/** Two limit values are the same (objects by their fields, whatever their order). */
export function sameLimit(a: LimitValue | undefined, b: LimitValue | undefined): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  return canonical(a) === canonical(b);
}

function canonical(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
  const entries = Object.entries(value as Record<string, unknown>).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0));
  return `{${entries.map(([key, v]) => `${JSON.stringify(key)}:${canonical(v)}`).join(",")}}`;
}

/** The per-key rules claims apply (core/key-limits.ts): `perOwner.concurrency` is the per-key limit of a queue keyed by owner. */
export function keyRulesOf(limits: QueueLimits): KeyRules | null {
  const keyed = limits.keyConcurrency;
  if (keyed === null && limits.ownerConcurrency === null && limits.keyLimits === null) return null;
  return { limit: keyed ? (keyed.limit ?? limits.ownerConcurrency) : limits.ownerConcurrency, tiers: keyed?.tiers ?? {}, keyLimits: limits.keyLimits ?? {} };
}

/** A process's declaration over the stored one: only the fields it names change. */
export function declare(stored: QueueLimitsPatch, incoming: QueueLimitsPatch): { declared: QueueLimitsPatch; conflicts: DeclarationConflict[] } {
  const declared = { ...stored };
  const conflicts: DeclarationConflict[] = [];
  for (const field of LIMIT_FIELDS) {
    const value = incoming[field];
    if (value === undefined) continue;
    const before = stored[field];
    if (before !== undefined && !sameLimit(before, value)) conflicts.push({ field, stored: before, declared: value });
    (declared as Record<string, LimitValue>)[field] = value;
  }
  return { declared, conflicts };
}

/** An operator's change over the stored overrides; `reset` first drops them all (back to what code declares). */
export function override(stored: QueueLimitsPatch, change: QueueLimitsPatch, reset: boolean): QueueLimitsPatch {
  const out: QueueLimitsPatch = reset ? {} : { ...stored };
  for (const field of LIMIT_FIELDS) {
    const value = change[field];
    if (value !== undefined) (out as Record<string, LimitValue>)[field] = value;
  }
  return out;
}

/** A patch read back from storage: only the known fields, each a positive whole number (a rate limit for `rateLimit`) or null. */
export function readPatch(json: unknown): QueueLimitsPatch {
  const out: Record<string, LimitValue> = {};
  if (json === null || typeof json !== "object") return out;
  const whole = (value: unknown): value is number => typeof value === "number" && Number.isSafeInteger(value) && value >= 1;
  for (const field of LIMIT_FIELDS) {
    const value = (json as Record<string, unknown>)[field];
    if (field === "keyConcurrency") {
      const keyed = value as Partial<KeyConcurrency> | null | undefined;
      if (keyed === null) out[field] = null;
      else if (typeof keyed === "object") out[field] = { limit: whole(keyed.limit) ? keyed.limit : null, tiers: readLimitMap(keyed.tiers) ?? {} };
    } else if (field === "keyLimits") {
      if (value === null) out[field] = null;
      else if (readLimitMap(value) !== null) out[field] = readLimitMap(value);
    } else if (field === "rateLimit") {
      const rate = value as Partial<RateLimit> | null | undefined;
      if (rate === null) out[field] = null;
      else if (typeof rate === "object" && whole(rate.limit) && whole(rate.periodMs)) out[field] = { limit: rate.limit, periodMs: rate.periodMs, keyed: rate.keyed === true };
    } else if (value === null || whole(value)) out[field] = value;
  }
  return out as QueueLimitsPatch;
}

/** Queues in one order on every store: by name, code unit by code unit (no locale). */
export function byName(a: { name: string }, b: { name: string }): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** What a queue's row holds besides its effective limits. */
export interface StoredPatches {
  declared: QueueLimitsPatch;
  overrides: QueueLimitsPatch;
}

/** A declaration applied to a queue's stored patches: what to write back, and the conflicts to tell. */
export function applyDeclaration(stored: StoredPatches, incoming: QueueLimitsPatch): StoredPatches & { limits: QueueLimits; conflicts: DeclarationConflict[] } {
  const { declared, conflicts } = declare(stored.declared, incoming);
  return { declared, overrides: stored.overrides, limits: effectiveLimits(declared, stored.overrides), conflicts };
}

/** An operator's change applied to a queue's stored patches: what to write back. */
export function applyOverride(stored: StoredPatches, change: QueueLimitsPatch, reset: boolean): StoredPatches & { limits: QueueLimits } {
  const overrides = override(stored.overrides, change, reset);
  return { declared: stored.declared, overrides, limits: effectiveLimits(stored.declared, overrides) };
}
