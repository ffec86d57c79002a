import { stateEvent } from "./transitions.js";
import type { TaskEventData } from "./events.js";

/**
 * Submits that collapse by a key (`submit(name, input, { dedupe })`),
 * decided once for every store. A key's scope is owner + task name + key,
 * like an idempotency key's (a submit carries one or the other).
 *
 * - `debounce`: a burst of submits yields one run with the last input. The
 *   first submit queues a task at `now + delayMs`; each later one while that
 *   task has not started replaces its input and moves it to
 *   `min(now + delayMs, first + maxDelayMs)`. Once it started, the next
 *   submit starts a new burst.
 * - `replace-queued`: a newer submit replaces the input of the queued one
 *   that has not started (its `runAt` kept), else queues a new task.
 * - `cancel-running`: as `replace-queued`, and every started, unfinished
 *   task of the key (running, waiting, or queued again for a retry) is
 *   canceled — a running one through its signal.
 *
 * "Not started" is a queued task that never ran (`startedAt` null): a task
 * queued again after an attempt has steps of its old input, so it is not
 * replaced.
 */
export type DedupeMode = "debounce" | "replace-queued" | "cancel-running";

export const DEDUPE_MODES: readonly DedupeMode[] = ["debounce", "replace-queued", "cancel-running"];

/** A submit's dedupe, as checked (engine/submit-options.ts). */
export interface DedupeSpec {
  key: string;
  mode: DedupeMode;
  /** debounce: how long after the latest submit the task runs; 0 for the others. */
  delayMs: number;
  /** debounce: at most this long after the burst's first submit; null = no cap. */
  maxDelayMs: number | null;
}

/** The queued, never started task of a key, as a store reads it. */
export interface PendingDedupe {
  id: string;
  runAt: number;
  /** The latest `runAt` its burst may have (debounce with maxDelayMs), else null. */
  deadline: number | null;
}

export type DedupeDecision =
  /** A new task, at `runAt`, keeping `deadline` for its burst. */
  | { kind: "create"; runAt: number; deadline: number | null; cancel: readonly string[] }
  /** The pending task takes the new input and moves to `runAt` (its event: {@link replacedEvent}). */
  | { kind: "replace"; id: string; runAt: number; cancel: readonly string[] };

/**
 * What a dedupe submit does, given the key's pending task (or null) and
 * its started, unfinished ones. `requestedRunAt` is the submit's own
 * `runAt` (debounce takes none: its delay is `delayMs`). `cancel`: the tasks
 * to cancel in the same transaction (cancel-running only).
 */
export function dedupeDecision(
  spec: DedupeSpec,
  requestedRunAt: number,
  pending: PendingDedupe | null,
  started: readonly { id: string }[],
  now: number,
): DedupeDecision {
  const cancel = spec.mode === "cancel-running" ? started.map((task) => task.id) : [];
  if (spec.mode === "debounce") {
    if (pending === null) {
      return { kind: "create", runAt: now + spec.delayMs, deadline: spec.maxDelayMs === null ? null : now + spec.maxDelayMs, cancel };
    }
    const later = now + spec.delayMs;
    return { kind: "replace", id: pending.id, runAt: pending.deadline === null ? later : Math.min(later, pending.deadline), cancel };
  }
  if (pending === null) return { kind: "create", runAt: requestedRunAt, deadline: null, cancel };
  return { kind: "replace", id: pending.id, runAt: pending.runAt, cancel };
}

/**
 * The event of a pending task whose input a newer submit replaced: a
 * `queued` state event with reason `replaced` and the task's `runAt` (moved
 * by a debounce, kept otherwise). The input is not in events: a reader sees
 * it on its next read of the task.
 */
export function replacedEvent(runAt: number): TaskEventData {
  return stateEvent("queued", { reason: "replaced", runAt: new Date(runAt).toISOString() });
}
