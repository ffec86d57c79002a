import type { Progress } from "./progress.js";
import type { TaskState } from "./states.js";
import type { TaskError } from "./task.js";

/**
 * Durable waits: a task that waits releases its worker slot and sits in the
 * `waiting` state until what it waits for happens; then it is queued again
 * and its handler runs from the start, its steps replayed, so the wait
 * returns at once. These are the rules both stores apply.
 */

/** How many failed (or canceled) children a parent tolerates: all of them (`continue`), none (`fail-fast`), or up to `maxFailures`. */
export type FailurePolicy = "fail-fast" | "continue" | { maxFailures: number };

/** What a waiting task waits for, as the store keeps it (the `wait` column). */
export type WaitSpec =
  /** `ctx.sleep` / `ctx.sleepUntil`: the step recorded when it wakes. */
  | { kind: "sleep"; step: string; until: number }
  /** `ctx.waitForSignal`: the step that receives the payload; `until` is the timeout, or null. */
  | { kind: "signal"; step: string; name: string; until: number | null }
  /** `ctx.runChildren` / a child's `wait()`: these children of the task (null: all of them). */
  | { kind: "children"; keys: string[] | null; failure: FailurePolicy }
  /**
   * A group made by `submitGroup`: no handler of its own; the store ends it
   * when its children end, or first queues its `then` task (a child with
   * key THEN_KEY) and ends it with that task.
   */
  | { kind: "group"; failure: FailurePolicy; then: GroupThen | null };

/** The `then` task of a group, resolved at submit (queue, attempts) so the store can submit it when the children end. */
export interface GroupThen {
  id: string;
  name: string;
  queue: string;
  input: unknown;
  priority: number;
  maxAttempts: number;
  timeoutMs: number | null;
}

export const THEN_KEY = "then";

/** What a waiting task's public JSON says it waits for. */
export type WaitingFor =
  | { kind: "sleep"; until: string }
  | { kind: "signal"; name: string; until: string | null }
  | { kind: "children" };

export function waitingFor(wait: WaitSpec): WaitingFor {
  switch (wait.kind) {
    case "sleep":
      return { kind: "sleep", until: new Date(wait.until).toISOString() };
    case "signal":
      return { kind: "signal", name: wait.name, until: wait.until === null ? null : new Date(wait.until).toISOString() };
    default:
      return { kind: "children" };
  }
}

/** When the store wakes a wait by the clock: a sleep's end, a signal's timeout; null for children. */
export function wakeAt(wait: WaitSpec): number | null {
  return wait.kind === "sleep" || wait.kind === "signal" ? wait.until : null;
}

/** A step's recorded value for a signal wait that timed out (`ctx.waitForSignal` throws SignalTimeoutError on reading it). */
export const SIGNAL_TIMED_OUT = Object.freeze({ timedOut: true });

/** A step's recorded value for a signal that arrived. */
export function signalReceived(payload: unknown): { payload: unknown } {
  return { payload: payload === undefined ? null : payload };
}

/** Reserved step names (a handler's own steps cannot start with "~"). */
export const WAIT_STEP_PREFIX = "~";

/** The rolled-up counts of a parent's children, in `progress.children`. */
export interface ChildCounts {
  total: number;
  queued: number;
  running: number;
  waiting: number;
  succeeded: number;
  failed: number;
  canceled: number;
}

/** What the stores read of each child to roll it up: in submit order. */
export interface ChildRow {
  id: string;
  key: string | null;
  name: string;
  state: TaskState;
  weight: number;
  percent: number | null;
}

export function countChildren(children: readonly Pick<ChildRow, "state">[]): ChildCounts {
  const counts: ChildCounts = { total: children.length, queued: 0, running: 0, waiting: 0, succeeded: 0, failed: 0, canceled: 0 };
  for (const child of children) counts[child.state]++;
  return counts;
}

/**
 * The weighted share of the children's work that is done, 0 to 100: a
 * finished child (whatever its outcome) counts as all done, an unfinished
 * one by its own percent. Exactly 100 once all have ended.
 */
export function rolledUpPercent(children: readonly ChildRow[]): number {
  let total = 0;
  let done = 0;
  let unfinished = 0;
  for (const child of children) {
    const weight = child.weight > 0 ? child.weight : 0;
    total += weight;
    if (isEnded(child.state)) done += weight;
    else {
      unfinished++;
      done += (weight * clampPercent(child.percent)) / 100;
    }
  }
  if (unfinished === 0) return children.length === 0 ? 0 : 100;
  if (total === 0) return 0;
  return Math.min(99.99, Math.round((done / total) * 10_000) / 100);
}

/**
 * A parent's progress after a change among its children. While it waits
 * (or is queued to resume) the bar is the children's; while its handler
 * runs, what the handler reported stays, with fresh counts.
 */
export function rolledUpProgress(parent: { state: TaskState; progress: Progress | null }, children: readonly ChildRow[]): Progress {
  const counts = countChildren(children);
  const own = parent.progress ?? {};
  if (parent.state === "running") return { ...own, children: counts };
  const ended = counts.succeeded + counts.failed + counts.canceled;
  return { ...own, percent: rolledUpPercent(children), current: ended, total: counts.total, children: counts };
}

/** What a change among a waiting task's children does to it. */
export type ChildrenDecision =
  | { kind: "wait" }
  /** Queue it again: its handler reads the outcomes. `cancel`: unfinished siblings a fail-fast ends. */
  | { kind: "wake"; cancel: string[] }
  /** A group ends: failed (its error names the child), or succeeded with a result. */
  | { kind: "fail"; error: TaskError; cancel: string[] }
  /** A group ends succeeded: with its `then` task's result, or (no `then`) the children's outcomes. */
  | { kind: "succeed"; then: string | null }
  /** A group with a `then` task: its children ended, so the `then` task is submitted. */
  | { kind: "then" };

/** Children still to end count against nothing; this many failed or canceled ones are tolerated. */
function tolerated(policy: FailurePolicy, total: number): number {
  if (policy === "continue") return total;
  if (policy === "fail-fast") return 0;
  return policy.maxFailures;
}

/** The child whose failure breaks the policy, if one does. */
export function breakingFailure(policy: FailurePolicy, children: readonly Pick<ChildRow, "state" | "id" | "key" | "name">[]): Pick<ChildRow, "id" | "key" | "name"> | null {
  const allowed = tolerated(policy, children.length);
  let failures = 0;
  for (const child of children) {
    if (child.state !== "failed" && child.state !== "canceled") continue;
    failures++;
    if (failures > allowed) return child;
  }
  return null;
}

export function childFailedError(child: Pick<ChildRow, "id" | "key" | "name">): TaskError {
  const label = child.key === null ? child.id : `${child.key} (${child.id})`;
  return { message: `Child task ${label} of ${child.name} did not succeed`, code: "child_failed" };
}

/**
 * What the store does to a waiting parent when one of its children changed
 * (`children` in submit order, the group's `then` task among them).
 */
export function childrenDecision(wait: WaitSpec, children: readonly ChildRow[]): ChildrenDecision {
  if (wait.kind !== "children" && wait.kind !== "group") return { kind: "wait" };
  const then = wait.kind === "group" ? children.find((c) => c.key === THEN_KEY) : undefined;
  if (then) {
    if (!isEnded(then.state)) return { kind: "wait" };
    if (then.state === "succeeded") return { kind: "succeed", then: then.id };
    return { kind: "fail", error: childFailedError(then), cancel: [] };
  }
  const watched = wait.kind === "children" && wait.keys !== null ? pick(children, wait.keys) : children;
  const broken = breakingFailure(wait.failure, watched);
  if (broken) {
    const cancel = watched.filter((c) => !isEnded(c.state)).map((c) => c.id);
    if (wait.kind === "group") return { kind: "fail", error: childFailedError(broken), cancel };
    return { kind: "wake", cancel };
  }
  if (watched.some((c) => !isEnded(c.state))) return { kind: "wait" };
  if (wait.kind === "children") return { kind: "wake", cancel: [] };
  return wait.then === null ? { kind: "succeed", then: null } : { kind: "then" };
}

function pick(children: readonly ChildRow[], keys: readonly string[]): ChildRow[] {
  const wanted = new Set(keys);
  return children.filter((c) => c.key !== null && wanted.has(c.key));
}

function isEnded(state: TaskState): boolean {
  return state === "succeeded" || state === "failed" || state === "canceled";
}

function clampPercent(percent: number | null): number {
  if (percent === null || !Number.isFinite(percent)) return 0;
  return Math.min(100, Math.max(0, percent));
}

/** The outcome of one child, as `runChildren` returns it and a group's `then` task receives it. */
export interface ChildOutcome<Result = unknown> {
  id: string;
  key: string | null;
  name: string;
  state: TaskState;
  result: Result | null;
  error: TaskError | null;
}

/** Checks a failure policy as given by a caller (ctx.runChildren, submitGroup, HTTP). */
export function readFailurePolicy(value: unknown): FailurePolicy | null {
  if (value === undefined) return "fail-fast";
  if (value === "fail-fast" || value === "continue") return value;
  if (typeof value === "object" && value !== null && !Array.isArray(value)) {
    const keys = Object.keys(value);
    const n = (value as { maxFailures?: unknown }).maxFailures;
    if (keys.length === 1 && typeof n === "number" && Number.isInteger(n) && n >= 0) return { maxFailures: n };
  }
  return null;
}
