/**
 * Rate limits: at most `limit` cost units of starts of a queue in any window
 * of `periodMs` (the window (now − periodMs, now]), across every process.
 *
 * Each claim of a rate-limited queue writes its starts to a ledger (queue,
 * key, at, cost) and reads the starts of the current window back, in the
 * same serialised claim (SQLite's writer lock; PostgreSQL's lock on the
 * queue's row), so two claims at once never exceed a budget. Rows that fell
 * out of the window are deleted by the claims. Pure here; the stores feed it
 * their ledger rows and candidates.
 *
 * Keyed limits: every task carries the key its submit computed (null when
 * the queue is not keyed); each key has a budget of its own, and unkeyed
 * tasks share the budget of the key "" (UNKEYED).
 */
import type { RateLimit } from "./queue-limits.js";

/** The ledger key of a task without a rate key. Keys given at submit are never empty. */
export const UNKEYED = "";

/** A start counted by the ledger. */
export interface RateStart {
  key: string;
  at: number;
  cost: number;
}

/** A runnable task as a rate-limited claim sees it, in claim order. */
export interface RateCandidate {
  owner: string;
  rateKey: string | null;
  cost: number;
}

/** The ledger key a task's starts are counted under. */
export function ledgerKey(limit: RateLimit, rateKey: string | null): string {
  return limit.keyed ? (rateKey ?? UNKEYED) : UNKEYED;
}

/** What a task takes from its budget: its cost, but never more than the whole limit (a limit lowered under a task's cost must not strand it). */
export function effectiveCost(limit: RateLimit, cost: number): number {
  return Math.max(1, Math.min(limit.limit, Math.floor(cost)));
}

/** The start of the window a claim at `now` counts: starts at or before it are out (and may be deleted). */
export function windowStart(limit: RateLimit, now: number): number {
  return now - limit.periodMs;
}

/** Cost units used per ledger key by the starts inside the window (the rows given must already be in it). */
export function usedByKey(starts: readonly RateStart[]): Map<string, number> {
  const used = new Map<string, number>();
  for (const start of starts) used.set(start.key, (used.get(start.key) ?? 0) + start.cost);
  return used;
}

/** Keys with no unit left: a claim's query leaves their tasks out, so one key's backlog cannot crowd others out of the look-ahead. */
export function exhaustedKeys(limit: RateLimit, used: ReadonlyMap<string, number>): string[] {
  return [...used].filter(([, n]) => n >= limit.limit).map(([key]) => key);
}

/**
 * Pick, in claim order, up to `slots` candidates that fit their key's budget.
 * A key whose next task does not fit is skipped from then on (its later,
 * smaller tasks do not overtake it), while other keys' tasks still start.
 * `admit` is the caller's other rule (a key's concurrency), asked only of
 * tasks that fit. Answers the picked indexes and the keys held back.
 */
export function pickWithinRate(
  limit: RateLimit,
  used: Map<string, number>,
  candidates: readonly RateCandidate[],
  slots: number,
  admit: (candidate: RateCandidate, index: number) => boolean = () => true,
): { picked: number[]; held: Map<string, number> } {
  const picked: number[] = [];
  /** Held-back keys, with the cost their next task needs. */
  const held = new Map<string, number>();
  for (let i = 0; i < candidates.length && picked.length < slots; i++) {
    const candidate = candidates[i]!;
    const key = ledgerKey(limit, candidate.rateKey);
    if (held.has(key)) continue;
    const cost = effectiveCost(limit, candidate.cost);
    const spent = used.get(key) ?? 0;
    if (spent + cost > limit.limit) {
      held.set(key, cost);
      continue;
    }
    if (!admit(candidate, i)) continue;
    used.set(key, spent + cost);
    picked.push(i);
  }
  return { picked, held };
}

/**
 * When a held-back key can next start a task of `cost`: the moment enough of
 * its counted starts leave the window (a start at `at` leaves it at
 * `at + periodMs`). For a cost of 1 that is the oldest counted start +
 * periodMs. `starts` are the key's starts in the window, any order.
 */
export function nextAllowedAt(limit: RateLimit, starts: readonly RateStart[], cost: number): number | null {
  const sorted = [...starts].sort((a, b) => a.at - b.at);
  let used = sorted.reduce((sum, start) => sum + start.cost, 0);
  for (const start of sorted) {
    if (used + cost <= limit.limit) break;
    used -= start.cost;
    if (used + cost <= limit.limit) return start.at + limit.periodMs;
  }
  return null;
}

/**
 * When a claim held back by the limit may next start something: the
 * earliest moment any held-back key (or, when `exhausted` keys were left
 * out of the query, any of them) has room for its next task. `exhausted`
 * keys' next tasks are assumed to cost 1: their claim then finds out.
 */
export function heldUntil(limit: RateLimit, starts: readonly RateStart[], held: ReadonlyMap<string, number>, exhausted: readonly string[]): number | null {
  let at: number | null = null;
  const byKey = new Map<string, RateStart[]>();
  for (const start of starts) {
    let list = byKey.get(start.key);
    if (!list) byKey.set(start.key, (list = []));
    list.push(start);
  }
  const needs = new Map(held);
  for (const key of exhausted) if (!needs.has(key)) needs.set(key, 1);
  for (const [key, cost] of needs) {
    const next = nextAllowedAt(limit, byKey.get(key) ?? [], cost);
    if (next !== null && (at === null || next < at)) at = next;
  }
  return at;
}

/**
 * The earliest a queued task can start by the rate limit alone, in ms from
 * now: the tasks ahead of it (position − 1, each taken as one unit) fill
 * whole windows of `limit`, so it starts no earlier than
 * floor((position − 1) / limit) windows from now. A keyed limit gives no such
 * bound from a place among every key's tasks: 0 then.
 */
export function rateStartMs(limit: RateLimit | null, position: number): number {
  if (limit === null || limit.keyed || !(limit.limit >= 1) || !Number.isSafeInteger(position) || position < 1) return 0;
  return Math.floor((position - 1) / limit.limit) * limit.periodMs;
}
