import type { TaskEventData } from "../../core/events.js";
import type { Progress } from "../../core/progress.js";
import type { TaskError } from "../../core/task.js";
import { EXPIRY_BATCH, type ClaimedTask, type ClaimRequest, type ClaimResult, type FinishOutcome, type HeartbeatStatus, type Lease } from "../store.js";
import { decode, encode, rowToTask, stateEvent, storedEvent, type TaskRow } from "./rows.js";
import { rows } from "./sql.js";
import { DURABLE, LAZY, type BulkWrite, type Outcome, type Tx } from "./write-batch.js";

const RUNNING = stateEvent("running");
const RUNNING_EVENT = JSON.stringify(RUNNING);

type ClaimedRow = TaskRow & { step_names: string[] | null; step_results: string[] | null; next_run_at?: number | null };

/** What a worker write's statement returns about each row it changed. */
interface Written {
  id: string;
  owner: string;
  queue: string;
  last_seq: number;
  attempt: number;
}

/** The fencing condition of every worker write, on a `tasks` row aliased `t` and an input row `i`. */
const FENCE = "t.id = i.id AND t.lease_token = i.token AND t.state = 'running' AND t.lease_expires_at >= i.now";

/** Statements that workers run, for one schema. */
export class WorkerSql {
  readonly progress: BulkWrite<{ lease: Lease; progress: Progress; now: number }, boolean>;
  readonly finish: BulkWrite<{ lease: Lease; outcome: FinishOutcome; now: number }, boolean>;

  constructor(private readonly s: string) {
    this.progress = { run: (tx, args) => this.progressMany(tx, args), durability: LAZY };
    this.finish = { run: (tx, args) => this.finishMany(tx, args), durability: DURABLE };
  }

  /** Queues last seen with limits: their claims go straight to the locked path. A hint only. */
  /** Queues whose claims take the queue-row lock (limited or paused); the store adds to it when limits change. */
  readonly limited = new Set<string>();

  async claim(tx: Tx, request: ClaimRequest, now: number): Promise<ClaimResult> {
    let claimed: ClaimedRow[] = [];
    let concurrency: number | null = null;
    const hinted = this.limited.has(request.queue);
    if (!hinted) {
      // Fast path, one statement: a queue without limits and not paused.
      claimed = await this.claimRows(tx, request, now, { free: true });
    }
    if (claimed.length === 0) {
      type Config = { paused: boolean; concurrency: number | null; owner_concurrency: number | null };
      // A limit must hold across every node, so claims of a limited queue
      // take turns: the queue row stays locked until this transaction
      // commits, and the claim statement, which starts after the lock is
      // granted, counts running tasks in a snapshot that includes every
      // claim committed before. (An advisory lock on the queue name would
      // serialize as well; the row lock also orders claims against
      // a change of the limits.) Rows of queues without limits
      // (and not paused) are not locked: their claims rely on SKIP LOCKED.
      const [config] = await rows<Config>(
        tx.db,
        `SELECT paused, concurrency, owner_concurrency FROM ${this.s}.queues
         WHERE name = $1 AND (paused OR concurrency IS NOT NULL OR owner_concurrency IS NOT NULL) FOR UPDATE`,
        [request.queue],
        `outlast:${this.s}:lock-queue`,
      );
      if (config?.paused) return { tasks: [], nextRunAt: null };
      if (config) this.limited.add(request.queue);
      else this.limited.delete(request.queue);
      concurrency = config?.concurrency ?? null;
      // Limited, or the fast path was skipped on a stale hint: claim now.
      if (config || hinted) {
        claimed = await this.claimRows(tx, request, now, { concurrency, ownerLimit: config?.owner_concurrency ?? null });
      }
    }
    const tasks: ClaimedTask[] = claimed.map((row) => {
      tx.event(storedEvent(row, row.last_seq, row.attempt, now, RUNNING));
      const steps = new Map<string, unknown>();
      row.step_names?.forEach((name, i) => steps.set(name, decode(row.step_results?.[i] ?? null)));
      return { task: rowToTask(row), lease: { taskId: row.id, token: row.lease_token }, steps };
    });
    // The fast path's rows carry it, saving a round trip (an idle worker's claim of one task is the usual case).
    const first = claimed[0];
    let nextRunAt: number | null = first?.next_run_at ?? null;
    if (first?.next_run_at === undefined && tasks.length < request.limit) {
      // None when the queue is at its limit: the worker is woken when a slot frees.
      const [row] = await rows<{ at: number | null }>(
        tx.db,
        `SELECT CASE WHEN $3::int IS NULL OR (SELECT count(*) FROM ${this.s}.tasks WHERE state = 'running' AND queue = $1) < $3
           THEN (SELECT min(run_at) FROM ${this.s}.tasks WHERE state = 'queued' AND queue = $1 AND run_at > $2) END AS at`,
        [request.queue, now, concurrency],
        `outlast:${this.s}:next`,
      );
      nextRunAt = row?.at ?? null;
    }
    return { tasks, nextRunAt };
  }

  /**
   * Claim runnable tasks in one statement, in priority, run_at, insertion
   * order: up to the request's limit and, with `concurrency`, no more than
   * the queue's free places; with `ownerLimit`, owners stay within that many
   * running tasks. `free`: claim only if the queue has no limits and is not
   * paused (else nothing).
   */
  private async claimRows(
    tx: Tx,
    request: ClaimRequest,
    now: number,
    mode: { free: true } | { concurrency: number | null; ownerLimit: number | null },
  ): Promise<ClaimedRow[]> {
    const s = this.s;
    const free = "free" in mode;
    const ownerLimit = free ? null : mode.ownerLimit;
    const concurrency = free ? null : mode.concurrency;
    // $8: the queue's concurrency; the places left are counted in this statement's snapshot.
    const slots = `least($4, coalesce($8::int - (SELECT count(*) FROM ${s}.tasks WHERE state = 'running' AND queue = $1), $4))`;
    const picked =
      ownerLimit === null
        ? `SELECT seq FROM ${s}.tasks
           WHERE state = 'queued' AND queue = $1 AND run_at <= $2 AND name = ANY($3::text[])
           ${
             free
               ? `AND NOT EXISTS (SELECT 1 FROM ${s}.queues q WHERE q.name = $1
                    AND (q.paused OR q.concurrency IS NOT NULL OR q.owner_concurrency IS NOT NULL))`
               : ""
           }
           ORDER BY priority DESC, run_at, seq LIMIT ${free ? "$4" : slots} FOR UPDATE SKIP LOCKED`
        : // Owners at their limit are left out, then each owner gets at most its free places.
          `WITH c AS (
             SELECT seq, owner, priority, run_at FROM ${s}.tasks
             WHERE state = 'queued' AND queue = $1 AND run_at <= $2 AND name = ANY($3::text[])
               AND owner NOT IN (SELECT owner FROM ${s}.tasks WHERE state = 'running' AND queue = $1 GROUP BY owner HAVING count(*) >= $9)
             ORDER BY priority DESC, run_at, seq LIMIT $4 * 8 + 32 FOR UPDATE SKIP LOCKED
           ), busy AS (
             SELECT owner, count(*) AS n FROM ${s}.tasks
             WHERE state = 'running' AND queue = $1 AND owner IN (SELECT owner FROM c) GROUP BY owner
           ), ranked AS (
             SELECT c.seq, c.priority, c.run_at, coalesce(busy.n, 0)
               + row_number() OVER (PARTITION BY c.owner ORDER BY c.priority DESC, c.run_at, c.seq) AS place
             FROM c LEFT JOIN busy ON busy.owner = c.owner
           )
           SELECT seq FROM ranked WHERE place <= $9 ORDER BY priority DESC, run_at, seq LIMIT ${slots}`;
    const params: unknown[] = [request.queue, now, request.names, request.limit, request.workerId, now + request.leaseMs, RUNNING_EVENT];
    if (!free) params.push(concurrency);
    if (ownerLimit !== null) params.push(ownerLimit);
    return rows<ClaimedRow>(
      tx.db,
      `WITH p AS (${picked}),
       u AS (
         UPDATE ${s}.tasks t SET state = 'running', attempt = t.attempt + 1, started_at = $2, worker_id = $5,
           lease_token = t.lease_token + 1, lease_expires_at = $6, last_seq = t.last_seq + 1
         -- By key, with no join to p: a join was planned as a hash join over
         -- the whole table, or (on a table not yet analyzed, where p looks
         -- like one row) as a scan of the table per claimed row.
         WHERE t.seq = ANY (ARRAY(SELECT seq FROM p))
         RETURNING t.*
       ), e AS (
         INSERT INTO ${s}.task_events(task_id, owner, queue, seq, kind, attempt, at, data)
         SELECT id, owner, queue, last_seq, 'state', attempt, $2, $7 FROM u
       )
       SELECT u.*, st.names AS step_names, st.results AS step_results${
         free
           ? `,
         -- When the claim came up short: when the next delayed task is due (evaluated once, and only then).
         CASE WHEN (SELECT count(*) FROM u) < $4
           THEN (SELECT min(run_at) FROM ${s}.tasks WHERE state = 'queued' AND queue = $1 AND run_at > $2) END AS next_run_at`
           : ""
       }
       FROM u LEFT JOIN LATERAL (
         -- Only a task that ran before (more events than "queued" and this
         -- "running") can have steps: a first run skips the lookup.
         SELECT array_agg(name) AS names, array_agg(result) AS results FROM ${s}.task_steps
         WHERE task_id = u.id AND u.last_seq > 2
       ) st ON true
       ORDER BY u.priority DESC, u.run_at, u.seq`,
      params,
      `outlast:${s}:claim:${free ? "free" : ownerLimit === null ? "limited" : "owner"}`,
    );
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

  /** Only the latest progress is worth replaying: each write drops the progress event it supersedes. */
  private async progressMany(tx: Tx, args: readonly { lease: Lease; progress: Progress; now: number }[]): Promise<Outcome<boolean>[]> {
    const data = args.map((a): TaskEventData => ({ type: "progress", progress: a.progress }));
    const written = await rows<Written>(
      tx.db,
      `WITH i AS (
         SELECT i.*, o.progress_seq AS old_seq
         FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::text[]) AS i(id, token, now, progress, data)
         JOIN ${this.s}.tasks o ON o.id = i.id WHERE o.id = ANY ($1::text[])
       ), u AS (
         UPDATE ${this.s}.tasks t SET progress = i.progress, last_seq = t.last_seq + 1, progress_seq = t.last_seq + 1
         FROM i WHERE ${FENCE} AND t.id = ANY ($1::text[])
         RETURNING t.id, t.owner, t.queue, t.last_seq, t.attempt, i.now, i.data, i.old_seq
       ), d AS (
         DELETE FROM ${this.s}.task_events e USING u WHERE e.task_id = u.id AND e.seq = u.old_seq
       ), e AS (
         INSERT INTO ${this.s}.task_events(task_id, owner, queue, seq, kind, attempt, at, data)
         SELECT id, owner, queue, last_seq, 'progress', attempt, now, data FROM u
       )
       SELECT id, owner, queue, last_seq, attempt FROM u`,
      [
        args.map((a) => a.lease.taskId),
        args.map((a) => a.lease.token),
        args.map((a) => a.now),
        args.map((a) => encode(a.progress)),
        data.map((d) => JSON.stringify(d)),
      ],
      `outlast:${this.s}:progress`,
    );
    return this.fencedResults(tx, args, data, written);
  }

  private async finishMany(tx: Tx, args: readonly { lease: Lease; outcome: FinishOutcome; now: number }[]): Promise<Outcome<boolean>[]> {
    const state: string[] = [];
    const result: (string | null)[] = [];
    const error: (string | null)[] = [];
    const runAt: (number | null)[] = [];
    const data: TaskEventData[] = [];
    for (const { outcome } of args) {
      switch (outcome.state) {
        case "succeeded":
          state.push("succeeded");
          result.push(encode(outcome.result));
          error.push(null);
          runAt.push(null);
          data.push(stateEvent("succeeded", { result: decode(result[result.length - 1]!) }));
          break;
        case "failed":
        case "canceled": {
          const err: TaskError | null = outcome.error ?? null;
          state.push(outcome.state);
          result.push(null);
          error.push(err === null ? null : encode(err));
          runAt.push(null);
          data.push(stateEvent(outcome.state, err === null ? {} : { error: err }));
          break;
        }
        case "retry":
          state.push("queued");
          result.push(null);
          error.push(encode(outcome.error));
          runAt.push(outcome.runAt);
          data.push(stateEvent("queued", { reason: "retry", error: outcome.error, runAt: new Date(outcome.runAt).toISOString() }));
          break;
      }
    }
    // Rows as one jsonb array (see SubmitSql.insertMany); the ids also as an array, for the key lookup.
    const ids = args.map((a) => a.lease.taskId);
    const rowsJson = JSON.stringify(
      args.map((a, k) => [a.lease.taskId, a.lease.token, a.now, state[k], result[k], error[k], runAt[k], JSON.stringify(data[k])]),
    );
    const written = await rows<Written>(
      tx.db,
      `WITH i AS (
         SELECT e->>0 AS id, (e->>1)::bigint AS token, (e->>2)::bigint AS now, e->>3 AS state, e->>4 AS result, e->>5 AS error,
           (e->>6)::bigint AS run_at, e->>7 AS data
         FROM jsonb_array_elements($1::jsonb) AS x(e)
       ), u AS (
         UPDATE ${this.s}.tasks t SET state = i.state, result = i.result, error = i.error,
           finished_at = CASE WHEN i.state = 'queued' THEN NULL ELSE i.now END,
           run_at = coalesce(i.run_at, t.run_at),
           last_seq = t.last_seq + 1, worker_id = NULL, lease_expires_at = NULL
         FROM i WHERE ${FENCE} AND t.id = ANY ($2::text[])
         RETURNING t.id, t.owner, t.queue, t.last_seq, t.attempt, i.now, i.data
       ), e AS (
         INSERT INTO ${this.s}.task_events(task_id, owner, queue, seq, kind, attempt, at, data)
         SELECT id, owner, queue, last_seq, 'state', attempt, now, data FROM u
       )
       SELECT id, owner, queue, last_seq, attempt FROM u`,
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
      tx.event(storedEvent(row, row.last_seq, row.attempt, args[i]!.now, data[i]!));
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
         RETURNING t.id, t.owner, t.queue, t.last_seq, t.attempt
       ), st AS (
         INSERT INTO ${this.s}.task_steps(task_id, name, result, attempt, at) SELECT id, $4, $5, attempt, $3 FROM u ON CONFLICT DO NOTHING
       ), e AS (
         INSERT INTO ${this.s}.task_events(task_id, owner, queue, seq, kind, attempt, at, data)
         SELECT id, owner, queue, last_seq, 'step', attempt, $3, $6 FROM u
       )
       SELECT id, owner, queue, last_seq, attempt FROM u`,
      [lease.taskId, lease.token, now, name, encode(result), JSON.stringify(data)],
      `outlast:${this.s}:step`,
    );
    if (!row) return false;
    tx.event(storedEvent(row, row.last_seq, row.attempt, now, data));
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

  async log(tx: Tx, lease: Lease, message: string, now: number, maxLogs: number): Promise<boolean> {
    const last = `${message}\n(log limit of ${maxLogs} lines reached; later lines are dropped)`;
    const normal: TaskEventData = { type: "log", message };
    const final: TaskEventData = { type: "log", message: last };
    const [row] = await rows<Written & { log_count: number }>(
      tx.db,
      `WITH i AS (SELECT $1::text AS id, $2::bigint AS token, $3::bigint AS now),
       u AS (
         UPDATE ${this.s}.tasks t SET last_seq = t.last_seq + 1, log_count = t.log_count + 1
         FROM i WHERE ${FENCE} AND t.log_count < $4
         RETURNING t.id, t.owner, t.queue, t.last_seq, t.attempt, t.log_count
       ), e AS (
         INSERT INTO ${this.s}.task_events(task_id, owner, queue, seq, kind, attempt, at, data)
         SELECT id, owner, queue, last_seq, 'log', attempt, $3, CASE WHEN log_count = $4 THEN $6 ELSE $5 END FROM u
       )
       SELECT id, owner, queue, last_seq, attempt, log_count FROM u`,
      [lease.taskId, lease.token, now, maxLogs, JSON.stringify(normal), JSON.stringify(final)],
      `outlast:${this.s}:log`,
    );
    if (row) {
      tx.event(storedEvent(row, row.last_seq, row.attempt, now, row.log_count === maxLogs ? final : normal));
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
    const data = stateEvent("queued", { reason: "released" });
    const [row] = await rows<Written>(
      tx.db,
      `WITH i AS (SELECT $1::text AS id, $2::bigint AS token, $3::bigint AS now),
       u AS (
         UPDATE ${this.s}.tasks t SET state = 'queued', run_at = i.now, last_seq = t.last_seq + 1, error = NULL,
           attempt = t.attempt - 1, worker_id = NULL, lease_expires_at = NULL
         FROM i WHERE ${FENCE}
         RETURNING t.id, t.owner, t.queue, t.last_seq, t.attempt
       ), e AS (
         INSERT INTO ${this.s}.task_events(task_id, owner, queue, seq, kind, attempt, at, data)
         SELECT id, owner, queue, last_seq, 'state', attempt, $3, $4 FROM u
       )
       SELECT id, owner, queue, last_seq, attempt FROM u`,
      [lease.taskId, lease.token, now, JSON.stringify(data)],
    );
    if (!row) return false;
    tx.event(storedEvent(row, row.last_seq, row.attempt, now, data));
    tx.touch(row.queue);
    return true;
  }

  /** Leases that ran out: back to queued, or failed when out of attempts, or canceled when a cancel was asked. */
  async recoverExpired(tx: Tx, now: number, reason: string): Promise<number> {
    const expired = await rows<TaskRow>(
      tx.db,
      `SELECT * FROM ${this.s}.tasks WHERE state = 'running' AND lease_expires_at < $1
       ORDER BY lease_expires_at, id LIMIT $2 FOR UPDATE SKIP LOCKED`,
      [now, EXPIRY_BATCH],
    );
    for (const row of expired) {
      if (row.cancel_requested) {
        await this.finishRow(tx, row, "canceled", null, null, now);
      } else if (row.attempt >= row.max_attempts) {
        await this.finishRow(tx, row, "failed", null, { message: reason, code: "lease_expired" }, now);
      } else {
        const data = stateEvent("queued", { reason: "lease_expired" });
        await rows(
          tx.db,
          `WITH u AS (
             UPDATE ${this.s}.tasks SET state = 'queued', run_at = $2, last_seq = last_seq + 1, error = NULL,
               worker_id = NULL, lease_expires_at = NULL
             WHERE id = $1 RETURNING id, owner, queue, last_seq, attempt
           )
           INSERT INTO ${this.s}.task_events(task_id, owner, queue, seq, kind, attempt, at, data)
           SELECT id, owner, queue, last_seq, 'state', attempt, $2, $3 FROM u`,
          [row.id, now, JSON.stringify(data)],
        );
        tx.event(storedEvent(row, row.last_seq + 1, row.attempt, now, data));
      }
      tx.touch(row.queue);
    }
    return expired.length;
  }

  /** Move a locked row to a final state and log it. */
  async finishRow(
    tx: Tx,
    row: TaskRow,
    state: "succeeded" | "failed" | "canceled",
    result: string | null,
    error: TaskError | null,
    now: number,
  ): Promise<TaskRow> {
    const data =
      state === "succeeded" ? stateEvent(state, { result: decode(result) }) : error !== null ? stateEvent(state, { error }) : stateEvent(state);
    const [updated] = await rows<TaskRow>(
      tx.db,
      `WITH u AS (
         UPDATE ${this.s}.tasks SET state = $2, result = $3, error = $4, finished_at = $5, last_seq = last_seq + 1,
           worker_id = NULL, lease_expires_at = NULL
         WHERE id = $1 RETURNING *
       ), e AS (
         INSERT INTO ${this.s}.task_events(task_id, owner, queue, seq, kind, attempt, at, data)
         SELECT id, owner, queue, last_seq, 'state', $7, $5, $6 FROM u
       )
       SELECT * FROM u`,
      [row.id, state, result, error === null ? null : encode(error), now, JSON.stringify(data), row.attempt],
    );
    tx.event(storedEvent(updated!, updated!.last_seq, row.attempt, now, data));
    return updated!;
  }
}
