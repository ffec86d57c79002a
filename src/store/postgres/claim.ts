import type { RateLimit } from "../../core/queue-limits.js";
import * as rate from "../../core/rate-limit.js";
import { RUNNING_EVENT } from "../../core/transitions.js";
import { rowRateLimit } from "../task-row.js";
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
    let allowedAt: number | null = null;
    const hinted = this.limited.has(request.queue);
    if (!hinted) {
      // Fast path, one statement: a queue without limits and not paused.
      claimed = await this.claimRows(tx, request, now, { free: true });
    }
    if (claimed.length === 0) {
      type Config = {
        paused: boolean;
        concurrency: number | null;
        owner_concurrency: number | null;
        rate_limit: number | null;
        rate_period_ms: number | null;
        rate_keyed: boolean;
      };
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
        `SELECT paused, concurrency, owner_concurrency, rate_limit, rate_period_ms, rate_keyed FROM ${this.s}.queues
         WHERE name = $1 AND (paused OR concurrency IS NOT NULL OR owner_concurrency IS NOT NULL OR rate_limit IS NOT NULL) FOR UPDATE`,
        [request.queue],
        `outlast:${this.s}:lock-queue`,
      );
      if (config?.paused) return { tasks: [], nextRunAt: null };
      if (config) this.limited.add(request.queue);
      else this.limited.delete(request.queue);
      concurrency = config?.concurrency ?? null;
      const rateLimit = config ? rowRateLimit(config) : null;
      if (rateLimit !== null) {
        // The queue row's lock serialises the claims of a rate-limited queue: one budget, counted by one claim at a time.
        ({ claimed, allowedAt } = await this.withinRate(tx, request, now, rateLimit, concurrency, config?.owner_concurrency ?? null));
      } else if (config || hinted) {
        // Limited, or the fast path was skipped on a stale hint: claim now.
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
    if (allowedAt !== null && tasks.length < request.limit) nextRunAt = nextRunAt === null ? allowedAt : Math.min(nextRunAt, allowedAt);
    return { tasks, nextRunAt };
  }

  /**
   * A rate-limited queue (core/rate-limit.ts), its row locked: the window's
   * starts are read (older ones deleted), keys out of budget are left out in
   * the query, candidates are taken in claim order while they fit their
   * key's budget (and the queue's and owners' concurrency), and their starts
   * are written to the ledger. `allowedAt`: when a held-back key may next start.
   */
  private async withinRate(
    tx: Tx,
    request: ClaimRequest,
    now: number,
    limit: RateLimit,
    concurrency: number | null,
    ownerLimit: number | null,
  ): Promise<{ claimed: ClaimedRow[]; allowedAt: number | null }> {
    const s = this.s;
    const since = rate.windowStart(limit, now);
    await rows(tx.db, `DELETE FROM ${s}.rate_starts WHERE queue = $1 AND at <= $2`, [request.queue, since], `outlast:${s}:rate-prune`);
    const starts = await rows<rate.RateStart>(tx.db, `SELECT key, at, cost FROM ${s}.rate_starts WHERE queue = $1 AND at > $2`, [request.queue, since], `outlast:${s}:rate-window`);
    const used = rate.usedByKey(starts);
    const exhausted = rate.exhaustedKeys(limit, used);
    let slots = request.limit;
    const running = new Map<string, number>();
    if (concurrency !== null || ownerLimit !== null) {
      const counts = await rows<{ owner: string; n: number }>(
        tx.db,
        `SELECT owner, count(*)::int AS n FROM ${s}.tasks WHERE state = 'running' AND queue = $1 GROUP BY owner`,
        [request.queue],
        `outlast:${s}:rate-running`,
      );
      for (const { owner, n } of counts) running.set(owner, n);
      if (concurrency !== null) slots = Math.min(slots, concurrency - counts.reduce((sum, c) => sum + c.n, 0));
    }
    if (slots <= 0) return { claimed: [], allowedAt: null };
    const keyExpr = `(CASE WHEN $3::boolean THEN coalesce(rate_key, '') ELSE '' END)`;
    const candidates = await rows<{ seq: number; owner: string; rate_key: string | null; cost: number }>(
      tx.db,
      `SELECT seq, owner, rate_key, cost FROM ${s}.tasks
       WHERE state = 'queued' AND queue = $1 AND turn IS NOT NULL AND name = ANY($2::text[]) AND ${keyExpr} <> ALL($4::text[])
         AND ($6::int IS NULL OR owner NOT IN (SELECT owner FROM ${s}.tasks WHERE state = 'running' AND queue = $1 GROUP BY owner HAVING count(*) >= $6))
       ORDER BY priority DESC, turn, seq LIMIT $5 FOR UPDATE SKIP LOCKED`,
      [request.queue, request.names, limit.keyed, exhausted, slots * 8 + 32, ownerLimit],
      `outlast:${s}:rate-candidates`,
    );
    const { picked, held } = rate.pickWithinRate(
      limit,
      used,
      candidates.map((row) => ({ owner: row.owner, rateKey: row.rate_key, cost: row.cost })),
      slots,
      (candidate) => {
        if (ownerLimit === null) return true;
        const n = running.get(candidate.owner) ?? 0;
        if (n >= ownerLimit) return false;
        running.set(candidate.owner, n + 1);
        return true;
      },
    );
    const chosen = picked.map((i) => candidates[i]!);
    let claimed: ClaimedRow[] = [];
    if (chosen.length > 0) {
      claimed = await this.claimRows(tx, request, now, { seqs: chosen.map((row) => row.seq) });
      const keys = chosen.map((row) => rate.ledgerKey(limit, row.rate_key));
      const costs = chosen.map((row) => rate.effectiveCost(limit, row.cost));
      await rows(
        tx.db,
        `INSERT INTO ${s}.rate_starts(queue, key, at, cost) SELECT $1::text, k, $2::bigint, c FROM unnest($3::text[], $4::int[]) AS x(k, c)`,
        [request.queue, now, keys, costs],
        `outlast:${s}:rate-starts`,
      );
      keys.forEach((key, i) => starts.push({ key, at: now, cost: costs[i]! }));
    }
    if (claimed.length >= slots) return { claimed, allowedAt: null };
    let waitingExhausted = false;
    if (exhausted.length > 0) {
      // Keys left out of the query count only when some task of theirs is waiting.
      const found = await rows(
        tx.db,
        `SELECT 1 FROM ${s}.tasks WHERE state = 'queued' AND queue = $1 AND turn IS NOT NULL AND name = ANY($2::text[]) AND ${keyExpr} = ANY($4::text[]) LIMIT 1`,
        [request.queue, request.names, limit.keyed, exhausted],
        `outlast:${s}:rate-exhausted`,
      );
      waitingExhausted = found.length > 0;
    }
    return { claimed, allowedAt: rate.heldUntil(limit, starts, held, waitingExhausted ? exhausted : []) };
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
    mode: { free: true } | { concurrency: number | null; ownerLimit: number | null } | { seqs: number[] },
  ): Promise<ClaimedRow[]> {
    const s = this.s;
    const free = "free" in mode;
    const seqs = "seqs" in mode ? mode.seqs : null;
    const ownerLimit = "ownerLimit" in mode ? mode.ownerLimit : null;
    const concurrency = "concurrency" in mode ? mode.concurrency : null;
    // $8: the queue's concurrency; the places left are counted in this statement's snapshot.
    // Never below 0: an operator may lower the limit under what is running.
    const slots = `greatest(0, least($4, coalesce($8::int - (SELECT count(*) FROM ${s}.tasks WHERE state = 'running' AND queue = $1), $4)))`;
    const picked =
      seqs !== null
        ? // Chosen by the caller (a rate-limited claim), their rows already locked.
          // (Every parameter is named, so each has a type: the queue, names and limit again, though they change nothing.)
          `SELECT seq FROM ${s}.tasks WHERE seq = ANY($8::bigint[]) AND queue = $1 AND name = ANY($3::text[]) LIMIT $4`
        : ownerLimit === null
        ? `SELECT seq FROM ${s}.tasks
           WHERE state = 'queued' AND queue = $1 AND turn IS NOT NULL AND name = ANY($3::text[])
           ${
             free
               ? `AND NOT EXISTS (SELECT 1 FROM ${s}.queues q WHERE q.name = $1
                    AND (q.paused OR q.concurrency IS NOT NULL OR q.owner_concurrency IS NOT NULL OR q.rate_limit IS NOT NULL))`
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
    if (seqs !== null) params.push(seqs);
    else if (!free) params.push(concurrency);
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
      `outlast:${s}:claim:${free ? "free" : seqs !== null ? "chosen" : ownerLimit === null ? "limited" : "owner"}`,
    );
  }
}

/** When the queue's next delayed task is due, for a statement whose $1 is the queue and $2 now. */
function nextDue(s: string): string {
  return `(SELECT min(run_at) FROM ${s}.tasks WHERE state = 'queued' AND queue = $1 AND turn IS NULL AND run_at > $2)`;
}
