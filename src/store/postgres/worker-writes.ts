import type { TaskEventData } from "../../core/events.js";
import type { Progress } from "../../core/progress.js";
import type { TaskState } from "../../core/states.js";
import { expiryDecision, finishTransition, logLine, RELEASE_EVENT, type FinishTransition } from "../../core/transitions.js";
import { countChildren } from "../../core/waits.js";
import { EXPIRY_BATCH, type FinishOutcome, type HeartbeatStatus, type Lease, type WorkerHeartbeat } from "../store.js";
import { encode, finalColumns, type TaskRow } from "./rows.js";
import { rows } from "./sql.js";
import { FENCE, storedEvent, WRITTEN, type Tx, type Written } from "./tx.js";
import { DURABLE, LAZY, type BulkWrite, type Outcome } from "./write-batch.js";
import { DERIVED } from "./derived-events.js";

/** The outcomes of an attempt that ends it or queues it again (not a wait). */
type Ended = Exclude<FinishOutcome, { state: "waiting" }>;

/** What workers write, each fenced by its lease: the transitions of core/transitions.ts in PostgreSQL's statements, for one schema. */
export class PgWorkerWrites {
  readonly progress: BulkWrite<{ lease: Lease; progress: Progress; now: number }, boolean>;
  /** An attempt's end; a handler that waits goes to PgWaits.suspend instead. */
  readonly finish: BulkWrite<{ lease: Lease; outcome: Ended; now: number }, boolean>;

  constructor(private readonly s: string) {
    this.progress = { run: (tx, args) => this.progressMany(tx, args), durability: LAZY };
    this.finish = { run: (tx, args) => this.finishMany(tx, args), durability: DURABLE };
  }

  async heartbeat(tx: Tx, leases: readonly Lease[], now: number, leaseMs: number): Promise<HeartbeatStatus[]> {
    const held = await rows<{ id: string; token: number; cancel_requested: boolean }>(
      tx.db,
      `UPDATE ${this.s}.tasks t SET lease_expires_at = $4
       FROM (SELECT id, token, $3::bigint AS now FROM unnest($1::text[], $2::bigint[]) AS l(id, token)) i
       WHERE ${FENCE} AND t.id = ANY ($1::text[])
       RETURNING t.id, t.lease_token AS token, t.cancel_requested`,
      [leases.map((l) => l.taskId), leases.map((l) => l.token), now, now + leaseMs],
      `outlast:${this.s}:heartbeat`,
    );
    const byLease = new Map(held.map((row) => [`${row.id}\0${row.token}`, row.cancel_requested]));
    return leases.map((lease) => {
      const cancel = byLease.get(`${lease.taskId}\0${lease.token}`);
      return cancel === undefined ? { held: false, cancelRequested: false } : { held: true, cancelRequested: cancel };
    });
  }

  /**
   * Only the latest progress is worth replaying: each write drops the
   * progress event it supersedes. A parent's progress also carries its
   * children's counts (core/waits.ts), added after the statement for the
   * rows that have children, so other tasks pay nothing for it.
   */
  private async progressMany(tx: Tx, args: readonly { lease: Lease; progress: Progress; now: number }[]): Promise<Outcome<boolean>[]> {
    const data = args.map((a): TaskEventData => ({ type: "progress", progress: a.progress }));
    const written = await rows<Written & { children: number }>(
      tx.db,
      `WITH i AS (
         SELECT i.*, o.progress_seq AS old_seq
         FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::text[]) AS i(id, token, now, progress, data)
         JOIN ${this.s}.tasks o ON o.id = i.id WHERE o.id = ANY ($1::text[])
       ), u AS (
         UPDATE ${this.s}.tasks t SET progress = i.progress, last_seq = t.last_seq + 1, progress_seq = t.last_seq + 1
         FROM i WHERE ${FENCE} AND t.id = ANY ($1::text[])
         RETURNING ${WRITTEN}, t.children, i.now, i.data, i.old_seq
       ), d AS (
         DELETE FROM ${this.s}.task_events e USING u WHERE e.task_id = u.id AND e.seq = u.old_seq
       ), e AS (
         INSERT INTO ${this.s}.task_events(task_id, owner, queue, seq, kind, attempt, at, data)
         SELECT id, owner, queue, last_seq, 'progress', attempt, now, data FROM u
       )
       SELECT id, owner, queue, last_seq, attempt, parent_id, children FROM u`,
      [
        args.map((a) => a.lease.taskId),
        args.map((a) => a.lease.token),
        args.map((a) => a.now),
        args.map((a) => encode(a.progress)),
        data.map((d) => JSON.stringify(d)),
      ],
      `outlast:${this.s}:progress`,
    );
    const parents = written.filter((row) => row.children > 0);
    if (parents.length > 0) await this.withChildCounts(tx, parents, args, data);
    return this.fencedResults(tx, args, data, written);
  }

  /** Rewrite the progress just written for `parents` (and its event) with their children's counts; `data` is updated to match. */
  private async withChildCounts(
    tx: Tx,
    parents: readonly Written[],
    args: readonly { lease: Lease; progress: Progress }[],
    data: TaskEventData[],
  ): Promise<void> {
    const ids = parents.map((row) => row.id);
    const states = await rows<{ parent_id: string; state: TaskState }>(
      tx.db,
      `SELECT parent_id, state FROM ${this.s}.tasks WHERE parent_id = ANY ($1::text[])`,
      [ids],
    );
    const index = new Map(args.map((a, i) => [a.lease.taskId, i]));
    const progress: string[] = [];
    const events: string[] = [];
    for (const row of parents) {
      const i = index.get(row.id)!;
      const full: Progress = { ...args[i]!.progress, children: countChildren(states.filter((c) => c.parent_id === row.id)) };
      data[i] = { type: "progress", progress: full };
      progress.push(encode(full));
      events.push(JSON.stringify(data[i]));
    }
    await rows(
      tx.db,
      `WITH i AS (SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[]) AS i(id, seq, progress, data)),
       u AS (UPDATE ${this.s}.tasks t SET progress = i.progress FROM i WHERE t.id = i.id)
       UPDATE ${this.s}.task_events e SET data = i.data FROM i WHERE e.task_id = i.id AND e.seq = i.seq`,
      [ids, parents.map((row) => row.last_seq), progress, events],
    );
  }

  private async finishMany(tx: Tx, args: readonly { lease: Lease; outcome: Ended; now: number }[]): Promise<Outcome<boolean>[]> {
    const state: string[] = [];
    const result: (string | null)[] = [];
    const error: (string | null)[] = [];
    const runAt: (number | null)[] = [];
    const dead: number[] = [];
    const data: TaskEventData[] = [];
    for (const { outcome } of args) {
      const change = finishTransition(outcome);
      const columns = finalColumns(change);
      state.push(columns.state);
      result.push(columns.result);
      error.push(columns.error);
      runAt.push(change.runAt);
      dead.push(columns.dead_letter);
      data.push(change.event);
    }
    // Rows as one jsonb array (see PgSubmits.insertMany); the ids also as an array, for the key lookup.
    const ids = args.map((a) => a.lease.taskId);
    const rowsJson = JSON.stringify(
      args.map((a, k) => [a.lease.taskId, a.lease.token, a.now, state[k], result[k], error[k], runAt[k], JSON.stringify(data[k]), dead[k]]),
    );
    const written = await rows<Written>(
      tx.db,
      `WITH i AS (
         SELECT e->>0 AS id, (e->>1)::bigint AS token, (e->>2)::bigint AS now, e->>3 AS state, e->>4 AS result, e->>5 AS error,
           (e->>6)::bigint AS run_at, e->>7 AS data, (e->>8)::int AS dead_letter
         FROM jsonb_array_elements($1::jsonb) AS x(e)
       ), u AS (
         UPDATE ${this.s}.tasks t SET state = i.state, result = i.result, error = i.error, dead_letter = i.dead_letter, lease_expiries = 0,
           finished_at = CASE WHEN i.state = 'queued' THEN NULL ELSE i.now END,
           run_at = coalesce(i.run_at, t.run_at),
           -- A retry that waits gets its turn when it is due; one due now keeps its (core/turns.ts).
           turn = CASE WHEN i.run_at > i.now THEN NULL ELSE t.turn END,
           last_seq = t.last_seq + 1, worker_id = NULL, lease_expires_at = NULL
         FROM i WHERE ${FENCE} AND t.id = ANY ($2::text[])
         RETURNING ${WRITTEN}, i.now, i.data, i.state AS ended, t.derived
       ), e AS (
         -- A success's event is the row's where its bit says so (derived-events.ts).
         INSERT INTO ${this.s}.task_events(task_id, owner, queue, seq, kind, attempt, at, data)
         SELECT id, owner, queue, last_seq, 'state', attempt, now, data FROM u WHERE NOT (ended = 'succeeded' AND derived & ${DERIVED.SUCCEEDED} <> 0)
       )
       SELECT id, owner, queue, last_seq, attempt, parent_id FROM u`,
      [rowsJson, ids],
      `outlast:${this.s}:finish`,
    );
    for (const row of written) tx.touch(row.queue); // a slot is free, or the task is queued again
    return this.fencedResults(tx, args, data, written);
  }

  private fencedResults(
    tx: Tx,
    args: readonly { lease: Lease; now: number }[],
    data: readonly TaskEventData[],
    written: readonly Written[],
  ): Outcome<boolean>[] {
    const index = new Map(args.map((a, i) => [a.lease.taskId, i]));
    const done = new Set<string>();
    for (const row of written) {
      const i = index.get(row.id)!;
      tx.event(storedEvent(row, row.last_seq, row.attempt, args[i]!.now, data[i]!), row.parent_id);
      done.add(row.id);
    }
    return args.map((a) => ({ ok: true, value: done.has(a.lease.taskId) }));
  }

  async step(tx: Tx, lease: Lease, name: string, result: unknown, now: number): Promise<boolean> {
    const data: TaskEventData = { type: "step", name };
    const [row] = await rows<Written>(
      tx.db,
      `WITH i AS (SELECT $1::text AS id, $2::bigint AS token, $3::bigint AS now),
       u AS (
         UPDATE ${this.s}.tasks t SET last_seq = t.last_seq + 1 FROM i WHERE ${FENCE}
         RETURNING ${WRITTEN}
       ), st AS (
         INSERT INTO ${this.s}.task_steps(task_id, name, result, attempt, at) SELECT id, $4, $5, attempt, $3 FROM u ON CONFLICT DO NOTHING
       ), e AS (
         INSERT INTO ${this.s}.task_events(task_id, owner, queue, seq, kind, attempt, at, data)
         SELECT id, owner, queue, last_seq, 'step', attempt, $3, $6 FROM u
       )
       SELECT id, owner, queue, last_seq, attempt, parent_id FROM u`,
      [lease.taskId, lease.token, now, name, encode(result), JSON.stringify(data)],
      `outlast:${this.s}:step`,
    );
    if (!row) return false;
    tx.event(storedEvent(row, row.last_seq, row.attempt, now, data), row.parent_id);
    return true;
  }

  async checkpoint(tx: Tx, lease: Lease, data: unknown, now: number): Promise<boolean> {
    const found = await rows(
      tx.db,
      `UPDATE ${this.s}.tasks t SET checkpoint = $4 FROM (SELECT $1::text AS id, $2::bigint AS token, $3::bigint AS now) i
       WHERE ${FENCE} RETURNING t.id`,
      [lease.taskId, lease.token, now, encode(data)],
    );
    return found.length === 1;
  }

  async title(tx: Tx, lease: Lease, title: string, now: number): Promise<boolean> {
    const found = await rows(
      tx.db,
      `UPDATE ${this.s}.tasks t SET title = $4 FROM (SELECT $1::text AS id, $2::bigint AS token, $3::bigint AS now) i
       WHERE ${FENCE} RETURNING t.id`,
      [lease.taskId, lease.token, now, title],
    );
    return found.length === 1;
  }

  async log(tx: Tx, lease: Lease, message: string, now: number, maxLogs: number): Promise<boolean> {
    // The count is read in the statement, which picks the line as kept in the last place or any other.
    const normal: TaskEventData = { type: "log", message };
    const final: TaskEventData = { type: "log", message: logLine(message, maxLogs - 1, maxLogs)! };
    const [row] = await rows<Written & { log_count: number }>(
      tx.db,
      `WITH i AS (SELECT $1::text AS id, $2::bigint AS token, $3::bigint AS now),
       u AS (
         UPDATE ${this.s}.tasks t SET last_seq = t.last_seq + 1, log_count = t.log_count + 1
         FROM i WHERE ${FENCE} AND t.log_count < $4
         RETURNING ${WRITTEN}, t.log_count
       ), e AS (
         INSERT INTO ${this.s}.task_events(task_id, owner, queue, seq, kind, attempt, at, data)
         SELECT id, owner, queue, last_seq, 'log', attempt, $3, CASE WHEN log_count = $4 THEN $6 ELSE $5 END FROM u
       )
       SELECT id, owner, queue, last_seq, attempt, parent_id, log_count FROM u`,
      [lease.taskId, lease.token, now, maxLogs, JSON.stringify(normal), JSON.stringify(final)],
      `outlast:${this.s}:log`,
    );
    if (row) {
      tx.event(storedEvent(row, row.last_seq, row.attempt, now, row.log_count === maxLogs ? final : normal), row.parent_id);
      return true;
    }
    // Not written: fenced (false), or past the limit (dropped, still true).
    const held = await rows(
      tx.db,
      `SELECT 1 FROM ${this.s}.tasks t, (SELECT $1::text AS id, $2::bigint AS token, $3::bigint AS now) i WHERE ${FENCE}`,
      [lease.taskId, lease.token, now],
    );
    return held.length === 1;
  }

  async release(tx: Tx, lease: Lease, now: number): Promise<boolean> {
    const data = RELEASE_EVENT;
    const [row] = await rows<Written>(
      tx.db,
      `WITH i AS (SELECT $1::text AS id, $2::bigint AS token, $3::bigint AS now),
       u AS (
         UPDATE ${this.s}.tasks t SET state = 'queued', run_at = i.now, last_seq = t.last_seq + 1, error = NULL,
           attempt = t.attempt - 1, worker_id = NULL, lease_expires_at = NULL, lease_expiries = 0
         FROM i WHERE ${FENCE}
         RETURNING ${WRITTEN}
       ), e AS (
         INSERT INTO ${this.s}.task_events(task_id, owner, queue, seq, kind, attempt, at, data)
         SELECT id, owner, queue, last_seq, 'state', attempt, $3, $4 FROM u
       )
       SELECT id, owner, queue, last_seq, attempt, parent_id FROM u`,
      [lease.taskId, lease.token, now, JSON.stringify(data)],
    );
    if (!row) return false;
    tx.event(storedEvent(row, row.last_seq, row.attempt, now, data), row.parent_id);
    tx.touch(row.queue);
    return true;
  }

  /** Leases that ran out: back to queued, or failed when out of attempts, or canceled when a cancel was asked. */
  async recoverExpired(tx: Tx, now: number, message: string): Promise<number> {
    const expired = await rows<TaskRow>(
      tx.db,
      `SELECT t.* FROM ${this.s}.active a JOIN ${this.s}.tasks t ON t.seq = a.seq
       WHERE a.state = 'running' AND t.state = 'running' AND t.lease_expires_at < $1
       ORDER BY t.lease_expires_at, t.id LIMIT $2 FOR UPDATE OF t SKIP LOCKED`,
      [now, EXPIRY_BATCH],
    );
    for (const row of expired) {
      const decision = expiryDecision(
        {
          cancelRequested: row.cancel_requested === true,
          attempt: row.attempt,
          maxAttempts: row.max_attempts,
          leaseExpiries: row.lease_expiries,
          maxLeaseExpiries: row.max_lease_expiries,
        },
        message,
      );
      if (decision.kind === "end") {
        await this.end(tx, row, decision.transition, now);
      } else {
        const data = decision.event;
        await rows(
          tx.db,
          `WITH u AS (
             UPDATE ${this.s}.tasks SET state = 'queued', run_at = $2, last_seq = last_seq + 1, error = NULL,
               worker_id = NULL, lease_expires_at = NULL, lease_expiries = $4
             WHERE id = $1 RETURNING id, owner, queue, last_seq, attempt
           )
           INSERT INTO ${this.s}.task_events(task_id, owner, queue, seq, kind, attempt, at, data)
           SELECT id, owner, queue, last_seq, 'state', attempt, $2, $3 FROM u`,
          [row.id, now, JSON.stringify(data), decision.leaseExpiries],
        );
        tx.event(storedEvent(row, row.last_seq + 1, row.attempt, now, data), row.parent_id);
      }
      tx.touch(row.queue);
    }
    return expired.length;
  }

  /** Move a locked row to a final state and log it, whoever holds it (expiry, an operator's cancel). */
  async end(tx: Tx, row: Pick<TaskRow, "id" | "attempt">, change: FinishTransition, now: number): Promise<TaskRow> {
    const data = change.event;
    const { state, result, error, dead_letter } = finalColumns(change);
    const [updated] = await rows<TaskRow>(
      tx.db,
      `WITH u AS (
         -- Its event is a row, never the row's (derived-events.ts).
         UPDATE ${this.s}.tasks SET state = $2, result = $3, error = $4, finished_at = $5, last_seq = last_seq + 1,
           worker_id = NULL, lease_expires_at = NULL, dead_letter = $8, derived = derived & ~${DERIVED.SUCCEEDED}
         WHERE id = $1 RETURNING *
       ), e AS (
         INSERT INTO ${this.s}.task_events(task_id, owner, queue, seq, kind, attempt, at, data)
         SELECT id, owner, queue, last_seq, 'state', $7, $5, $6 FROM u
       )
       SELECT * FROM u`,
      [row.id, state, result, error, now, JSON.stringify(data), row.attempt, dead_letter],
    );
    tx.event(storedEvent(updated!, updated!.last_seq, row.attempt, now, data), updated!.parent_id);
    return updated!;
  }

  async recordWorker(tx: Tx, worker: WorkerHeartbeat, now: number): Promise<void> {
    await rows(
      tx.db,
      `INSERT INTO ${this.s}.workers(id, host, pid, queues, started_at, heartbeat_at, running, streams, remote) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
       ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at, running = excluded.running, queues = excluded.queues,
         streams = excluded.streams, host = excluded.host, pid = excluded.pid, remote = excluded.remote`,
      [
        worker.id,
        worker.host,
        worker.pid,
        JSON.stringify(worker.queues),
        worker.startedAt,
        now,
        JSON.stringify(worker.running),
        worker.streams,
        worker.remote ? JSON.stringify(worker.remote) : null,
      ],
    );
  }

  async removeWorker(tx: Tx, id: string): Promise<void> {
    await rows(tx.db, `DELETE FROM ${this.s}.workers WHERE id = $1`, [id]);
  }
}
