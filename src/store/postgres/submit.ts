import { dedupeDecision, replacedEvent } from "../../core/dedupe.js";
import { DEFAULT_MAX_LEASE_EXPIRIES } from "../../core/dead-letters.js";
import { QueueFullError } from "../../core/errors.js";
import { splitDedupeRows } from "../dedupe-rows.js";
import { fullScope, retryAfterHint, submitDecision } from "../../core/submit-rules.js";
import type { TaskRecord } from "../../core/task.js";
import { firstQueuedEvent, rerunTransition, waitTransition, type RerunReason } from "../../core/transitions.js";
import { isGroup, rerunWaitEvent } from "../group-rows.js";
import type { SubmitOutcome, SubmitRequest } from "../store.js";
import { additionsByQueue, checkNew, checkRate } from "../additions.js";
import { encode, rowToTask, type TaskRow } from "./rows.js";
import type { PgReads } from "./reads.js";
import { rows } from "./sql.js";
import { keyLastTurn, nextTurn, roundOf } from "./turn-sql.js";
import { storedEvent, type Tx } from "./tx.js";
import { DERIVED } from "./derived-events.js";

/** The queues named in parameter `param` that have a length limit. */
function limitedQueuesSql(s: string, param: string): string {
  return `SELECT name FROM ${s}.queues WHERE name = ANY(${param}::text[]) AND (max_queued IS NOT NULL OR owner_max_queued IS NOT NULL)`;
}

/** Storing tasks: the submit rules of core/submit-rules.ts in PostgreSQL's statements, for one schema. */
export class PgSubmits {
  /** Cancels a task and its unfinished children (postgres/waits.ts; set once the store has made it). */
  cancelTree: (tx: Tx, id: string, now: number, locked: TaskRow) => Promise<unknown> = () => {
    throw new Error("PgSubmits.cancelTree is not set");
  };

  constructor(
    private readonly s: string,
    private readonly reads: PgReads,
  ) {}

  /**
   * Submit many tasks in one transaction. Plain submits (no idempotency key,
   * no length limit on their queue) are inserted with one statement; the
   * others go one by one, in order, so a burst keeps its FIFO order.
   */
  async many(tx: Tx, items: readonly { request: SubmitRequest; now: number }[]): Promise<({ ok: true; value: SubmitOutcome } | { ok: false; error: unknown })[]> {
    const queues = [...new Set(items.map((item) => item.request.queue))];
    let limited: ReadonlySet<string>;
    if (items.every(({ request }) => request.idempotencyKey === null && !request.dedupe)) {
      // The usual batch: inserted in one statement unless a queue of it has a length limit (then nothing is).
      const inserted = await this.insertRows(tx, items, queues);
      if (inserted.limited.size === 0) return inserted.tasks.map((task) => ({ ok: true, value: { kind: "created", task } }));
      limited = inserted.limited;
    } else {
      limited = new Set(
        (
          await rows<{ name: string }>(
            tx.db,
            limitedQueuesSql(this.s, "$1"),
            [queues],
            `outlast:${this.s}:limited`,
          )
        ).map((row) => row.name),
      );
    }
    // Dedupe keys are locked first, all at once and in one order, so two batches holding some of the same keys queue rather than deadlock.
    const keys = items.flatMap((item) => (item.request.dedupe ? [this.dedupeLockKey(item.request)] : []));
    if (keys.length > 0) await this.lockDedupeKeys(tx, keys);
    const out: ({ ok: true; value: SubmitOutcome } | { ok: false; error: unknown })[] = [];
    let plain: { request: SubmitRequest; now: number }[] = [];
    const flushPlain = async () => {
      if (plain.length === 0) return;
      for (const task of await this.insertMany(tx, plain)) out.push({ ok: true, value: { kind: "created", task } });
      plain = [];
    };
    for (const item of items) {
      if (item.request.idempotencyKey === null && !item.request.dedupe && !limited.has(item.request.queue)) {
        plain.push(item);
        continue;
      }
      await flushPlain();
      try {
        out.push({ ok: true, value: await this.one(tx, item.request, item.now) });
      } catch (error) {
        if (!(error instanceof QueueFullError)) throw error;
        out.push({ ok: false, error });
      }
    }
    await flushPlain();
    return out;
  }

  /**
   * One submit with every rule: idempotency, resume, queue limits. A new
   * task is stored with `children` (a group's), which are checked with it
   * before anything is written.
   */
  async one(tx: Tx, request: SubmitRequest, now: number, children: readonly SubmitRequest[] = []): Promise<SubmitOutcome> {
    if (request.dedupe) return this.deduped(tx, request, now);
    const [found] =
      request.idempotencyKey === null
        ? []
        : await rows<TaskRow>(
            tx.db,
            `SELECT * FROM ${this.s}.tasks WHERE owner = $1 AND name = $2 AND idempotency_key = $3 FOR UPDATE`,
            [request.owner, request.name, request.idempotencyKey],
          );
    switch (submitDecision(found ? rowToTask(found) : null)) {
      case "existing":
        return { kind: "existing", task: rowToTask(found!) };
      case "resume":
        await this.checkRoom(tx, found!.queue, found!.owner);
        return { kind: "resumed", task: rowToTask(await this.rerun(tx, found!, now, "resumed", request.maxAttempts)) };
      case "restart":
        await this.checkRoom(tx, found!.queue, found!.owner);
        await rows(
          tx.db,
          // A restart starts with no children: the old run's are kept as tasks of their own.
          `WITH st AS (DELETE FROM ${this.s}.task_steps WHERE task_id = $1),
             ch AS (UPDATE ${this.s}.tasks SET parent_id = NULL, child_key = NULL WHERE parent_id = $1)
           UPDATE ${this.s}.tasks SET input = $2, checkpoint = NULL, progress = NULL, progress_seq = NULL, log_count = 0, children = 0 WHERE id = $1`,
          [found!.id, encode(request.input)],
        );
        return { kind: "restarted", task: rowToTask(await this.rerun(tx, found!, now, "restarted", request.maxAttempts)) };
      case "create": {
        await this.checkRoom(tx, request.queue, request.owner);
        if (children.length > 0) await this.checkAllNew(tx, children);
        const [task] = await this.insertMany(
          tx,
          [request, ...children].map((r) => ({ request: r, now })),
        );
        return { kind: "created", task: task! };
      }
    }
  }

  /** What a dedupe key's lock is taken on: the schema, owner, task name and key. */
  private dedupeLockKey(request: SubmitRequest): string {
    return JSON.stringify([this.s, request.owner, request.name, request.dedupe!.key]);
  }

  /**
   * Transaction-scoped advisory locks on dedupe keys, in sorted order: the
   * submits of one key, on any connection, run one after another, and each
   * reads the key's tasks after the one before it committed (READ
   * COMMITTED: every statement sees the latest commits). Locking a key
   * again in the same transaction is harmless. A hash collision only makes
   * two keys wait for each other.
   */
  private async lockDedupeKeys(tx: Tx, keys: readonly string[]): Promise<void> {
    await rows(
      tx.db,
      `SELECT pg_advisory_xact_lock(hashtextextended(k, 0)) FROM (SELECT DISTINCT k FROM unnest($1::text[]) AS u(k) ORDER BY k) AS sorted`,
      [keys],
      `outlast:${this.s}:dedupe-lock`,
    );
  }

  /**
   * A submit with a dedupe key (core/dedupe.ts): the key's pending task
   * takes the input, or a new one is stored; a cancel-running submit cancels
   * the key's started tasks. The key's lock makes it one at a time per key.
   */
  private async deduped(tx: Tx, request: SubmitRequest, now: number): Promise<SubmitOutcome> {
    const spec = request.dedupe!;
    await this.lockDedupeKeys(tx, [this.dedupeLockKey(request)]);
    const found = await rows<TaskRow>(
      tx.db,
      `SELECT * FROM ${this.s}.tasks WHERE owner = $1 AND name = $2 AND dedupe_key = $3 AND finished_at IS NULL ORDER BY seq FOR UPDATE`,
      [request.owner, request.name, spec.key],
    );
    const { pending, started } = splitDedupeRows(found);
    const decision = dedupeDecision(spec, request.runAt, pending, started, now);
    // A refusal comes before any write: a new task must fit.
    if (decision.kind === "create") await this.checkRoom(tx, request.queue, request.owner);
    for (const row of started) if (decision.cancel.includes(row.id)) await this.cancelTree(tx, row.id, now, row);
    const canceled = decision.cancel.length > 0 ? { canceled: decision.cancel } : {};
    if (decision.kind === "create") {
      const [task] = await this.insertMany(tx, [{ request: { ...request, runAt: decision.runAt }, now, dedupeDeadline: decision.deadline }]);
      return { kind: "created", task: task!, ...canceled };
    }
    const data = replacedEvent(decision.runAt);
    const [updated] = await rows<TaskRow>(
      tx.db,
      `WITH u AS (
         UPDATE ${this.s}.tasks t SET input = $2, run_at = $3::bigint, last_seq = t.last_seq + 1,
           -- Moved later (a debounce), it gets its turn when due, like a delayed task.
           turn = CASE WHEN $3::bigint > $4::bigint THEN NULL ELSE t.turn END
         WHERE t.id = $1 RETURNING t.*
       ), e AS (
         INSERT INTO ${this.s}.task_events(task_id, owner, queue, seq, kind, attempt, at, data)
         SELECT id, owner, queue, last_seq, 'state', attempt, $4::bigint, $5 FROM u
       )
       SELECT * FROM u`,
      [pending!.id, encode(request.input), decision.runAt, now, JSON.stringify(data)],
    );
    tx.event(storedEvent(updated!, updated!.last_seq, updated!.attempt, now, data), updated!.parent_id);
    tx.touch(updated!.queue);
    return { kind: "replaced", task: rowToTask(updated!), ...canceled };
  }

  /**
   * An ended task queued again (retry, resume), steps and checkpoint kept;
   * its failed and canceled children too, so a parent that failed with them
   * finds them running again. A group waits for its children again.
   */
  async rerun(tx: Tx, row: TaskRow, now: number, reason: RerunReason, budget: number = row.attempt_budget): Promise<TaskRow> {
    const updated = isGroup(row) ? await this.rewait(tx, row, now, reason, budget) : await this.requeue(tx, row, now, reason, budget);
    if (row.children > 0) {
      const children = await rows<TaskRow>(tx.db, `SELECT * FROM ${this.s}.tasks WHERE parent_id = $1 ORDER BY seq FOR UPDATE`, [row.id]);
      for (const child of children) {
        if (child.state === "failed" || child.state === "canceled") await this.rerun(tx, child, now, reason === "restarted" ? "retry" : reason);
      }
    }
    return updated;
  }

  /** A group run again: back to waiting for its children (settled before the commit), not to the queue. */
  private async rewait(tx: Tx, row: TaskRow, now: number, reason: RerunReason, budget: number): Promise<TaskRow> {
    const { maxAttempts, event } = rerunTransition(row, reason, budget);
    const data = rerunWaitEvent(event);
    const [updated] = await rows<TaskRow>(
      tx.db,
      `WITH u AS (
         UPDATE ${this.s}.tasks t SET state = 'waiting', last_seq = t.last_seq + 1, max_attempts = $3,
           error = NULL, result = NULL, finished_at = NULL, cancel_requested = false, dead_letter = 0, lease_expiries = 0
         WHERE t.id = $1 RETURNING t.*
       ), e AS (
         INSERT INTO ${this.s}.task_events(task_id, owner, queue, seq, kind, attempt, at, data)
         SELECT id, owner, queue, last_seq, 'state', attempt, $2, $4 FROM u
       )
       SELECT * FROM u`,
      [row.id, now, maxAttempts, JSON.stringify(data)],
    );
    tx.event(storedEvent(updated!, updated!.last_seq, updated!.attempt, now, data), updated!.parent_id);
    // Settled before commit: with no child to run again, it ends at once.
    tx.dirtyParents.add(row.id);
    return updated!;
  }

  private async requeue(tx: Tx, row: TaskRow, now: number, reason: RerunReason, budget: number): Promise<TaskRow> {
    const { maxAttempts, event } = rerunTransition(row, reason, budget);
    const [updated] = await rows<TaskRow>(
      tx.db,
      `WITH u AS (
         UPDATE ${this.s}.tasks t SET state = 'queued', run_at = $2, last_seq = t.last_seq + 1, max_attempts = $3,
           error = NULL, result = NULL, finished_at = NULL, cancel_requested = false, worker_id = NULL, lease_expires_at = NULL,
           dead_letter = 0, lease_expiries = 0,
           -- Queued again now, it takes a turn like a new task (core/turns.ts, nextTurn).
           turn = (SELECT ${nextTurn("l.turn", "r.turn")}
             FROM (SELECT ${keyLastTurn(this.s, "t.queue", "coalesce(t.concurrency_key, t.owner)")} AS turn) l, (SELECT ${roundOf(this.s, "t.queue", "t.priority")} AS turn) r)
         WHERE t.id = $1 RETURNING t.*
       ), e AS (
         INSERT INTO ${this.s}.task_events(task_id, owner, queue, seq, kind, attempt, at, data)
         SELECT id, owner, queue, last_seq, 'state', attempt, $2, $4 FROM u
       )
       SELECT * FROM u`,
      [row.id, now, maxAttempts, JSON.stringify(event)],
    );
    tx.event(storedEvent(updated!, updated!.last_seq, updated!.attempt, now, event), updated!.parent_id);
    this.countQueued(tx, row.queue, row.owner);
    tx.touch(row.queue);
    return updated!;
  }

  /** New tasks, all inserted or none (QueueFullError) when their queues' limits would not hold them all. */
  async allNew(tx: Tx, requests: readonly SubmitRequest[], now: number): Promise<TaskRecord[]> {
    await this.checkAllNew(tx, requests);
    if (requests.length === 0) return [];
    return this.insertMany(
      tx,
      requests.map((request) => ({ request, now })),
    );
  }

  /** Throws (QueueFullError, bad_request) unless `requests` may all be stored as new tasks. */
  private async checkAllNew(tx: Tx, requests: readonly SubmitRequest[]): Promise<void> {
    for (const request of requests) checkNew(request);
    for (const [queue, added] of additionsByQueue(requests)) {
      for (const [owner, n] of added.owners) await this.checkRoom(tx, queue, owner, added.total, n);
    }
  }

  /** Throws QueueFullError unless `adding` more tasks (`ownerAdding` of them the owner's) fit the queue's limits. */
  private async checkRoom(tx: Tx, queue: string, owner: string, adding = 1, ownerAdding = adding): Promise<void> {
    // The queue row lock makes "count, then insert" atomic across nodes:
    // two nodes cannot both take the last free place.
    const [config] = await rows<{ max_queued: number | null; owner_max_queued: number | null }>(
      tx.db,
      `SELECT max_queued, owner_max_queued FROM ${this.s}.queues
       WHERE name = $1 AND (max_queued IS NOT NULL OR owner_max_queued IS NOT NULL) FOR UPDATE`,
      [queue],
    );
    if (!config) return;
    const counts = await this.queuedCounts(tx, queue, owner);
    const scope = fullScope({ maxQueued: config.max_queued, ownerMaxQueued: config.owner_max_queued }, adding, ownerAdding, (of) => counts[of]);
    if (scope !== null) throw new QueueFullError(queue, scope, retryAfterHint(await this.reads.recentDurationMs(tx.db, queue)));
  }

  // Counts are cached for the length of one transaction so a burst of
  // submits costs one index count per queue and owner, not one per submit.
  private async queuedCounts(tx: Tx, queue: string, owner: string): Promise<{ queue: number; owner: number }> {
    const q = `q\0${queue}`;
    const o = `o\0${queue}\0${owner}`;
    let inQueue = tx.memo.get(q);
    let ofOwner = tx.memo.get(o);
    if (inQueue === undefined || ofOwner === undefined) {
      const [row] = await rows<{ n: number; owner_n: number }>(
        tx.db,
        `SELECT count(*) AS n, count(*) FILTER (WHERE owner = $2) AS owner_n FROM ${this.s}.active WHERE state = 'queued' AND queue = $1`,
        [queue, owner],
      );
      inQueue = row!.n;
      ofOwner = row!.owner_n;
      tx.memo.set(q, inQueue);
      tx.memo.set(o, ofOwner);
    }
    return { queue: inQueue, owner: ofOwner };
  }

  private countQueued(tx: Tx, queue: string, owner: string): void {
    for (const key of [`q\0${queue}`, `o\0${queue}\0${owner}`]) {
      const n = tx.memo.get(key);
      if (n !== undefined) tx.memo.set(key, n + 1);
    }
  }

  /**
   * Insert new tasks and their first event with one statement, no limits
   * checked; the records are built here, not read back. A request with a
   * `wait` (a group) starts waiting, without a turn; one with a `parent` is
   * its child.
   */
  async insertMany(tx: Tx, items: readonly { request: SubmitRequest; now: number; dedupeDeadline?: number | null }[]): Promise<TaskRecord[]> {
    return (await this.insertRows(tx, items, null)).tasks;
  }

  /**
   * `insertMany`, or with `unlessLimited` (the batch's queues) nothing at
   * all if one of those queues has a length limit: then `limited` names
   * them, and the caller checks each submit against them. The check is part
   * of the insert, which saves a round trip per submit.
   */
  private async insertRows(
    tx: Tx,
    items: readonly { request: SubmitRequest; now: number; dedupeDeadline?: number | null }[],
    unlessLimited: readonly string[] | null,
  ): Promise<{ tasks: TaskRecord[]; limited: ReadonlySet<string> }> {
    for (const { request } of items) checkRate(request);
    const inputs: string[] = [];
    const firstEvents = items.map(({ request: r, now }) => (r.wait ? waitTransition(r.wait) : firstQueuedEvent(r.runAt, now)));
    // One JSON array of rows, not an array parameter per column: JSON.stringify
    // is native, while the driver builds array literals element by element
    // in JavaScript (measured: a third of the client time, and less server time).
    const rowsJson = JSON.stringify(
      items.map(({ request: r, now, dedupeDeadline }, k) => {
        const input = encode(r.input);
        inputs.push(input);
        // null: the plain "queued" event, which the row says (derived-events.ts).
        const event = r.wait || r.runAt > now ? JSON.stringify(firstEvents[k]) : null;
        const row: unknown[] = [r.id, r.name, r.queue, r.owner, r.priority, r.maxAttempts, r.timeoutMs, input, r.idempotencyKey, now, r.runAt, event, r.title];
        // Optional columns in a fixed order, each group only when it or a later one is set: a plain task's row stays as short as before.
        const leaseLimit = r.maxLeaseExpiries !== undefined && r.maxLeaseExpiries !== DEFAULT_MAX_LEASE_EXPIRIES;
        const keyed = (r.concurrencyKey ?? null) !== null || (r.tier ?? null) !== null || (r.keyLimit ?? null) !== null;
        const rated = keyed || (r.rateKey ?? null) !== null || (r.cost ?? 1) !== 1;
        if (r.parent || r.wait || r.dedupe || leaseLimit || rated) row.push(r.parent?.id ?? null, r.parent?.key ?? null, r.parent?.weight ?? 1, r.wait ? JSON.stringify(r.wait) : null);
        if (r.dedupe || leaseLimit || rated) row.push(r.dedupe?.key ?? null, dedupeDeadline ?? null);
        if (leaseLimit || rated) row.push(r.maxLeaseExpiries ?? DEFAULT_MAX_LEASE_EXPIRIES);
        if (rated) row.push(r.rateKey ?? null, r.cost ?? 1);
        if (keyed) row.push(r.concurrencyKey ?? null, r.tier ?? null, r.keyLimit ?? null);
        return row;
      }),
    );
    const limitedRows = await rows<{ name: string }>(
      tx.db,
      `WITH lim AS (${limitedQueuesSql(this.s, "$2")}), i AS (
         SELECT e->>0 AS id, e->>1 AS name, e->>2 AS queue, e->>3 AS owner, (e->>4)::int AS priority, (e->>5)::int AS max_attempts,
           (e->>6)::bigint AS timeout_ms, e->>7 AS input, e->>8 AS idempotency_key, (e->>9)::bigint AS created_at,
           (e->>10)::bigint AS run_at, e->>11 AS event, e->>12 AS title,
           e->>13 AS parent_id, e->>14 AS child_key, coalesce((e->>15)::float8, 1) AS weight, e->>16 AS wait,
           e->>17 AS dedupe_key, (e->>18)::bigint AS dedupe_deadline,
           coalesce((e->>19)::int, ${DEFAULT_MAX_LEASE_EXPIRIES}) AS max_lease_expiries,
           e->>20 AS rate_key, coalesce((e->>21)::int, 1) AS cost,
           coalesce(e->>22, e->>3) AS concurrency_key, e->>23 AS tier, (e->>24)::int AS key_limit, ord
         FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS x(e, ord)
         WHERE NOT EXISTS (SELECT 1 FROM lim)
       ), last AS MATERIALIZED (
         -- Turns (core/turns.ts, nextTurn): after the key's last queued one (core/key-limits.ts: the owner's unless the
         -- queue keys otherwise), not before its priority's round; tasks of one key in this statement take the next
         -- ones in order. A delayed task gets its own when due. Materialized (here and in round): inlined, the lookups
         -- ran once per row and per mention in nextTurn's expression, three quarters of a batch's time.
         SELECT o.queue, o.concurrency_key, ${keyLastTurn(this.s, "o.queue", "o.concurrency_key")} AS turn FROM (SELECT DISTINCT queue, concurrency_key FROM i) o
       ), round AS MATERIALIZED (
         SELECT p.queue, p.priority, ${roundOf(this.s, "p.queue", "p.priority")} AS turn FROM (SELECT DISTINCT queue, priority FROM i) p
       ), turned AS (
         SELECT i.*, CASE WHEN i.wait IS NOT NULL OR i.run_at > i.created_at THEN NULL ELSE
             ${nextTurn("last.turn", "round.turn")}
             + row_number() OVER (PARTITION BY i.queue, i.concurrency_key, i.wait IS NULL AND i.run_at <= i.created_at ORDER BY i.ord) - 1
           END AS turn
         FROM i JOIN last USING (queue, concurrency_key) JOIN round USING (queue, priority)
       ), t AS (
         INSERT INTO ${this.s}.tasks(id, name, queue, owner, title, state, priority, max_attempts, attempt_budget, timeout_ms, input,
           idempotency_key, created_at, run_at, last_seq, turn, parent_id, child_key, weight, wait, dedupe_key, dedupe_deadline, max_lease_expiries,
           rate_key, cost, concurrency_key, tier, key_limit, derived)
         SELECT id, name, queue, owner, title, CASE WHEN wait IS NULL THEN 'queued' ELSE 'waiting' END, priority, max_attempts, max_attempts,
           timeout_ms, input, idempotency_key, created_at, run_at, 1, turn, parent_id, child_key, weight, wait, dedupe_key, dedupe_deadline, max_lease_expiries,
           rate_key, cost, concurrency_key, tier, key_limit,
           CASE WHEN event IS NULL THEN ${DERIVED.QUEUED} ELSE 0 END | CASE WHEN wait IS NULL THEN ${DERIVED.FIRST_RUN} ELSE 0 END | ${DERIVED.SUCCEEDED}
         FROM turned ORDER BY ord
       ), e AS (
         -- The plain "queued" event is the row's own (derived-events.ts); every other first event is a row.
         -- Every row of i is inserted or the statement fails: no join back to t.
         INSERT INTO ${this.s}.task_events(task_id, owner, queue, seq, kind, attempt, at, data)
         SELECT id, owner, queue, 1, 'state', 0, created_at, event FROM i WHERE event IS NOT NULL
       )
       SELECT name FROM lim`,
      [rowsJson, unlessLimited ?? []],
      `outlast:${this.s}:insert`,
    );
    if (limitedRows.length > 0) return { tasks: [], limited: new Set(limitedRows.map((row) => row.name)) };
    const tasks = items.map(({ request: r, now }, k): TaskRecord => {
      tx.event(storedEvent(r, 1, 0, now, firstEvents[k]!), r.parent?.id ?? null);
      if (!r.wait) {
        this.countQueued(tx, r.queue, r.owner);
        tx.touch(r.queue);
      }
      return {
        id: r.id,
        name: r.name,
        queue: r.queue,
        owner: r.owner,
        title: r.title,
        state: r.wait ? "waiting" : "queued",
        priority: r.priority,
        attempt: 0,
        maxAttempts: r.maxAttempts,
        timeoutMs: r.timeoutMs,
        input: JSON.parse(inputs[k]!) as unknown,
        progress: null,
        result: null,
        error: null,
        checkpoint: null,
        idempotencyKey: r.idempotencyKey,
        createdAt: now,
        runAt: r.runAt,
        startedAt: null,
        finishedAt: null,
        lastSeq: 1,
        cancelRequested: false,
        workerId: null,
        leaseExpiresAt: null,
        parentId: r.parent?.id ?? null,
        childKey: r.parent?.key ?? null,
        wait: r.wait ?? null,
        deadLetter: false,
      };
    });
    return { tasks, limited: new Set() };
  }
}
