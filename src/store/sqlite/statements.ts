import type { Database, RunResult } from "better-sqlite3";
import type { TaskState } from "../../core/states.js";
import { CLAIM_COLUMNS, type ClaimRow, type KeyedClaimRow } from "./records.js";
import type { KeyRunning } from "../../core/key-limits.js";
import type { EventRow, TaskRow } from "./rows.js";
import type { QueueRowBase } from "../task-row.js";

/** A `queues` row. */
export type QueueRow = QueueRowBase & { paused: number; declared: string; overrides: string };

export type Fenced = Pick<
  TaskRow,
  "id" | "owner" | "queue" | "state" | "attempt" | "last_seq" | "lease_token" | "lease_expires_at" | "progress_seq" | "parent_id" | "children"
>;

/**
 * The part of a better-sqlite3 statement the store uses, named here so the
 * declarations of this module can spell it (the driver's own type lives in an
 * unexported namespace).
 */
export interface Prepared<P extends unknown[] | object, R> {
  run(...params: P extends unknown[] ? P : [P]): RunResult;
  get(...params: P extends unknown[] ? P : [P]): R | undefined;
  all(...params: P extends unknown[] ? P : [P]): R[];
}

export type Statements = ReturnType<typeof prepareStatements>;

/** `insertTask`'s values, in its columns' order (last_seq is 1). */
export type InsertTaskValues = [
  id: string,
  name: string,
  queue: string,
  owner: string,
  title: string | null,
  state: "queued" | "waiting",
  priority: number,
  max_attempts: number,
  attempt_budget: number,
  timeout_ms: number | null,
  input: string,
  idempotency_key: string | null,
  created_at: number,
  run_at: number,
  turn: number | null,
  parent_id: string | null,
  child_key: string | null,
  weight: number,
  wait: string | null,
  dedupe_key: string | null,
  dedupe_deadline: number | null,
  max_lease_expiries: number,
  rate_key: string | null,
  cost: number,
  concurrency_key: string,
  tier: string | null,
  key_limit: number | null,
];

/** Every statement of the store, prepared once per connection. */
export function prepareStatements(db: Database) {
  const s = <P extends unknown[] | object, R = unknown>(sql: string): Prepared<P, R> => db.prepare<P, R>(sql) as unknown as Prepared<P, R>;
  // Rows as arrays of the selected columns, in their order.
  const raw = <P extends unknown[] | object>(sql: string): Prepared<P, unknown[]> =>
    db.prepare<P, unknown[]>(sql).raw(true) as unknown as Prepared<P, unknown[]>;
  return {
    writeQueueLimits: s<[Record<string, unknown>]>(
      `UPDATE queues SET concurrency = @concurrency, max_queued = @max_queued, owner_concurrency = @owner_concurrency,
         owner_max_queued = @owner_max_queued, rate_limit = @rate_limit, rate_period_ms = @rate_period_ms, rate_keyed = @rate_keyed,
         key_rules = @key_rules, declared = @declared, overrides = @overrides, updated_at = @now
       WHERE name = @name`,
    ),
    // A queue nobody declared has the default limits (core/queue-limits.ts).
    ensureQueue: s<[string, number | null, number]>("INSERT OR IGNORE INTO queues(name, concurrency, paused, updated_at) VALUES (?, ?, 0, ?)"),
    pauseQueue: s<[number, number, string, number]>("UPDATE queues SET paused = ?, updated_at = ? WHERE name = ? AND paused <> ?"),
    queue: s<[string], QueueRow>("SELECT * FROM queues WHERE name = ?"),
    allQueues: s<[], QueueRow>("SELECT * FROM queues"),
    countsByQueue: s<[], { queue: string; state: TaskState; n: number }>(
      `SELECT queue, 'queued' AS state, count(*) AS n FROM tasks WHERE state = 'queued' GROUP BY queue
       UNION ALL SELECT queue, 'running', count(*) FROM tasks WHERE state = 'running' GROUP BY queue
       UNION ALL SELECT queue, 'waiting', count(*) FROM tasks WHERE state = 'waiting' GROUP BY queue
       UNION ALL SELECT queue, state, n FROM state_counts WHERE n <> 0`,
    ),
    byId: s<[string], TaskRow>("SELECT * FROM tasks WHERE id = ?"),
    fence: s<[string], Fenced>("SELECT id, owner, queue, state, attempt, last_seq, lease_token, lease_expires_at, progress_seq, parent_id, children FROM tasks WHERE id = ?"),
    byIdempotencyKey: s<[string, string, string], TaskRow>("SELECT * FROM tasks WHERE owner = ? AND name = ? AND idempotency_key = ?"),
    // Positional: binding 27 values by name cost ~4 µs a row more (the driver looks each name up in the object).
    insertTask: s<InsertTaskValues>(
      `INSERT INTO tasks(id, name, queue, owner, title, state, priority, max_attempts, attempt_budget, timeout_ms, input, idempotency_key, created_at, run_at, last_seq, turn,
         parent_id, child_key, weight, wait, dedupe_key, dedupe_deadline, max_lease_expiries, rate_key, cost, concurrency_key, tier, key_limit)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    // The unfinished tasks of a dedupe key (core/dedupe.ts), oldest first.
    byDedupeKey: s<[string, string, string], TaskRow>(
      "SELECT * FROM tasks WHERE owner = ? AND name = ? AND dedupe_key = ? AND finished_at IS NULL ORDER BY seq",
    ),
    // A pending task takes a newer submit's input; moved later (a debounce), it gets its turn when due.
    replaceInput: s<[{ id: string; input: string; run_at: number; now: number; seq: number }]>(
      `UPDATE tasks SET input = @input, run_at = @run_at, turn = CASE WHEN @run_at > @now THEN NULL ELSE turn END, last_seq = @seq
       WHERE id = @id`,
    ),
    requeue: s<[{ id: string; now: number; seq: number; max_attempts: number; turn: number }], TaskRow>(
      `UPDATE tasks SET state = 'queued', run_at = @now, turn = @turn, last_seq = @seq, max_attempts = @max_attempts, error = NULL, result = NULL,
         finished_at = NULL, cancel_requested = 0, worker_id = NULL, lease_expires_at = NULL, dead_letter = 0, lease_expiries = 0
       WHERE id = @id RETURNING *`,
    ),
    // A group run again waits for its children again (core/waits.ts).
    rewait: s<[{ id: string; seq: number; max_attempts: number }], TaskRow>(
      `UPDATE tasks SET state = 'waiting', last_seq = @seq, max_attempts = @max_attempts, error = NULL, result = NULL,
         finished_at = NULL, cancel_requested = 0, dead_letter = 0, lease_expiries = 0
       WHERE id = @id RETURNING *`,
    ),
    // The attempt it used is given back when it wakes (see wake), so a wait costs none.
    suspend: s<[{ id: string; seq: number; wait: string; wake_at: number | null }]>(
      `UPDATE tasks SET state = 'waiting', wait = @wait, wake_at = @wake_at, last_seq = @seq, turn = NULL,
         worker_id = NULL, lease_expires_at = NULL, lease_expiries = 0
       WHERE id = @id`,
    ),
    // Woken: a turn when a claim finds it due (promoteDue), like a delayed task.
    wake: s<[{ id: string; seq: number; now: number }]>(
      `UPDATE tasks SET state = 'queued', wake_at = NULL, run_at = @now, turn = NULL, last_seq = @seq, attempt = max(attempt - 1, 0), error = NULL
       WHERE id = @id`,
    ),
    dueWakes: s<[number, number], TaskRow>("SELECT * FROM tasks WHERE state = 'waiting' AND wake_at <= ? ORDER BY wake_at, id LIMIT ?"),
    childByKey: s<[string, string], TaskRow>("SELECT * FROM tasks WHERE parent_id = ? AND child_key = ?"),
    childRows: s<[string], { id: string; child_key: string | null; name: string; state: TaskState; weight: number; progress: string | null }>(
      "SELECT id, child_key, name, state, weight, progress FROM tasks WHERE parent_id = ? ORDER BY seq",
    ),
    childrenOf: s<[string], TaskRow>("SELECT * FROM tasks WHERE parent_id = ? ORDER BY seq"),
    addChildren: s<[number, string]>("UPDATE tasks SET children = children + ? WHERE id = ?"),
    insertSignal: s<[string, string, string, number]>("INSERT INTO task_signals(task_id, name, payload, at) VALUES (?, ?, ?, ?)"),
    firstSignal: s<[string, string], { id: number; payload: string }>(
      "SELECT id, payload FROM task_signals WHERE task_id = ? AND name = ? ORDER BY id LIMIT 1",
    ),
    deleteSignal: s<[number]>("DELETE FROM task_signals WHERE id = ?"),
    deleteSignals: s<[string]>("DELETE FROM task_signals WHERE task_id = ?"),
    startOver: s<[{ id: string; input: string }]>(
      "UPDATE tasks SET input = @input, checkpoint = NULL, progress = NULL, progress_seq = NULL, log_count = 0, children = 0 WHERE id = @id",
    ),
    // A restart starts with no children: the old run's are kept as tasks of their own.
    detachChildren: s<[string]>("UPDATE tasks SET parent_id = NULL, child_key = NULL WHERE parent_id = ?"),
    countQueued: s<[string], { n: number }>("SELECT count(*) AS n FROM tasks WHERE state = 'queued' AND queue = ?"),
    countOwnerQueued: s<[string, string], { n: number }>("SELECT count(*) AS n FROM tasks WHERE state = 'queued' AND queue = ? AND owner = ?"),
    countRunning: s<[string], { n: number }>("SELECT count(*) AS n FROM tasks WHERE state = 'running' AND queue = ?"),
    // A key's tasks share their tier and own limit (core/key-limits.ts): any of them stands for all.
    runningByKey: s<[string], KeyRunning>(
      "SELECT concurrency_key AS key, count(*) AS n, max(tier) AS tier, max(key_limit) AS own FROM tasks WHERE state = 'running' AND queue = ? GROUP BY concurrency_key",
    ),
    // Runnable tasks are the queued ones with a turn (core/turns.ts); delayed ones get theirs when due (promoteDue).
    // Keys at their limit are left out, so one key's backlog cannot fill the look-ahead.
    runnableForKeys: s<[{ queue: string; names: string; limit: number; full: string }], KeyedClaimRow>(
      `SELECT ${CLAIM_COLUMNS}, concurrency_key, tier, key_limit FROM tasks WHERE state = 'queued' AND queue = @queue AND turn IS NOT NULL
         AND name IN (SELECT value FROM json_each(@names)) AND concurrency_key NOT IN (SELECT value FROM json_each(@full))
       ORDER BY priority DESC, turn, seq LIMIT @limit`,
    ),
    // Rate limits (core/rate-limit.ts): the ledger of starts, the window's starts, and runnable tasks whose key has budget left.
    pruneStarts: s<[string, number]>("DELETE FROM rate_starts WHERE queue = ? AND at <= ?"),
    startsInWindow: s<[string, number], { key: string; at: number; cost: number }>("SELECT key, at, cost FROM rate_starts WHERE queue = ? AND at > ?"),
    insertStart: s<[string, string, number, number]>("INSERT INTO rate_starts(queue, key, at, cost) VALUES (?, ?, ?, ?)"),
    runnableWithinRate: s<
      [{ queue: string; names: string; limit: number; full: string; keyed: number; exhausted: string }],
      KeyedClaimRow & { rate_key: string | null; cost: number }
    >(
      `SELECT ${CLAIM_COLUMNS}, concurrency_key, tier, key_limit, rate_key, cost FROM tasks WHERE state = 'queued' AND queue = @queue AND turn IS NOT NULL AND name IN (SELECT value FROM json_each(@names))
         AND (CASE WHEN @keyed THEN coalesce(rate_key, '') ELSE '' END) NOT IN (SELECT value FROM json_each(@exhausted))
         AND concurrency_key NOT IN (SELECT value FROM json_each(@full))
       ORDER BY priority DESC, turn, seq LIMIT @limit`,
    ),
    anyRunnableOfKeys: s<[{ queue: string; names: string; keyed: number; keys: string }], { one: number }>(
      `SELECT 1 AS one FROM tasks WHERE state = 'queued' AND queue = @queue AND turn IS NOT NULL AND name IN (SELECT value FROM json_each(@names))
         AND (CASE WHEN @keyed THEN coalesce(rate_key, '') ELSE '' END) IN (SELECT value FROM json_each(@keys)) LIMIT 1`,
    ),
    promoteDue: s<[{ queue: string; now: number }]>(
      `UPDATE tasks SET turn = coalesce((SELECT min(r.turn) FROM tasks r WHERE r.state = 'queued' AND r.queue = tasks.queue
           AND r.priority = tasks.priority AND r.turn IS NOT NULL), 0)
       WHERE state = 'queued' AND queue = @queue AND turn IS NULL AND run_at <= @now`,
    ),
    keyLastTurn: s<[string, string], { t: number | null }>("SELECT max(turn) AS t FROM tasks WHERE state = 'queued' AND queue = ? AND concurrency_key = ?"),
    roundAt: s<[string, number], { t: number | null }>(
      "SELECT min(turn) AS t FROM tasks WHERE state = 'queued' AND queue = ? AND priority = ? AND turn IS NOT NULL",
    ),
    // Raw: read with claimRowOf (records.ts).
    claimBatch: raw<[{ queue: string; now: number; names: string; limit: number; worker: string; expires: number }]>(
      `UPDATE tasks SET state = 'running', attempt = attempt + 1, started_at = @now, worker_id = @worker,
         lease_token = lease_token + 1, lease_expires_at = @expires, last_seq = last_seq + 1
       WHERE seq IN (
         SELECT seq FROM tasks WHERE state = 'queued' AND queue = @queue AND turn IS NOT NULL
           AND name IN (SELECT value FROM json_each(@names))
         ORDER BY priority DESC, turn, seq LIMIT @limit)
       RETURNING ${CLAIM_COLUMNS}`,
    ),
    markRunning: s<[{ seq_row: number; now: number; worker: string; expires: number; seq: number }]>(
      `UPDATE tasks SET state = 'running', attempt = attempt + 1, started_at = @now, worker_id = @worker,
         lease_token = lease_token + 1, lease_expires_at = @expires, last_seq = @seq
       WHERE seq = @seq_row`,
    ),
    nextRunAt: s<[string, number], { at: number | null }>(
      "SELECT min(run_at) AS at FROM tasks WHERE state = 'queued' AND queue = ? AND turn IS NULL AND run_at > ?",
    ),
    // A due task not yet given its turn is placed at the front of its priority, where a claim puts it.
    position: s<[{ queue: string; priority: number; turn: number | null; seq: number }], { n: number }>(
      `SELECT count(*) AS n FROM tasks WHERE state = 'queued' AND queue = @queue AND turn IS NOT NULL
         AND (priority > @priority OR (priority = @priority AND @turn IS NOT NULL AND (turn < @turn OR (turn = @turn AND seq < @seq))))`,
    ),
    recentDuration: s<[string], { ms: number | null }>(
      `SELECT avg(finished_at - started_at) AS ms FROM
         (SELECT finished_at, started_at FROM tasks WHERE state = 'succeeded' AND queue = ? ORDER BY seq DESC LIMIT 50)`,
    ),
    steps: s<[string], { name: string; result: string }>("SELECT name, result FROM task_steps WHERE task_id = ?"),
    insertStep: s<[string, string, string, number, number]>(
      "INSERT INTO task_steps(task_id, name, result, attempt, at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
    ),
    requestCancel: s<[string]>("UPDATE tasks SET cancel_requested = 1 WHERE id = ?"),
    extendLease: s<[{ id: string; token: number; now: number; expires: number }], { cancel_requested: number }>(
      `UPDATE tasks SET lease_expires_at = @expires
       WHERE id = @id AND lease_token = @token AND state = 'running' AND lease_expires_at >= @now
       RETURNING cancel_requested`,
    ),
    setProgress: s<[{ id: string; progress: string; seq: number }]>(
      "UPDATE tasks SET progress = @progress, last_seq = @seq, progress_seq = @seq WHERE id = @id",
    ),
    deleteEvent: s<[string, number]>("DELETE FROM task_events WHERE task_id = ? AND seq = ?"),
    bumpSeq: s<[number, string]>("UPDATE tasks SET last_seq = ? WHERE id = ?"),
    setCheckpoint: s<[string, string]>("UPDATE tasks SET checkpoint = ? WHERE id = ?"),
    setTitle: s<[string, string]>("UPDATE tasks SET title = ? WHERE id = ?"),
    logCount: s<[string], { log_count: number }>("SELECT log_count FROM tasks WHERE id = ?"),
    addLog: s<[number, string]>("UPDATE tasks SET last_seq = ?, log_count = log_count + 1 WHERE id = ?"),
    // Positional and raw (the hottest write): [owner, queue, last_seq, attempt, parent_id].
    finishIfHeld: raw<[state: string, result: string | null, error: string | null, dead_letter: number, now: number, id: string, token: number, heldAt: number]>(
      `UPDATE tasks SET state = ?, result = ?, error = ?, dead_letter = ?, finished_at = ?, last_seq = last_seq + 1,
         worker_id = NULL, lease_expires_at = NULL, lease_expiries = 0
       WHERE id = ? AND lease_token = ? AND state = 'running' AND lease_expires_at >= ?
       RETURNING owner, queue, last_seq, attempt, parent_id`,
    ),
    finish: s<[{ id: string; state: string; result: string | null; error: string | null; dead_letter: number; now: number; seq: number }]>(
      `UPDATE tasks SET state = @state, result = @result, error = @error, dead_letter = @dead_letter, finished_at = @now, last_seq = @seq,
         worker_id = NULL, lease_expires_at = NULL
       WHERE id = @id`,
    ),
    // Back now: it keeps its turn (the front of its round); back later (a retry's backoff): a turn when due.
    // `lease_expiries`: one more in a row after an expiry, else 0 (core/transitions.ts, expiryDecision).
    backToQueue: s<[{ id: string; seq: number; run_at: number; now: number; error: string | null; attempt_delta: number; lease_expiries: number }]>(
      `UPDATE tasks SET state = 'queued', run_at = @run_at, turn = CASE WHEN @run_at > @now THEN NULL ELSE turn END,
         last_seq = @seq, error = @error, attempt = attempt - @attempt_delta, lease_expiries = @lease_expiries,
         worker_id = NULL, lease_expires_at = NULL
       WHERE id = @id`,
    ),
    // Scans the running index: running tasks are few (bounded by concurrency), so no index of their own.
    expired: s<[number, number], TaskRow>("SELECT * FROM tasks WHERE state = 'running' AND lease_expires_at < ? ORDER BY lease_expires_at, id LIMIT ?"),
    upsertWorker: s<[Record<string, unknown>]>(
      `INSERT INTO workers(id, host, pid, queues, started_at, heartbeat_at, running, streams, remote)
       VALUES (@id, @host, @pid, @queues, @started_at, @heartbeat_at, @running, @streams, @remote)
       ON CONFLICT(id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at, running = excluded.running, queues = excluded.queues,
         streams = excluded.streams, host = excluded.host, pid = excluded.pid, remote = excluded.remote`,
    ),
    deleteWorker: s<[string]>("DELETE FROM workers WHERE id = ?"),
    workers: s<
      [number],
      { id: string; host: string; pid: number; queues: string; started_at: number; heartbeat_at: number; running: string; streams: number | null; remote: string | null }
    >("SELECT * FROM workers WHERE heartbeat_at >= ? ORDER BY started_at, id"),
    events: s<[string, number, number], EventRow>("SELECT * FROM task_events WHERE task_id = ? AND seq > ? ORDER BY seq LIMIT ?"),
    insertEvent: s<[string, string, string, number, string, number, number, string]>(
      "INSERT INTO task_events(task_id, owner, queue, seq, kind, attempt, at, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    ),
    fireTick: s<[string, number]>(
      `INSERT INTO schedules(name, last_tick) VALUES (?, ?)
       ON CONFLICT(name) DO UPDATE SET last_tick = excluded.last_tick WHERE schedules.last_tick < excluded.last_tick`,
    ),
    finishedBefore: s<[number, string, number], { id: string }>(
      // A child is kept while its parent is unfinished: the parent, run again, finds it by key instead of running it again.
      `SELECT id FROM tasks WHERE finished_at IS NOT NULL AND finished_at < ? AND state = ? AND dead_letter = 0
         AND (parent_id IS NULL OR NOT EXISTS (SELECT 1 FROM tasks p WHERE p.id = tasks.parent_id AND p.finished_at IS NULL)) ORDER BY seq LIMIT ?`,
    ),
    deleteEvents: s<[string]>("DELETE FROM task_events WHERE task_id = ?"),
    deleteSteps: s<[string]>("DELETE FROM task_steps WHERE task_id = ?"),
    deleteTask: s<[string], { queue: string; state: TaskState }>("DELETE FROM tasks WHERE id = ? RETURNING queue, state"),
    // Finished tasks per queue and state (sqlite/finished-counts.ts): a batch's delta added once.
    addStateCount: s<[string, string, number]>(
      "INSERT INTO state_counts(queue, state, n) VALUES (?, ?, ?) ON CONFLICT (queue, state) DO UPDATE SET n = n + excluded.n",
    ),
    insertMeta: s<[string, string]>("INSERT OR IGNORE INTO outlast_meta(key, value) VALUES (?, ?)"),
    meta: s<[string], { value: string }>("SELECT value FROM outlast_meta WHERE key = ?"),
  };
}
