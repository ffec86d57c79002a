import { OutlastError } from "../core/errors.js";
import type { TaskRecord } from "../core/task.js";
import type { Outlast, OwnerScope } from "../engine/outlast.js";
import type { Principal } from "./auth.js";

/** The owner the engine acts for on this caller's behalf: none for the admin key. */
export function scopeOf(principal: Principal): OwnerScope {
  return principal.kind === "admin" ? {} : { owner: principal.owner };
}

/** A task token names one task: any other id is not found for it. */
export function checkTaskToken(principal: Principal, id: string): void {
  if (principal.kind === "task" && id !== principal.taskId) throw new OutlastError("not_found", `No task ${id.slice(0, 80)}`);
}

/** The task's record when the caller may see it, else `not_found` (never `forbidden`: that would confirm it exists). */
export async function visibleRecord(outlast: Outlast, principal: Principal, id: string): Promise<TaskRecord> {
  checkTaskToken(principal, id);
  const record = validId(id) ? await outlast.getRecord(id, scopeOf(principal)) : null;
  if (!record) throw new OutlastError("not_found", `No task ${id.slice(0, 80)}`);
  return record;
}

/** Task tokens may only read and watch. */
export function requireOwnerOrAdmin(principal: Principal): void {
  if (principal.kind === "task") throw new OutlastError("forbidden", "A task token may only read and watch its task");
}

export function validId(id: string): boolean {
  return id.length > 0 && id.length <= 128;
}
