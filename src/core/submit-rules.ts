import type { TaskState } from "./states.js";
import type { TaskError } from "./task.js";

/**
 * What a submit does, decided once for every store.
 *
 * With an idempotency key that names a task already stored, the submit
 * answers that task while it is queued, running or succeeded (`existing`),
 * and runs it again from its recorded steps when it failed or was canceled
 * (`resume`) — unless it failed with UnrecoverableError: resuming would
 * only fail again, so it starts over with the new input, its steps and
 * checkpoint dropped (`restart`). Without one it stores a new task
 * (`create`). Each but `existing` adds a queued task, so it must fit the
 * queue's limits.
 */
export type SubmitDecision = "create" | "existing" | "resume" | "restart";

export function submitDecision(found: { state: TaskState; error: TaskError | null } | null): SubmitDecision {
  if (found === null) return "create";
  if (found.state === "failed" && found.error?.unrecoverable === true) return "restart";
  return found.state === "failed" || found.state === "canceled" ? "resume" : "existing";
}

/** A queue's length limits, as stored (null = none). */
export interface LengthLimits {
  maxQueued: number | null;
  ownerMaxQueued: number | null;
}

/**
 * Which limit `adding` more queued tasks (`ownerAdding` of them one owner's)
 * would break, or null when they fit. `queued` counts the queue's queued
 * tasks (or the owner's among them); it is only asked for a limit that is set.
 */
export function fullScope(limits: LengthLimits, adding: number, ownerAdding: number, queued: (scope: "queue" | "owner") => number): "queue" | "owner" | null {
  if (limits.maxQueued !== null && queued("queue") + adding > limits.maxQueued) return "queue";
  if (limits.ownerMaxQueued !== null && queued("owner") + ownerAdding > limits.ownerMaxQueued) return "owner";
  return null;
}

/** The guess a refused submit gets when the queue has no history yet. */
const NO_HISTORY_HINT_MS = 5_000;

/**
 * How long a refused submit is told to wait (`Retry-After`): about one
 * recent run time of the queue (a place is likely free by then), within 1 s
 * and 60 s.
 */
export function retryAfterHint(recentMeanMs: number | null): number {
  return Math.max(1_000, Math.min(60_000, Math.round(recentMeanMs ?? NO_HISTORY_HINT_MS)));
}
