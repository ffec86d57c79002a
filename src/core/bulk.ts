import type { TaskState } from "./states.js";

/** What a bulk action does to every task of its filter: cancel the unfinished, retry the failed and canceled, or redrive the dead letters. */
export type BulkAction = "cancel" | "retry" | "redrive";

/**
 * Which tasks a bulk action touches (`outlast.bulk`, `POST /api/v1/tasks/bulk`,
 * the client's `bulk()`). At least one field: an operator must narrow it.
 * `code` is `error.code`; `since` (at or after) and `until` (before) bound
 * `createdAt`, as ISO-8601 text, a `Date` or epoch milliseconds.
 */
export interface BulkFilter {
  queue?: string;
  name?: string;
  state?: TaskState;
  code?: string;
  owner?: string;
  since?: Date | string | number;
  until?: Date | string | number;
}
