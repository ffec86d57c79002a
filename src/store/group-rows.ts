import type { TaskEventData } from "../core/events.js";
import type { TaskState } from "../core/states.js";
import type { TaskError } from "../core/task.js";
import { stateEvent } from "../core/transitions.js";
import type { Progress } from "../core/progress.js";
import { childrenDecision, rolledUpProgress, THEN_KEY, type ChildOutcome, type ChildrenDecision, type ChildRow, type GroupThen, type WaitSpec } from "../core/waits.js";
import type { SubmitRequest } from "./store.js";
import { decode, encode } from "./task-row.js";

/**
 * What both SQL stores share of children and groups: reading a row's wait,
 * the outcomes a group's `then` task receives, and that task's request.
 */

export function readWait(row: { wait: string | null }): WaitSpec | null {
  return (decode(row.wait) as WaitSpec | null) ?? null;
}

/** A task made by submitGroup: it has no handler, and the store runs its life. */
export function isGroup(row: { wait: string | null }): boolean {
  return row.wait !== null && readWait(row)?.kind === "group";
}

/** A group run again (retry, resume) goes back to waiting, not to the queue: the same reason and budget, as a `waiting` event. */
export function rerunWaitEvent(queued: TaskEventData): TaskEventData {
  if (queued.type !== "state") return queued;
  const { reason, maxAttempts } = queued;
  return stateEvent("waiting", { ...(reason ? { reason } : {}), ...(maxAttempts !== undefined ? { maxAttempts } : {}), waitingFor: { kind: "children" } });
}

/**
 * What a change among a parent's children does to it (core/waits.ts): its
 * new rolled-up progress (null when unchanged, as JSON text too), and, when
 * it waits, what becomes of it. Both stores apply this in their own SQL.
 */
export function parentSettlement(
  row: { state: TaskState; progress: string | null; wait: string | null },
  children: readonly ChildRow[],
): { progress: { value: Progress; text: string } | null; decision: ChildrenDecision | null } {
  const value = rolledUpProgress({ state: row.state, progress: decode(row.progress) as Progress | null }, children);
  const text = encode(value);
  const wait = row.state === "waiting" ? readWait(row) : null;
  return { progress: text === row.progress ? null : { value, text }, decision: wait ? childrenDecision(wait, children) : null };
}

/** The columns of a child a group's outcome reads. */
export interface OutcomeRow {
  id: string;
  child_key: string | null;
  name: string;
  state: TaskState;
  result: string | null;
  error: string | null;
}

export function childOutcome(row: OutcomeRow): ChildOutcome {
  return {
    id: row.id,
    key: row.child_key,
    name: row.name,
    state: row.state,
    result: row.state === "succeeded" ? decode(row.result) : null,
    error: (decode(row.error) as TaskError | null) ?? null,
  };
}

/** A group's children, without its `then` task. */
export function groupOutcomes(rows: readonly OutcomeRow[]): ChildOutcome[] {
  return rows.filter((row) => row.child_key !== THEN_KEY).map(childOutcome);
}

/** The `then` task of a group: its own input (an object's fields, else under `input`) plus the children's outcomes. */
export function thenRequest(group: { id: string; owner: string }, then: GroupThen, outcomes: ChildOutcome[], now: number): SubmitRequest {
  const own = then.input;
  const input =
    typeof own === "object" && own !== null && !Array.isArray(own) ? { ...(own as Record<string, unknown>), children: outcomes } : { input: own ?? null, children: outcomes };
  return {
    id: then.id,
    name: then.name,
    queue: then.queue,
    owner: group.owner,
    title: null,
    input,
    priority: then.priority,
    runAt: now,
    maxAttempts: then.maxAttempts,
    timeoutMs: then.timeoutMs,
    idempotencyKey: null,
    // Weightless: the bar is the children's; it reaches 100 when the group ends.
    parent: { id: group.id, key: THEN_KEY, weight: 0 },
  };
}
