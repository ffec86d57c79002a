import type { RateLimit } from "../../core/queue-limits.js";
import * as rate from "../../core/rate-limit.js";
import { RUNNING_EVENT } from "../../core/transitions.js";
import { DERIVED, RUNNING_SQL } from "./derived-events.js";
import { KeyCounts, type KeyRules, type KeyRunning } from "../../core/key-limits.js";
import { rowKeyRules, rowRateLimit } from "../task-row.js";
import type { ClaimedTask, ClaimRequest, ClaimResult } from "../store.js";
import { decode, rowToTask, type TaskRow } from "./rows.js";
import { rows } from "./sql.js";
import { roundOf } from "./turn-sql.js";
import { storedEvent, type Tx } from "./tx.js";

type ClaimedRow = TaskRow & { step_names: string[] | null; step_results: string[] | null };

/** What the fast path's statement says about the queue besides the tasks it claimed. */
interface FastMeta {
  /** Limited or paused: its claims take the queue row's lock. */
  limited: boolean;
  /** When the earliest task still waiting for its turn to be given is due (null: none). */
  next_delayed: number | null;
}

/** Taking runnable tasks of a queue within its limits, for one schema. */
export class PgClaims {
  constructor(private readonly s: string) {}

  /** Queues whose claims take the queue-row lock (limited or paused); a hint only, kept up by claims and by changes of the limits. */
  readonly limited = new Set<string>();

  /**
   * When each queue's earliest delayed task (one not yet given its turn) is due, as the
   * last claim here saw it (null: none); a queue not in it is unknown. Every fast claim
   * reads it again, so a delayed task another node submits is seen by the next claim.
   */
  private readonly delayedAt = new Map<string, number | null>();

  async claim(tx: Tx, request: ClaimRequest, now: number): Promise<ClaimResult> {
    const hinted = this.limited.has(request.queue);
    if (!hinted) {
      // Delayed tasks that are due now join their priority's round (core/turns.ts): skipped while none is
      // known to be due, so most claims are one statement.
      const delayedAt = this.delayedAt.get(request.queue);
      const promoted = delayedAt === undefined || (delayedAt !== null && delayedAt <= now);
      if (promoted) await this.promote(tx, request.queue, now);
      // Fast path: a queue without limits and not paused. The answer also says whether the queue is limited
      // (so an empty claim needs no second look) and when its next delayed task is due.
      let { claimed, meta } = await this.claimFree(tx, request, now);
      if (!promoted && !meta.limited && meta.next_delayed !== null && meta.next_delayed <= now && claimed.length < request.limit) {
        // A delayed task came due that this node did not know of (another node, or a write since the last claim): now it does.
        await this.promote(tx, request.queue, now);
        const more = await this.claimFree(tx, { ...request, limit: request.limit - claimed.length }, now);
        claimed = [...claimed, ...more.claimed];
        meta = more.meta;
      }
      this.delayedAt.set(request.queue, meta.next_delayed);
      // Short of the request: come back when the next delayed task is due (now, if one is due and not yet promoted).
      if (!meta.limited) return { tasks: this.started(tx, claimed, now), nextRunAt: claimed.length < request.limit ? meta.next_delayed : null };
    }
    // A limited or paused queue (or one that became so since this node last looked).
    await this.promote(tx, request.queue, now);
    let claimed: ClaimedRow[] = [];
    let allowedAt: number | null = null;
    type Config = {
      paused: boolean;
      concurrency: number | null;
      owner_concurrency: number | null;
      rate_limit: number | null;
      rate_period_ms: number | null;
      rate_keyed: boolean;
      key_rules: unknown;
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
      `SELECT paused, concurrency, owner_concurrency, rate_limit, rate_period_ms, rate_keyed, key_rules FROM ${this.s}.queues
       WHERE name = $1 AND (paused OR ${limitedSql("")}) FOR UPDATE`,
      [request.queue],
      `outlast:${this.s}:lock-queue`,
    );
    if (config?.paused) return { tasks: [], nextRunAt: null };
    if (config) this.limited.add(request.queue);
    else this.limited.delete(request.queue);
    const concurrency = config?.concurrency ?? null;
    const rateLimit = config ? rowRateLimit(config) : null;
    const keyRules = config ? rowKeyRules(config) : null;
    if (rateLimit !== null || keyRules !== null) {
      // The queue row's lock serialises these claims: one budget, one count per key, taken by one claim at a time.
      ({ claimed, allowedAt } = await this.picked(tx, request, now, rateLimit, concurrency, keyRules));
    } else {
      // Limited, or no longer limited (a stale hint): claim now.
      claimed = await this.claimRows(tx, request, now, { concurrency });
    }
    const tasks = this.started(tx, claimed, now);
    let nextRunAt: number | null = null;
    if (tasks.length < request.limit) {
      // None when the queue is at its limit: the worker is woken when a slot frees.
      const [row] = await rows<{ at: number | null }>(
        tx.db,
        `SELECT CASE WHEN $3::int IS NULL OR (SELECT count(*) FROM ${this.s}.active WHERE state = 'running' AND queue = $1) < $3
           THEN ${nextDue(this.s)} END AS at`,
        [request.queue, now, concurrency],
        `outlast:${this.s}:next`,
      );
      nextRunAt = row?.at ?? null;
    }
    if (allowedAt !== null && tasks.length < request.limit) nextRunAt = nextRunAt === null ? allowedAt : Math.min(nextRunAt, allowedAt);
    return { tasks, nextRunAt };
  }

  /** Delayed tasks of the queue that are due join their priority's round; rows another claim is promoting are left to it. */
  private async promote(tx: Tx, queue: string, now: number): Promise<void> {
    await rows(
      tx.db,
      `UPDATE ${this.s}.tasks t SET turn = coalesce(${roundOf(this.s, "t.queue", "t.priority")}, 0)
       WHERE t.seq = ANY (ARRAY(SELECT x.seq FROM ${this.s}.active a JOIN ${this.s}.tasks x ON x.seq = a.seq
         WHERE a.state = 'queued' AND a.queue = $1 AND a.turn IS NULL AND a.run_at <= $2 AND x.state = 'queued' AND x.turn IS NULL AND x.run_at <= $2
         FOR UPDATE OF x SKIP LOCKED))`,
      [queue, now],
      `outlast:${this.s}:promote`,
    );
    this.delayedAt.delete(queue);
  }

  /** The fast path's claim: its rows, and the queue's state read in the same statement. */
  private async claimFree(tx: Tx, request: ClaimRequest, now: number): Promise<{ claimed: ClaimedRow[]; meta: FastMeta }> {
    const found = (await this.claimRows(tx, request, now, { free: true })) as (ClaimedRow & Partial<FastMeta>)[];
    const first = found[0];
    const meta: FastMeta = { limited: first?.limited === true, next_delayed: first?.next_delayed == null ? null : Number(first.next_delayed) };
    return { claimed: found.filter((row) => row.id !== null), meta };
  }

  /** Claimed rows as the worker gets them, each with its "running" event. */
  private started(tx: Tx, claimed: readonly ClaimedRow[], now: number): ClaimedTask[] {
    return claimed.map((row) => {
      tx.event(storedEvent(row, row.last_seq, row.attempt, now, RUNNING_EVENT), row.parent_id);
      const steps = new Map<string, unknown>();
      row.step_names?.forEach((name, i) => steps.set(name, decode(row.step_results?.[i] ?? null)));
      // A woken task keeps its last wait in the row (a group's is read again on a rerun); running, it waits for nothing.
      return { task: { ...rowToTask(row), wait: null }, lease: { taskId: row.id, token: row.lease_token }, steps };
    });
  }

  /**
   * A rate-limited queue (core/rate-limit.ts) or one with per-key limits
   * (core/key-limits.ts), its row locked: the window's starts are read (older
   * ones deleted) and running tasks counted per key; keys out of budget or
   * at their limit are left out in the query, so one key's backlog cannot
   * crowd the look-ahead; candidates are taken in claim order while they fit
   * (and the queue's concurrency), and their starts written to the ledger.
   * `allowedAt`: when a held-back key may next start.
   */
  private async picked(
    tx: Tx,
    request: ClaimRequest,
    now: number,
    limit: RateLimit | null,
    concurrency: number | null,
    keyRules: KeyRules | null,
  ): Promise<{ claimed: ClaimedRow[]; allowedAt: number | null }> {
    const s = this.s;
    let starts: rate.RateStart[] = [];
    let exhausted: string[] = [];
    const used = new Map<string, number>();
    if (limit !== null) {
      const since = rate.windowStart(limit, now);
      await rows(tx.db, `DELETE FROM ${s}.rate_starts WHERE queue = $1 AND at <= $2`, [request.queue, since], `outlast:${s}:rate-prune`);
      starts = await rows<rate.RateStart>(tx.db, `SELECT key, at, cost FROM ${s}.rate_starts WHERE queue = $1 AND at > $2`, [request.queue, since], `outlast:${s}:rate-window`);
      for (const [key, n] of rate.usedByKey(starts)) used.set(key, n);
      exhausted = rate.exhaustedKeys(limit, used);
    }
    let slots = request.limit;
    let keys: KeyCounts | null = null;
    if (concurrency !== null || keyRules !== null) {
      const counts = await rows<KeyRunning>(
        tx.db,
        `SELECT t.concurrency_key AS key, count(*)::int AS n, max(t.tier) AS tier, max(t.key_limit) AS own FROM ${s}.active a JOIN ${s}.tasks t ON t.seq = a.seq
         WHERE a.state = 'running' AND a.queue = $1 GROUP BY t.concurrency_key`,
        [request.queue],
        `outlast:${s}:running-by-key`,
      );
      if (concurrency !== null) slots = Math.min(slots, concurrency - counts.reduce((sum, c) => sum + c.n, 0));
      if (keyRules !== null) keys = new KeyCounts(keyRules, counts);
    }
    if (slots <= 0) return { claimed: [], allowedAt: null };
    const keyed = limit?.keyed ?? false;
    const keyExpr = `(CASE WHEN $3::boolean THEN coalesce(rate_key, '') ELSE '' END)`;
    const candidates = await rows<{ seq: number; owner: string; rate_key: string | null; cost: number; concurrency_key: string; tier: string | null; key_limit: number | null }>(
      tx.db,
      `SELECT t.seq, t.owner, t.rate_key, t.cost, t.concurrency_key, t.tier, t.key_limit FROM ${s}.active a JOIN ${s}.tasks t ON t.seq = a.seq
       WHERE a.state = 'queued' AND a.queue = $1 AND a.turn IS NOT NULL AND a.name = ANY($2::text[]) AND ${keyExpr} <> ALL($4::text[])
         AND a.concurrency_key <> ALL($6::text[]) AND t.state = 'queued' AND t.turn IS NOT NULL
       ORDER BY a.priority DESC, a.turn, a.seq LIMIT $5 FOR UPDATE OF t SKIP LOCKED`,
      [request.queue, request.names, keyed, exhausted, slots * 8 + 32, [...(keys?.full ?? [])]],
      `outlast:${s}:candidates`,
    );
    const fits = (i: number) => {
      const row = candidates[i]!;
      return keys === null || keys.take(row.concurrency_key, row.tier, row.key_limit);
    };
    let picked: number[] = [];
    let held = new Map<string, number>();
    if (limit !== null) {
      ({ picked, held } = rate.pickWithinRate(
        limit,
        used,
        candidates.map((row) => ({ owner: row.owner, rateKey: row.rate_key, cost: row.cost })),
        slots,
        (_, i) => fits(i),
      ));
    } else {
      for (let i = 0; i < candidates.length && picked.length < slots; i++) if (fits(i)) picked.push(i);
    }
    const chosen = picked.map((i) => candidates[i]!);
    let claimed: ClaimedRow[] = [];
    if (chosen.length > 0) {
      claimed = await this.claimRows(tx, request, now, { seqs: chosen.map((row) => row.seq) });
      if (limit !== null) {
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
    }
    if (limit === null || claimed.length >= slots) return { claimed, allowedAt: null };
    let waitingExhausted = false;
    if (exhausted.length > 0) {
      // Keys left out of the query count only when some task of theirs is waiting.
      const found = await rows(
        tx.db,
        `SELECT 1 FROM ${s}.active a JOIN ${s}.tasks t ON t.seq = a.seq
         WHERE a.state = 'queued' AND a.queue = $1 AND a.turn IS NOT NULL AND a.name = ANY($2::text[]) AND ${keyExpr} = ANY($4::text[]) LIMIT 1`,
        [request.queue, request.names, keyed, exhausted],
        `outlast:${s}:rate-exhausted`,
      );
      waitingExhausted = found.length > 0;
    }
    return { claimed, allowedAt: rate.heldUntil(limit, starts, held, waitingExhausted ? exhausted : []) };
  }

  /**
   * Claim runnable tasks in one statement, in priority, turn (core/turns.ts), insertion
   * order: up to the request's limit and, with `concurrency`, no more than
   * the queue's free places. `free`: claim only if the queue has no limits
   * and is not paused (else nothing). `seqs`: the rows a caller picked.
   */
  private async claimRows(
    tx: Tx,
    request: ClaimRequest,
    now: number,
    mode: { free: true } | { concurrency: number | null } | { seqs: number[] },
  ): Promise<ClaimedRow[]> {
    const s = this.s;
    const free = "free" in mode;
    const seqs = "seqs" in mode ? mode.seqs : null;
    const concurrency = "concurrency" in mode ? mode.concurrency : null;
    // $7: the queue's concurrency; the places left are counted in this statement's snapshot.
    // Never below 0: an operator may lower the limit under what is running.
    const slots = `greatest(0, least($4, coalesce($7::int - (SELECT count(*) FROM ${s}.active WHERE state = 'running' AND queue = $1), $4)))`;
    const picked =
      seqs !== null
        ? // Chosen by the caller (a rate-limited claim), their rows already locked.
          // (Every parameter is named, so each has a type: the queue, names and limit again, though they change nothing.)
          `SELECT seq FROM ${s}.tasks WHERE seq = ANY($7::bigint[]) AND queue = $1 AND name = ANY($3::text[]) LIMIT $4`
        : `SELECT t.seq FROM ${s}.active a JOIN ${s}.tasks t ON t.seq = a.seq
           WHERE a.state = 'queued' AND a.queue = $1 AND a.turn IS NOT NULL AND a.name = ANY($3::text[]) AND t.state = 'queued' AND t.turn IS NOT NULL
           ${free ? `AND NOT EXISTS (SELECT 1 FROM ${s}.queues q WHERE q.name = $1 AND (q.paused OR ${limitedSql("q.")}))` : ""}
           ORDER BY a.priority DESC, a.turn, a.seq LIMIT ${free ? "$4" : slots} FOR UPDATE OF t SKIP LOCKED`;
    const params: unknown[] = [request.queue, now, request.names, request.limit, request.workerId, now + request.leaseMs];
    if (seqs !== null) params.push(seqs);
    else if (!free) params.push(concurrency);
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
         -- A first claim's running event is the row's (derived-events.ts); a later one's is a row.
         INSERT INTO ${s}.task_events(task_id, owner, queue, seq, kind, attempt, at, data)
         SELECT id, owner, queue, last_seq, 'state', attempt, $2, ${RUNNING_SQL} FROM u WHERE NOT (last_seq = 2 AND derived & ${DERIVED.FIRST_RUN} <> 0)
       )
       ${
         free
           ? // One row at least: the queue's state comes back with no task claimed.
             `, m AS (
         SELECT EXISTS (SELECT 1 FROM ${s}.queues q WHERE q.name = $1 AND (q.paused OR ${limitedSql("q.")})) AS limited,
           (SELECT min(run_at) FROM ${s}.active WHERE state = 'queued' AND queue = $1 AND turn IS NULL) AS next_delayed
       )
       SELECT u.*, st.names AS step_names, st.results AS step_results, m.limited, m.next_delayed
       FROM m LEFT JOIN u ON true`
           : `SELECT u.*, st.names AS step_names, st.results AS step_results FROM u`
       } LEFT JOIN LATERAL (
         -- Only a task that ran before (more events than "queued" and this
         -- "running") can have steps: a first run skips the lookup.
         SELECT array_agg(name) AS names, array_agg(result) AS results FROM ${s}.task_steps
         WHERE task_id = u.id AND u.last_seq > 2
       ) st ON true
       ORDER BY u.priority DESC, u.turn, u.seq`,
      params,
      `outlast:${s}:claim:${free ? "free" : seqs !== null ? "chosen" : "limited"}`,
    );
  }
}

/** A queue row (columns prefixed by `q`) with a limit its claims must serialise on. */
function limitedSql(q: string): string {
  return `${q}concurrency IS NOT NULL OR ${q}owner_concurrency IS NOT NULL OR ${q}rate_limit IS NOT NULL OR ${q}key_rules IS NOT NULL`;
}

/** When the queue's next delayed task is due, for a statement whose $1 is the queue and $2 now. */
function nextDue(s: string): string {
  return `(SELECT min(run_at) FROM ${s}.active WHERE state = 'queued' AND queue = $1 AND turn IS NULL AND run_at > $2)`;
}
