import { RUNNING_EVENT } from "../../core/transitions.js";
import type { ClaimedTask, ClaimRequest, ClaimResult } from "../store.js";
import { decode, rowToTask, type TaskRow } from "./rows.js";
import { rows } from "./sql.js";
import { roundOf } from "./turn-sql.js";
import { storedEvent, type Tx } from "./tx.js";

const RUNNING_JSON = JSON.stringify(RUNNING_EVENT);

type ClaimedRow = TaskRow & { step_names: string[] | null; step_results: string[] | null; next_run_at?: number | null };

/** Taking runnable tasks of a queue within its limits, for one schema. */
export class PgClaims {
  constructor(private readonly s: string) {}

  /** Queues whose claims take the queue-row lock (limited or paused); a hint only, kept up by claims and by changes of the limits. */
  readonly limited = new Set<string>();

  async claim(tx: Tx, request: ClaimRequest, now: number): Promise<ClaimResult> {
    // Delayed tasks that are due now join their priority's round (core/turns.ts); rows another claim is promoting are left to it.
    await rows(
      tx.db,
      `UPDATE ${this.s}.tasks t SET turn = coalesce(${roundOf(this.s, "t.queue", "t.priority")}, 0)
       WHERE t.seq = ANY (ARRAY(SELECT seq FROM ${this.s}.tasks WHERE state = 'queued' AND queue = $1 AND turn IS NULL AND run_at <= $2 FOR UPDATE SKIP LOCKED))`,
      [request.queue, now],
      `outlast:${this.s}:promote`,
    );
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
      tx.event(storedEvent(row, row.last_seq, row.attempt, now, RUNNING_EVENT), row.parent_id);
      const steps = new Map<string, unknown>();
      row.step_names?.forEach((name, i) => steps.set(name, decode(row.step_results?.[i] ?? null)));
      // A woken task keeps its last wait in the row (a group's is read again on a rerun); running, it waits for nothing.
      return { task: { ...rowToTask(row), wait: null }, lease: { taskId: row.id, token: row.lease_token }, steps };
    });
    // The fast path's rows carry it, saving a round trip (an idle worker's claim of one task is the usual case).
    const first = claimed[0];
    let nextRunAt: number | null = first?.next_run_at ?? null;
    if (first?.next_run_at === undefined && tasks.length < request.limit) {
      // None when the queue is at its limit: the worker is woken when a slot frees.
      const [row] = await rows<{ at: number | null }>(
        tx.db,
        `SELECT CASE WHEN $3::int IS NULL OR (SELECT count(*) FROM ${this.s}.tasks WHERE state = 'running' AND queue = $1) < $3
           THEN ${nextDue(this.s)} END AS at`,
        [request.queue, now, concurrency],
        `outlast:${this.s}:next`,
      );
      nextRunAt = row?.at ?? null;
    }
    return { tasks, nextRunAt };
  }

  /**
   * Claim runnable tasks in one statement, in priority, turn (core/turns.ts), insertion
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
    // Never below 0: an operator may lower the limit under what is running.
    const slots = `greatest(0, least($4, coalesce($8::int - (SELECT count(*) FROM ${s}.tasks WHERE state = 'running' AND queue = $1), $4)))`;
    const picked =
      ownerLimit === null
        ? `SELECT seq FROM ${s}.tasks
           WHERE state = 'queued' AND queue = $1 AND turn IS NOT NULL AND name = ANY($3::text[])
           ${
             free
               ? `AND NOT EXISTS (SELECT 1 FROM ${s}.queues q WHERE q.name = $1
                    AND (q.paused OR q.concurrency IS NOT NULL OR q.owner_concurrency IS NOT NULL))`
               : ""
           }
           ORDER BY priority DESC, turn, seq LIMIT ${free ? "$4" : slots} FOR UPDATE SKIP LOCKED`
        : // Owners at their limit are left out, then each owner gets at most its free places.
          `WITH c AS (
             SELECT seq, owner, priority, turn FROM ${s}.tasks
             WHERE state = 'queued' AND queue = $1 AND turn IS NOT NULL AND name = ANY($3::text[])
               AND owner NOT IN (SELECT owner FROM ${s}.tasks WHERE state = 'running' AND queue = $1 GROUP BY owner HAVING count(*) >= $9)
             ORDER BY priority DESC, turn, seq LIMIT $4 * 8 + 32 FOR UPDATE SKIP LOCKED
           ), busy AS (
             SELECT owner, count(*) AS n FROM ${s}.tasks
             WHERE state = 'running' AND queue = $1 AND owner IN (SELECT owner FROM c) GROUP BY owner
           ), ranked AS (
             SELECT c.seq, c.priority, c.turn, coalesce(busy.n, 0)
               + row_number() OVER (PARTITION BY c.owner ORDER BY c.priority DESC, c.turn, c.seq) AS place
             FROM c LEFT JOIN busy ON busy.owner = c.owner
           )
           SELECT seq FROM ranked WHERE place <= $9 ORDER BY priority DESC, turn, seq LIMIT ${slots}`;
    const params: unknown[] = [request.queue, now, request.names, request.limit, request.workerId, now + request.leaseMs, RUNNING_JSON];
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
           THEN ${nextDue(s)} END AS next_run_at`
           : ""
       }
       FROM u LEFT JOIN LATERAL (
         -- Only a task that ran before (more events than "queued" and this
         -- "running") can have steps: a first run skips the lookup.
         SELECT array_agg(name) AS names, array_agg(result) AS results FROM ${s}.task_steps
         WHERE task_id = u.id AND u.last_seq > 2
       ) st ON true
       ORDER BY u.priority DESC, u.turn, u.seq`,
      params,
      `outlast:${s}:claim:${free ? "free" : ownerLimit === null ? "limited" : "owner"}`,
    );
  }
}

/** When the queue's next delayed task is due, for a statement whose $1 is the queue and $2 now. */
function nextDue(s: string): string {
  return `(SELECT min(run_at) FROM ${s}.tasks WHERE state = 'queued' AND queue = $1 AND turn IS NULL AND run_at > $2)`;
}
