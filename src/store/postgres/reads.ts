import type { StoredEvent } from "../../core/events.js";
import * as limits from "../../core/queue-limits.js";
import type { QueueSettings } from "../../core/queue-limits.js";
import { isFinal, type TaskState } from "../../core/states.js";
import type { TaskRecord } from "../../core/task.js";
import { prefixRange } from "../../core/prefix.js";
import { queueList, SEARCH_COLUMNS, type QueueInfo, type TaskFilter, type TaskPage, type WorkerHeartbeat } from "../store.js";
import { decode, rowToEvent, rowToTask, type EventRow, type TaskRow } from "./rows.js";
import { rowToQueueSettings, rowToWorker, type QueueRowBase, type WorkerRow } from "../task-row.js";
import { rows, type Queryable } from "./sql.js";
import { DERIVED_EVENT_COLUMNS, derivedEventsSql } from "./derived-events.js";
import type { DeadLetterFilter } from "../../core/dead-letters.js";
import { deadConditions, deadCursor, readDeadCursor } from "../dead-rows.js";

/** Deltas of finished counts past which a read folds them into one row per queue and state. */
const FOLD_AT = 1_000;

/**
 * Replace the deltas of finished counts with their sums, in one statement: a
 * concurrent fold only deletes rows this one did not (each deleted row is
 * summed once), so counts read at any moment stay exact.
 */
export async function foldCounts(db: Queryable, s: string): Promise<void> {
  await rows(
    db,
    `WITH d AS (DELETE FROM ${s}.state_counts RETURNING queue, state, n)
     INSERT INTO ${s}.state_counts SELECT queue, state, sum(n) FROM d GROUP BY queue, state HAVING sum(n) <> 0`,
  );
}

/** A `queues` row. */
export type QueueRow = QueueRowBase & { paused: boolean };

/** Reads outside any write, on the pool, for one schema. */
export class PgReads {
  constructor(private readonly s: string) {}

  async task(db: Queryable, id: string): Promise<TaskRecord | null> {
    const [row] = await rows<TaskRow>(db, `SELECT * FROM ${this.s}.tasks WHERE id = $1`, [id], `outlast:${this.s}:get`);
    return row ? rowToTask(row) : null;
  }

  async list(db: Queryable, filter: TaskFilter): Promise<TaskPage> {
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (sql: string, value: unknown) => {
      params.push(value);
      where.push(sql.replace("?", `$${params.length}`));
    };
    if (filter.owner !== undefined) add("owner = ?", filter.owner);
    if (filter.state !== undefined) {
      // Work still to do is found in the narrow table, not among every task ever kept; failed and canceled tasks
      // through their column's index alone (with state = … beside it, the planner misjudged the two as independent
      // and sorted every failure instead of walking the index back).
      if (filter.state === "failed" || filter.state === "canceled") add("unsuccessful = ?", filter.state);
      else add("state = ?", filter.state);
      if (!isFinal(filter.state)) add(`seq IN (SELECT seq FROM ${this.s}.active WHERE state = ?)`, filter.state);
    }
    if (filter.queue !== undefined) add("queue = ?", filter.queue);
    if (filter.name !== undefined) add("name = ?", filter.name);
    if (filter.search !== undefined) {
      const range = prefixRange(filter.search);
      if (range === null) where.push("false");
      else {
        params.push(range.from);
        const from = `$${params.length}`;
        if (range.below !== null) params.push(range.below);
        const below = `$${params.length}`;
        // COLLATE "C": code point order whatever the database's collation, and the collation of the search indexes.
        const terms = SEARCH_COLUMNS.map(
          (column) => `(${column} COLLATE "C" >= ${from}${range.below === null ? "" : ` AND ${column} COLLATE "C" < ${below}`})`,
        );
        where.push(`(${terms.join(" OR ")})`);
      }
    }
    // Children page in submit order, everything else newest first.
    const children = filter.parentId !== undefined;
    if (children) add("parent_id = ?", filter.parentId);
    if (filter.cursor !== undefined) {
      const before = Number.parseInt(filter.cursor, 36);
      if (Number.isSafeInteger(before)) add(children ? "seq > ?" : "seq < ?", before);
    }
    const limit = Math.max(1, Math.min(1000, filter.limit));
    params.push(limit + 1);
    const sql = `SELECT * FROM ${this.s}.tasks ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY seq ${children ? "ASC" : "DESC"} LIMIT $${params.length}`;
    const found = await rows<TaskRow>(db, sql, params);
    const page = found.slice(0, limit);
    const last = page[page.length - 1];
    return { tasks: page.map(rowToTask), nextCursor: found.length > limit && last ? last.seq.toString(36) : null };
  }

  /** Dead letters newest first (finishedAt, then seq), paged by a cursor of both (store/dead-rows.ts). */
  async deadLetters(db: Queryable, filter: DeadLetterFilter & { limit: number; cursor?: string }): Promise<TaskPage> {
    const params: unknown[] = [];
    const param = (value: unknown) => (params.push(value), `$${params.length}`);
    // dead_at: finished_at of a dead letter, null for every other task (a column a success leaves alone).
    const where = deadConditions(filter, param, "(error::jsonb ->> 'code')", "dead_at");
    const after = readDeadCursor(filter.cursor);
    if (after) where.push(`(dead_at, seq) < (${param(after.finishedAt)}::bigint, ${param(after.seq)}::bigint)`);
    const limit = Math.max(1, Math.min(1000, filter.limit));
    const found = await rows<TaskRow>(
      db,
      `SELECT * FROM ${this.s}.tasks WHERE dead_at IS NOT NULL ${where.map((w) => `AND ${w}`).join(" ")} ORDER BY dead_at DESC, seq DESC LIMIT ${limit + 1}`,
      params,
    );
    const page = found.slice(0, limit);
    const last = page[page.length - 1];
    return { tasks: page.map(rowToTask), nextCursor: found.length > limit && last ? deadCursor({ finished_at: Number(last.finished_at), seq: Number(last.seq) }) : null };
  }

  /** A task's children in submit order. */
  async children(db: Queryable, parentId: string): Promise<TaskRecord[]> {
    const found = await rows<TaskRow>(db, `SELECT * FROM ${this.s}.tasks WHERE parent_id = $1 ORDER BY seq`, [parentId]);
    return found.map(rowToTask);
  }

  async position(db: Queryable, id: string, now: number): Promise<number | null> {
    // Runnable tasks in claim order (core/turns.ts); a due task not yet given its turn is at the front of its priority.
    const [row] = await rows<{ n: number | null }>(
      db,
      `SELECT (SELECT count(*) FROM ${this.s}.active o WHERE o.state = 'queued' AND o.queue = t.queue AND o.turn IS NOT NULL
               AND (o.priority > t.priority OR (o.priority = t.priority AND t.turn IS NOT NULL
                 AND (o.turn < t.turn OR (o.turn = t.turn AND o.seq < t.seq))))) AS n
       FROM ${this.s}.tasks t WHERE t.id = $1 AND t.state = 'queued' AND (t.turn IS NOT NULL OR t.run_at <= $2)`,
      [id, now],
    );
    return row && row.n !== null ? row.n + 1 : null;
  }

  async recentDurationMs(db: Queryable, queue: string): Promise<number | null> {
    const [row] = await rows<{ ms: number | null }>(
      db,
      `SELECT avg(finished_at - started_at)::float8 AS ms FROM
         (SELECT finished_at, started_at FROM ${this.s}.tasks WHERE state = 'succeeded' AND queue = $1 AND finished_at IS NOT NULL ORDER BY seq DESC LIMIT 50) recent`,
      [queue],
    );
    return row?.ms ?? null;
  }

  async steps(db: Queryable, taskId: string): Promise<Map<string, unknown>> {
    const found = await rows<{ name: string; result: string }>(db, `SELECT name, result FROM ${this.s}.task_steps WHERE task_id = $1`, [taskId]);
    return new Map(found.map((row) => [row.name, decode(row.result)]));
  }

  async events(db: Queryable, taskId: string, afterSeq: number, limit: number): Promise<StoredEvent[]> {
    const found = await rows<EventRow>(
      db,
      `SELECT task_id, owner, queue, seq, attempt, at, data FROM ${this.s}.task_events WHERE task_id = $1 AND seq > $2
       UNION ALL
       SELECT ${DERIVED_EVENT_COLUMNS} FROM ${this.s}.tasks t CROSS JOIN ${derivedEventsSql("t")}
       WHERE t.id = $1 AND t.derived <> 0 AND d.bit <> 0 AND d.seq > $2
       ORDER BY seq LIMIT $3`,
      [taskId, afterSeq, Math.max(0, Math.floor(limit))],
      `outlast:${this.s}:events`,
    );
    return found.map(rowToEvent);
  }

  async workers(db: Queryable, aliveSince: number): Promise<WorkerHeartbeat[]> {
    const found = await rows<WorkerRow>(db, `SELECT * FROM ${this.s}.workers WHERE heartbeat_at >= $1 ORDER BY started_at, id`, [aliveSince]);
    return found.map(rowToWorker);
  }

  async queueSettings(db: Queryable): Promise<QueueSettings[]> {
    const found = await rows<QueueRow>(db, `SELECT * FROM ${this.s}.queues`);
    return found.map(rowToQueueSettings).sort(limits.byName);
  }

  async queues(db: Queryable): Promise<QueueInfo[]> {
    const [configs, counts] = await Promise.all([
      rows<QueueRow>(db, `SELECT * FROM ${this.s}.queues`),
      // Work to do counted in the narrow table, finished tasks from their counts' deltas: no scan of the history.
      rows<{ queue: string; state: TaskState; n: number; parts: number }>(
        db,
        `SELECT queue, state, count(*)::int AS n, 0 AS parts FROM ${this.s}.active GROUP BY queue, state
         UNION ALL SELECT queue, state, sum(n)::int AS n, count(*)::int AS parts FROM ${this.s}.state_counts GROUP BY queue, state HAVING sum(n) <> 0`,
        [],
        `outlast:${this.s}:queue-counts`,
      ),
    ]);
    if (counts.reduce((sum, c) => sum + c.parts, 0) > FOLD_AT) await foldCounts(db, this.s);
    return queueList(configs.map(rowToQueueSettings), counts.map(({ queue, state, n }) => ({ queue, state, n })));
  }

}
