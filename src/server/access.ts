import { OutlastError } from "../core/errors.js";
import type { TaskRecord } from "../core/task.js";
import type { Outlast } from "../engine/outlast.js";
import type { Principal } from "./auth.js";

/** Whether the caller may see this task at all. Another owner's task does not exist for it. */
export function canSee(principal: Principal, record: { id: string; owner: string }): boolean {
  if (principal.kind === "admin") return true;
  if (principal.kind === "task") return record.id === principal.taskId && record.owner === principal.owner;
  return record.owner === principal.owner;
}

/** The task's record when the caller may see it, else `not_found` (never `forbidden`: that would confirm it exists). */
export async function visibleRecord(outlast: Outlast, principal: Principal, id: string): Promise<TaskRecord> {
  const record = validId(id) ? await outlast.getRecord(id) : null;
  if (!record || !canSee(principal, record)) throw new OutlastError("not_found", `No task ${id.slice(0, 80)}`);
  return record;
}

/** Task tokens may only read and watch. */
export function requireOwnerOrAdmin(principal: Principal): void {
  if (principal.kind === "task") throw new OutlastError("forbidden", "A task token may only read and watch its task");
}

export function validId(id: string): boolean {
  return id.length > 0 && id.length <= 128;
}
