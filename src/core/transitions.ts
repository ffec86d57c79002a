import type { StateReason, TaskEventData } from "./events.js";
import type { TaskState } from "./states.js";
import type { TaskError } from "./task.js";
import { waitingFor, type WaitSpec } from "./waits.js";
import { isDeadLetter, poisonPillError } from "./dead-letters.js";

/**
 * The rules of a task's life, decided once for every store: each function
 * answers what a change writes (the columns and the event it logs), and
 * the stores only turn that into their SQL. The client's fold of the same
 * events is `applyEvent` (fold.ts); the contract suite checks the two agree.
 */

/** How a worker ends an attempt. */
export type FinishOutcome =
  | { state: "succeeded"; result: unknown }
  | { state: "failed"; error: TaskError }
  | { state: "retry"; error: TaskError; runAt: number }
  | { state: "canceled"; error?: TaskError }
  /** The handler waits (core/waits.ts): the task gives its slot back until the wait is over. */
  | { state: "waiting"; wait: WaitSpec };

/** The columns an ended attempt leaves, and the state event that says so. */
export interface FinishTransition {
  /** `queued` for a retry (the task stays unfinished). */
  state: "succeeded" | "failed" | "canceled" | "queued";
  /** Kept only when succeeded (`undefined` is stored as null). */
  result: unknown;
  error: TaskError | null;
  /** A retry's new `runAt`; null keeps the task's. */
  runAt: number | null;
  /** Whether `finished_at` is set to now (every state but a retry). */
  finished: boolean;
  /** Whether the task becomes a dead letter (core/dead-letters.ts): kept for an operator to redrive or purge. */
  deadLetter: boolean;
  event: TaskEventData;
}

/** A handler that waits: its state event, and what it waits for. The attempt it used is given back, as by a release. */
export function waitTransition(wait: WaitSpec): TaskEventData {
  return stateEvent("waiting", { waitingFor: waitingFor(wait) });
}

/** What it waited for happened: queued now, to run its handler again from its steps. */
export const WOKEN_EVENT: TaskEventData = Object.freeze(stateEvent("queued", { reason: "woken" }));

export function finishTransition(outcome: Exclude<FinishOutcome, { state: "waiting" }>): FinishTransition {
  switch (outcome.state) {
    case "succeeded": {
      const result = outcome.result === undefined ? null : outcome.result;
      return { state: "succeeded", result, error: null, runAt: null, finished: true, deadLetter: false, event: stateEvent("succeeded", { result }) };
    }
    case "retry":
      return {
        state: "queued",
        result: null,
        error: outcome.error,
        runAt: outcome.runAt,
        finished: false,
        deadLetter: false,
        event: stateEvent("queued", { reason: "retry", error: outcome.error, runAt: new Date(outcome.runAt).toISOString() }),
      };
    case "failed":
    case "canceled":
      return endTransition(outcome.state, outcome.error ?? null);
  }
}

/** A task ended without a result: failed, or canceled (with the error that says why, when there is one). */
export function endTransition(state: "failed" | "canceled", error: TaskError | null): FinishTransition {
  return {
    state,
    result: null,
    error,
    runAt: null,
    finished: true,
    deadLetter: isDeadLetter(state, error),
    event: stateEvent(state, error === null ? {} : { error }),
  };
}

/** What a lease that ran out does to its task. */
export type ExpiryDecision =
  | { kind: "end"; transition: FinishTransition }
  /** Back to queued at once, keeping its attempt count (the lost attempt is spent); `leaseExpiries` is its new count in a row. */
  | { kind: "requeue"; event: TaskEventData; leaseExpiries: number };

/** The error a task fails with when its last attempt's worker was lost. */
export const LEASE_EXPIRED = "lease_expired";

/** What an expiry reads of its task: `leaseExpiries` counts the expiries in a row before this one. */
export interface ExpiringTask {
  cancelRequested: boolean;
  attempt: number;
  maxAttempts: number;
  leaseExpiries: number;
  maxLeaseExpiries: number;
}

/**
 * A cancel that was asked is carried out; a task whose lease ran out
 * `maxLeaseExpiries` times in a row (its worker died each time) is
 * quarantined as a poison pill, attempts left or not; a task out of
 * attempts fails with `lease_expired`; any other goes back to the queue,
 * one more expiry in a row counted. Every other end of an attempt (a
 * finish, a retry, a wait, a release) starts the count again at 0.
 */
export function expiryDecision(task: ExpiringTask, message: string): ExpiryDecision {
  if (task.cancelRequested) return { kind: "end", transition: endTransition("canceled", null) };
  const leaseExpiries = task.leaseExpiries + 1;
  if (leaseExpiries >= task.maxLeaseExpiries) return { kind: "end", transition: endTransition("failed", poisonPillError(leaseExpiries)) };
  if (task.attempt >= task.maxAttempts) return { kind: "end", transition: endTransition("failed", { message, code: LEASE_EXPIRED }) };
  return { kind: "requeue", event: stateEvent("queued", { reason: LEASE_EXPIRED }), leaseExpiries };
}

/** Why an ended task runs again: an operator's retry, a resume by its idempotency key, or a restart from scratch (core/submit-rules.ts). */
export type RerunReason = "retry" | "resumed" | "restarted";

/**
 * An ended task run again: queued now with `budget` more attempts than it
 * has used; result, error, cancel, its dead-letter flag and its lease
 * expiries in a row cleared; steps and checkpoint kept,
 * except by a restart, which drops them and its progress and takes the
 * new input.
 */
export function rerunTransition(task: { attempt: number }, reason: RerunReason, budget: number): { maxAttempts: number; event: TaskEventData } {
  const maxAttempts = task.attempt + budget;
  return { maxAttempts, event: stateEvent("queued", { reason, maxAttempts }) };
}

/** A stopping worker hands a task back: queued now, the attempt it used given back. */
export const RELEASE_EVENT: TaskEventData = Object.freeze(stateEvent("queued", { reason: "released" }));

export const RUNNING_EVENT: TaskEventData = Object.freeze(stateEvent("running"));

const QUEUED_EVENT: TaskEventData = Object.freeze(stateEvent("queued"));

/** A new task's first event; a delayed one's says when it may run. */
export function firstQueuedEvent(runAt: number, now: number): TaskEventData {
  return runAt > now ? stateEvent("queued", { runAt: new Date(runAt).toISOString() }) : QUEUED_EVENT;
}

/**
 * The text a task's log line is kept as, or null when it is dropped: a task
 * keeps `max` lines, and the last one kept says that later ones are dropped.
 * `count` is how many the task has kept so far.
 */
export function logLine(message: string, count: number, max: number): string | null {
  if (count >= max) return null;
  return count + 1 === max ? `${message}\n(log limit of ${max} lines reached; later lines are dropped)` : message;
}

type StateExtra = Omit<Extract<TaskEventData, { type: "state" }>, "type" | "state">;

/** A state event's data. */
export function stateEvent(state: TaskState, extra: StateExtra = {}): TaskEventData {
  return { type: "state", state, ...extra };
}

export type { StateReason };
