import type { PendingDedupe } from "../core/dedupe.js";
import type { TaskRow } from "./task-row.js";

/**
 * The unfinished tasks of one dedupe key, as both stores read them, split
 * the way core/dedupe.ts decides on: the newest queued one that never
 * started (`pending`), and every other (started: running, waiting, or
 * queued again after an attempt).
 */
export function splitDedupeRows<R extends Pick<TaskRow, "id" | "state" | "started_at" | "run_at" | "dedupe_deadline">>(
  rows: readonly R[],
): { pending: (PendingDedupe & { row: R }) | null; started: R[] } {
  let pending: R | null = null;
  const started: R[] = [];
  for (const row of rows) {
    if (row.state === "queued" && row.started_at === null) {
      // Only one is pending unless an operator ran a canceled one again: the newest takes the input.
      if (pending !== null) started.push(pending);
      pending = row;
    } else started.push(row);
  }
  return { pending: pending === null ? null : { id: pending.id, runAt: pending.run_at, deadline: pending.dedupe_deadline, row: pending }, started };
}
