import { OutlastError } from "../core/errors.js";
import { isTaskState, type TaskState } from "../core/states.js";
import type { TaskRecord } from "../core/task.js";
import type { TaskFilter, TaskPage } from "../store/store.js";
import type { DeadLetterQuery } from "./dead-letters.js";

import type { BulkAction, BulkFilter } from "../core/bulk.js";

export type { BulkAction, BulkFilter };

/** The most tasks one bulk call takes (the rest wait for the next call). */
export const BULK_MAX_TASKS = 10_000;
const PAGE = 500;
const BATCH = 50;

/** The states each action applies to. */
const ACTION_STATES: Record<BulkAction, readonly TaskState[]> = {
  cancel: ["queued", "running", "waiting"],
  retry: ["failed", "canceled"],
  redrive: ["failed"],
};

interface BulkSteps {
  listTasks(filter: TaskFilter): Promise<TaskPage>;
  /** Applies the action to one task; false when it changed state meanwhile (skipped). */
  apply(record: TaskRecord): Promise<boolean>;
  /** Redrives by ids (dead letters only; others skipped); answers how many. */
  redriveIds(ids: string[]): Promise<number>;
  /** Redrives every dead letter of a dead-letter filter; answers how many. */
  redriveFilter(filter: DeadLetterQuery): Promise<number>;
}

interface CheckedFilter {
  queue?: string;
  name?: string;
  state?: TaskState;
  code?: string;
  owner?: string;
  since?: number;
  until?: number;
}

export function checkBulkAction(action: unknown): BulkAction {
  if (action === "cancel" || action === "retry" || action === "redrive") return action;
  throw bad("action", "must be cancel, retry or redrive");
}

export function checkBulkFilter(filter: unknown): CheckedFilter {
  if (filter === null || typeof filter !== "object" || Array.isArray(filter)) throw bad("filter", "must be an object");
  const given = filter as Record<string, unknown>;
  const checked: CheckedFilter = {};
  for (const key of Object.keys(given)) {
    if (!["queue", "name", "state", "code", "owner", "since", "until"].includes(key)) throw bad(key, "is not a filter field (queue, name, state, code, owner, since, until)");
  }
  for (const key of ["queue", "name", "code", "owner"] as const) {
    const value = given[key];
    if (value === undefined) continue;
    if (typeof value !== "string" || value.length === 0 || value.length > 512) throw bad(key, "must be a string of 1 to 512 characters");
    checked[key] = value;
  }
  if (given.state !== undefined) {
    if (typeof given.state !== "string" || !isTaskState(given.state)) throw bad("state", "must be queued, running, waiting, succeeded, failed or canceled");
    checked.state = given.state;
  }
  for (const key of ["since", "until"] as const) {
    const value = given[key];
    if (value === undefined) continue;
    const ms = value instanceof Date ? value.getTime() : typeof value === "string" ? Date.parse(value) : value;
    if (typeof ms !== "number" || !Number.isFinite(ms)) throw bad(key, "must be a date, an ISO-8601 string or epoch milliseconds");
    checked[key] = Math.round(ms);
  }
  if (Object.keys(checked).length === 0) throw bad("filter", "must name at least one of queue, name, state, code, owner, since, until: narrow it");
  return checked;
}

/**
 * Applies `action` to the tasks matching `filter`, at most BULK_MAX_TASKS,
 * paging through the store's task list (newest first) and applying in
 * batches; answers how many it touched. A task that changed state meanwhile
 * is skipped. A redrive narrowed only by queue, name and code is the
 * dead-letter redrive by filter.
 */
export async function runBulk(action: BulkAction, filter: CheckedFilter, steps: BulkSteps): Promise<number> {
  const states = ACTION_STATES[action].filter((state) => filter.state === undefined || filter.state === state);
  if (states.length === 0) return 0;
  if (action === "redrive" && filter.owner === undefined && filter.since === undefined && filter.until === undefined) {
    const dead: DeadLetterQuery = {};
    for (const key of ["queue", "name", "code"] as const) if (filter[key] !== undefined) dead[key] = filter[key];
    return steps.redriveFilter(dead);
  }
  const matches = (record: TaskRecord) =>
    (filter.code === undefined || record.error?.code === filter.code) &&
    (filter.since === undefined || record.createdAt >= filter.since) &&
    (filter.until === undefined || record.createdAt < filter.until) &&
    (action !== "redrive" || record.deadLetter);
  const base: TaskFilter = { limit: PAGE };
  for (const key of ["queue", "name", "owner"] as const) if (filter[key] !== undefined) base[key] = filter[key];

  let taken = 0;
  let touched = 0;
  for (const state of states) {
    let cursor: string | undefined;
    do {
      const page = await steps.listTasks({ ...base, state, ...(cursor === undefined ? {} : { cursor }) });
      const chosen = page.tasks.filter(matches).slice(0, BULK_MAX_TASKS - taken);
      taken += chosen.length;
      for (let i = 0; i < chosen.length; i += BATCH) {
        const batch = chosen.slice(i, i + BATCH);
        if (action === "redrive") touched += await steps.redriveIds(batch.map((record) => record.id));
        else touched += (await Promise.all(batch.map((record) => steps.apply(record)))).filter(Boolean).length;
      }
      if (taken >= BULK_MAX_TASKS) return touched;
      cursor = page.nextCursor ?? undefined;
    } while (cursor !== undefined);
  }
  return touched;
}

function bad(field: string, problem: string): OutlastError {
  return new OutlastError("bad_request", `${field} ${problem}`, { details: { field } });
}
