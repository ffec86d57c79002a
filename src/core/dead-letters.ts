import type { TaskState } from "./states.js";
import type { TaskError } from "./task.js";

/**
 * Dead letters: a task that ended `failed` is parked where an operator can
 * see it and send it back (redrive) or drop it (purge), and retention keeps
 * it until then. The one exception is a parent that failed because a child
 * did (`child_failed`): the child is the dead letter, and redriving it runs
 * the parent again.
 */
export function isDeadLetter(state: TaskState, error: TaskError | null | undefined): boolean {
  return state === "failed" && error?.code !== CHILD_FAILED;
}

const CHILD_FAILED = "child_failed";

/** The error code of a task quarantined because its worker kept dying while running it. */
export const POISON_PILL = "poison_pill";

/** Lease expiries in a row (its worker lost each time) before a task is quarantined as a poison pill. */
export const DEFAULT_MAX_LEASE_EXPIRIES = 3;

/** Most a task definition may allow. */
export const MAX_LEASE_EXPIRIES_LIMIT = 1000;

export function poisonPillError(expiries: number): TaskError {
  return {
    message: `The worker running this task was lost ${expiries} time${expiries === 1 ? "" : "s"} in a row (a poison pill?); quarantined as a dead letter`,
    code: POISON_PILL,
  };
}

/** Which dead letters an operator lists, redrives or purges. Times are epoch ms of `finishedAt` (since inclusive, until exclusive). */
export interface DeadLetterFilter {
  queue?: string;
  name?: string;
  /** `error.code`. */
  code?: string;
  since?: number;
  until?: number;
}

/** Dead letters named one by one, or every one matching a filter. */
export type DeadLetterSelection = { ids: readonly string[] } | { filter: DeadLetterFilter };

/** Most dead letters one transaction of a redrive or purge by filter touches; the store loops until none match. */
export const DEAD_LETTER_BATCH = 500;
