import { TASK_STATES } from "../../core/states.js";
import type { Database } from "better-sqlite3";
import type { StoredEvent } from "../../core/events.js";
import * as limits from "../../core/queue-limits.js";
import type { QueueSettings } from "../../core/queue-limits.js";
import type { TaskRecord } from "../../core/task.js";
import { prefixRange } from "../../core/prefix.js";
import { queueList, SEARCH_COLUMNS, type QueueInfo, type TaskFilter, type TaskPage, type WorkerHeartbeat } from "../store.js";
import { stepsOf } from "./claim.js";
import { rowToEvent, rowToTask, type TaskRow } from "./rows.js";
import { rowToQueueSettings, rowToWorker } from "../task-row.js";
import type { Statements } from "./statements.js";
import type { DeadLetterFilter } from "../../core/dead-letters.js";
import { deadConditions, deadCursor, readDeadCursor } from "../dead-rows.js";

/** Reads, outside any write: SQLite's WAL lets them run beside a writer. */
export class SqliteReads {
  constructor(
    private readonly db: Database,
    private readonly sql: Statements,
  ) {}

  task(id: string): TaskRecord | null {
    const row = this.sql.byId.get(id);
    return row ? rowToTask(row) : null;
  }

  list(filter: TaskFilter): TaskPage {
    const where: string[] = [];
    const params: Record<string, string | number> = { limit: Math.max(1, Math.min(1000, filter.limit)) + 1 };
    if (filter.owner !== undefined) (where.push("owner = @owner"), (params.owner = filter.owner));
    let from = "tasks";
    if (filter.state !== undefined) {
      // A state's own index, never a walk back through every task kept (the planner prefers the rowid order).
      // The state is one of the store's own names, written into the statement so that partial indexes apply.
      const state = TASK_STATES.find((s) => s === filter.state);
      if (state === undefined) (where.push("state = @state"), (params.state = filter.state));
      else where.push(`state = '${state}'`);
      if (state === "failed" || state === "canceled") from = `tasks INDEXED BY tasks_${state}`;
      else if (state !== undefined && state !== "succeeded") where.push(`seq IN (SELECT seq FROM tasks WHERE state = '${state}')`);
    }
    if (filter.queue !== undefined) (where.push("queue = @queue"), (params.queue = filter.queue));
    if (filter.name !== undefined) (where.push("name = @name"), (params.name = filter.name));
    if (filter.search !== undefined) where.push(searchCondition(filter.search, params));
    // Children page in submit order, everything else newest first.
    const children = filter.parentId !== undefined;
    if (children) (where.push("parent_id = @parent"), (params.parent = filter.parentId!));
    if (filter.cursor !== undefined) {
      const before = Number.parseInt(filter.cursor, 36);
      if (Number.isSafeInteger(before)) (where.push(children ? "seq > @before" : "seq < @before"), (params.before = before));
    }
    const sql = `SELECT * FROM ${from} ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY seq ${children ? "ASC" : "DESC"} LIMIT @limit`;
    const rows = this.db.prepare<Record<string, string | number>, TaskRow>(sql).all(params);
    const limit = (params.limit as number) - 1;
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return { tasks: page.map(rowToTask), nextCursor: rows.length > limit && last ? last.seq.toString(36) : null };
  }

  /** Dead letters newest first (finishedAt, then seq), paged by a cursor of both (store/dead-rows.ts). */
  deadLetters(filter: DeadLetterFilter & { limit: number; cursor?: string }): TaskPage {
    const params: (string | number)[] = [];
    const param = (value: string | number) => (params.push(value), "?");
    const where = deadConditions(filter, param, "json_extract(error, '$.code')");
    const after = readDeadCursor(filter.cursor);
    if (after) where.push(`(finished_at < ${param(after.finishedAt)} OR (finished_at = ${param(after.finishedAt)} AND seq < ${param(after.seq)}))`);
    const limit = Math.max(1, Math.min(1000, filter.limit));
    const sql = `SELECT * FROM tasks WHERE dead_letter = 1 ${where.map((w) => `AND ${w}`).join(" ")} ORDER BY finished_at DESC, seq DESC LIMIT ${limit + 1}`;
    const rows = this.db.prepare<(string | number)[], TaskRow>(sql).all(...params);
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return { tasks: page.map(rowToTask), nextCursor: rows.length > limit && last ? deadCursor(last) : null };
  }

  position(id: string, now: number): number | null {
    const row = this.sql.byId.get(id);
    if (!row || row.state !== "queued" || (row.turn === null && row.run_at > now)) return null;
    return this.sql.position.get({ queue: row.queue, priority: row.priority, turn: row.turn, seq: row.seq })!.n + 1;
  }

  recentDurationMs(queue: string): number | null {
    return this.sql.recentDuration.get(queue)?.ms ?? null;
  }

  steps(taskId: string): Map<string, unknown> {
    return stepsOf(this.sql, taskId);
  }

  events(taskId: string, afterSeq: number, limit: number): StoredEvent[] {
    return this.sql.events.all(taskId, afterSeq, limit).map(rowToEvent);
  }

  workers(aliveSince: number): WorkerHeartbeat[] {
    return this.sql.workers.all(aliveSince).map(rowToWorker);
  }

  queueSettings(): QueueSettings[] {
    return this.sql.allQueues.all().map(rowToQueueSettings).sort(limits.byName);
  }

  queues(): QueueInfo[] {
    return queueList(this.sql.allQueues.all().map(rowToQueueSettings), this.sql.countsByQueue.all());
  }
}

/** `search` as ranges over indexed columns (core/prefix.ts); BINARY collation compares in code point order. */
function searchCondition(search: string, params: Record<string, string | number>): string {
  const range = prefixRange(search);
  if (range === null) return "0";
  params.search_from = range.from;
  if (range.below !== null) params.search_below = range.below;
  const terms = SEARCH_COLUMNS.map((column) => `(${column} >= @search_from${range.below === null ? "" : ` AND ${column} < @search_below`})`);
  return `(${terms.join(" OR ")})`;
}
