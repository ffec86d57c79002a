import { backoffDelay, type BackoffOptions } from "../core/backoff.js";
import { ChildTaskFailedError, RetryLaterError, UnrecoverableError } from "../core/errors.js";
import type { TaskError, TaskRecord } from "../core/task.js";
import type { FinishOutcome } from "../core/transitions.js";

/** Why an attempt was cut short, if it was; the first cause wins. */
export type AbortCause = "cancel" | "timeout" | "shutdown" | "lease_lost" | "stalled";

/** The error an attempt records when it ended for a cause rather than by what its handler did. */
export const CAUSE_ERRORS: Readonly<Record<AbortCause, TaskError>> = {
  cancel: { message: "Canceled", code: "canceled" },
  timeout: { message: "Timed out", code: "timeout" },
  shutdown: { message: "Worker shut down", code: "shutdown" },
  lease_lost: { message: "Lease lost", code: "lease_lost" },
  stalled: { message: "Stalled: no progress, step, log line or checkpoint", code: "stalled" },
};

/** What the handler did: returned a value, or threw. */
export type HandlerEnd = { ok: true; value: unknown } | { ok: false; error: unknown };

/**
 * How an attempt ends, from what its handler did and what cut it short:
 * one rule for handlers run in this process (execution.ts) and for workers
 * over HTTP (remote-work.ts), so retries, backoff, `maxAttempts` and dead
 * letters cannot differ between them. A thrown `UnrecoverableError` fails
 * for good, a `RetryLaterError` retries after its delay, anything else
 * after the definition's backoff while attempts are left.
 */
export function attemptOutcome(
  task: Pick<TaskRecord, "attempt" | "maxAttempts">,
  cause: AbortCause | null,
  end: HandlerEnd,
  backoff: BackoffOptions | undefined,
  now: number,
): Exclude<FinishOutcome, { state: "waiting" }> {
  if (cause === "cancel") return { state: "canceled", error: CAUSE_ERRORS.cancel };
  // A handler that returns after its timeout (or its stall) still failed the attempt.
  if (end.ok && cause !== "timeout" && cause !== "stalled") {
    return { state: "succeeded", result: end.value === undefined ? null : end.value };
  }
  const thrown = end.ok ? undefined : end.error;
  const error = cause === "timeout" || cause === "stalled" ? CAUSE_ERRORS[cause] : toTaskError(thrown);
  if (thrown instanceof UnrecoverableError) return { state: "failed", error: { ...error, unrecoverable: true } };
  // The same child would fail it again: a retry of the parent (which runs its failed children again) is the way on.
  if (thrown instanceof ChildTaskFailedError) return { state: "failed", error };
  if (task.attempt >= task.maxAttempts) return { state: "failed", error };
  const delay = thrown instanceof RetryLaterError ? Math.max(0, thrown.delayMs) : backoffDelay(task.attempt, backoff);
  return { state: "retry", error, runAt: now + delay };
}

export function toTaskError(error: unknown): TaskError {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    const message = error.message.slice(0, 4000) || error.name;
    return typeof code === "string" ? { message, code } : { message };
  }
  return { message: String(error).slice(0, 4000) };
}
