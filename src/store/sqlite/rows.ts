import type { EventRowBase } from "../task-row.js";

export { decode, encode, finalColumns, rowToEvent, rowToTask, type TaskRow } from "../task-row.js";

/** A `task_events` row as SQLite returns it. */
export interface EventRow extends EventRowBase {
  id: number;
  kind: string;
}
