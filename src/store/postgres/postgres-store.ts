import { randomUUID } from "node:crypto";
import type pg from "pg";
import { pgDriver } from "./driver.js";
import * as limits from "../../core/queue-limits.js";
import type { DeclarationConflict, QueueLimitsPatch, QueueSettings, StoredPatches } from "../../core/queue-limits.js";
import { isOutlastError, OutlastError, QueueFullError } from "../../core/errors.js";
import type { StoredEvent } from "../../core/events.js";
import type { Progress } from "../../core/progress.js";
import { TASK_STATES, type TaskState } from "../../core/states.js";
import type { TaskRecord } from "../../core/task.js";
import type {
  CancelOutcome,
  ClaimRequest,
  ClaimResult,
  FinishOutcome,
  HeartbeatStatus,
  Lease,
  QueueInfo,
  RetryOutcome,
  Store,
  StoreCapabilities,
  StoreInfo,
  StoreListener,
  SubmitOutcome,
  SubmitRequest,
  TaskFilter,
  TaskPage,
  WorkerHeartbeat,
} from "../store.js";
import { checkNew } from "../additions.js";
import { PgEventFeed } from "./feed.js";
import { migrate } from "./migrate.js";
import { decode, rowToEvent, rowToTask, type EventRow, type TaskRow } from "./rows.js";
import { checkSchemaName, isConnectionError, rows, unavailable, type Queryable } from "./sql.js";
import { SubmitSql } from "./submit.js";
import { WorkerSql } from "./worker-sql.js";
import { DURABLE, LAZY, seqRanges, WriteBatch, type Durability, type Tx } from "./write-batch.js";

interface CommonOptions {
  /** Schema that holds Outlast's tables; several apps can share a database with different schemas. @defaultValue "outlast" */
  schema?: string;
  /** Log lines kept per task; later ones are dropped. @defaultValue 1000 */
  maxLogsPerTask?: number;
  /** How often the event feed records its catch-up point. @defaultValue 1000 */
  pollIntervalMs?: number;
  /**
   * Write transactions in flight at once; writes arriving meanwhile join the next one.
   * @defaultValue 4
   */
  maxWritesInFlight?: number;
  /** Told about connection trouble the store recovers from on its own (a dropped LISTEN connection, idle client errors). */
  onError?: (error: unknown) => void;
}

/** Connect with a connection string; the store owns its pool and closes it. */
export interface PostgresConnectionOptions extends CommonOptions {
  connectionString: string;
  /** Pool size. @defaultValue 10 */
  maxConnections?: number;
}

/** Use the application's pool; `close()` leaves it open. One connection is held for LISTEN while anyone subscribes. */
export interface PostgresPoolOptions extends CommonOptions {
  pool: pg.Pool;
}

export type PostgresStoreOptions = PostgresConnectionOptions | PostgresPoolOptions;

/** The store for many machines: one PostgreSQL database, events pushed with LISTEN/NOTIFY. */
export class PostgresStore implements Store {
  readonly capabilities: StoreCapabilities = { crossProcessEvents: "notify", transactionalSubmit: true };
  /** The schema name (unquoted). */
  readonly schema: string;
  private readonly s: string;
  private readonly pool: pg.Pool;
  private readonly ownsPool: boolean;
  private readonly batch: WriteBatch;
  private readonly feed: PgEventFeed;
  private readonly submits: SubmitSql;
  private readonly workers: WorkerSql;
  private readonly maxLogsPerTask: number;
  private readonly onError: (error: unknown) => void;
  private readonly poolErrorHandler: (error: Error) => void;
  private readonly eventsChannel: string;
  private readonly wakeChannel: string;
  private info: Promise<StoreInfo> | null = null;
  private closed: Promise<void> | null = null;

  constructor(options: PostgresStoreOptions) {
    this.schema = checkSchemaName(options.schema ?? "outlast");
    this.s = `"${this.schema}"`;
    this.onError = options.onError ?? (() => {});
    if ("pool" in options) {
      this.pool = options.pool;
      this.ownsPool = false;
    } else {
      this.pool = new (pgDriver().Pool)({
        connectionString: options.connectionString,
        max: options.maxConnections ?? 10,
        connectionTimeoutMillis: 10_000,
        keepAlive: true,
      });
      this.ownsPool = true;
    }
    // An idle client that loses its connection (server restart) emits on the
    // pool; without a listener that would crash the process.
    this.poolErrorHandler = (error) => this.onError(error);
    this.pool.on("error", this.poolErrorHandler);
    // A client is without any error listener between the pool handing it
    // to a waiting caller and that caller's code running; a server goodbye
    // (57P01) parsed in that moment would be an unhandled 'error' that ends
    // the process. Every client keeps this one; failures still reach the
    // query in flight or the pool's idle handler.
    this.pool.on("connect", (client) => client.on("error", ignoreClientError));
    this.maxLogsPerTask = options.maxLogsPerTask ?? 1000;
    this.eventsChannel = `${this.schema}.events`;
    this.wakeChannel = `${this.schema}.wake`;
    const nodeId = randomUUID();
    this.submits = new SubmitSql(this.s);
    this.workers = new WorkerSql(this.s);
    this.feed = new PgEventFeed({
      pool: this.pool,
      schema: this.s,
      eventsChannel: this.eventsChannel,
      wakeChannel: this.wakeChannel,
      nodeId,
      pollIntervalMs: options.pollIntervalMs ?? 1000,
      ownCommits: () => this.batch.announced(),
      onError: this.onError,
    });
    this.batch = new WriteBatch(
      this.pool,
      { eventsChannel: this.eventsChannel, wakeChannel: this.wakeChannel, nodeId },
      Math.max(1, options.maxWritesInFlight ?? 4),
      () => this.feed.ready(),
      (queues, events) => this.feed.committed(queues, events),
    );
  }

  init(): Promise<StoreInfo> {
    this.info ??= migrate(this.pool, this.schema).catch((error: unknown) => {
      this.info = null;
      throw isConnectionError(error) ? unavailable(error) : error;
    });
    return this.info;
  }

  close(): Promise<void> {
    this.closed ??= (async () => {
      await this.batch.drain();
      this.batch.close();
      await this.feed.stop();
      this.pool.off("error", this.poolErrorHandler);
      if (this.ownsPool) {
        this.pool.on("error", () => {});
        await this.pool.end();
      }
    })();
    return this.closed;
  }

  // ── transactional submit ──────────────────────────────────────────────

  /**
   * Submit inside the application's own transaction: the task exists only if
   * that transaction commits, and listeners hear of it at that commit.
   * `client` must be in a transaction the caller opened (BEGIN) and will end.
   * @example
   * await client.query("BEGIN");
   * await client.query("INSERT INTO orders …");
   * await store.submitInTransaction(client, request, Date.now());
   * await client.query("COMMIT");
   */
  async submitInTransaction(client: Queryable, request: SubmitRequest, now: number): Promise<SubmitOutcome> {
    await this.init();
    const events: StoredEvent[] = [];
    const touched = new Set<string>();
    const tx: Tx = {
      db: client,
      memo: new Map(),
      event: (event) => void events.push(event),
      touch: (queue) => void touched.add(queue),
    };
    const outcome = await this.submits.one(tx, request, now);
    // Delivered at the application's COMMIT, and never if it rolls back.
    const notify = "SELECT pg_notify($1, pg_current_xact_id()::text || ' ' || $2)";
    const ranges = [...seqRanges(events)].map(([taskId, [first, last]]) => [taskId, first, last]);
    if (ranges.length > 0) await client.query(notify, [this.eventsChannel, JSON.stringify({ e: ranges })]);
    if (touched.size > 0) await client.query(notify, [this.wakeChannel, JSON.stringify({ q: [...touched] })]);
    return outcome;
  }

  // ── queues ────────────────────────────────────────────────────────────

  declareQueue(name: string, incoming: QueueLimitsPatch, now: number): Promise<{ settings: QueueSettings; conflicts: DeclarationConflict[] }> {
    return this.write(async (tx) => {
      await this.ensureQueue(tx, name, now);
      const row = (await this.lockQueue(tx, name))!;
      const next = limits.applyDeclaration(patchesOf(row), incoming);
      return { settings: await this.writeLimits(tx, row, next, now), conflicts: next.conflicts };
    });
  }

  setQueueLimits(name: string, change: QueueLimitsPatch, reset: boolean, now: number): Promise<QueueSettings> {
    return this.write(async (tx) => {
      await this.ensureQueue(tx, name, now);
      const row = (await this.lockQueue(tx, name))!;
      return this.writeLimits(tx, row, limits.applyOverride(patchesOf(row), change, reset), now);
    });
  }

  async queueSettings(): Promise<QueueSettings[]> {
    const found = await this.read((db) => rows<QueueSettingsRow>(db, `SELECT * FROM ${this.s}.queues`));
    const settings = found.map(settingsOf).sort(limits.byName);
    // Claims skip the queue-row lock for queues they believe unlimited: a limit set since must reach them.
    for (const queue of settings) {
      if (queue.paused || queue.limits.concurrency !== null || queue.limits.ownerConcurrency !== null) this.workers.limited.add(queue.name);
    }
    return settings;
  }

  private async ensureQueue(tx: Tx, name: string, now: number): Promise<void> {
    await rows(tx.db, `INSERT INTO ${this.s}.queues(name, concurrency, paused, updated_at) VALUES ($1, $2, false, $3) ON CONFLICT DO NOTHING`, [
      name,
      limits.DEFAULT_QUEUE_LIMITS.concurrency,
      now,
    ]);
  }

  private async lockQueue(tx: Tx, name: string): Promise<QueueSettingsRow | undefined> {
    const [row] = await rows<QueueSettingsRow>(tx.db, `SELECT * FROM ${this.s}.queues WHERE name = $1 FOR UPDATE`, [name]);
    return row;
  }

  private async writeLimits(tx: Tx, row: QueueSettingsRow, next: StoredPatches & { limits: limits.QueueLimits }, now: number): Promise<QueueSettings> {
    const applied = next.limits;
    await rows(
      tx.db,
      `UPDATE ${this.s}.queues SET concurrency = $2, max_queued = $3, owner_concurrency = $4, owner_max_queued = $5,
         declared = $6, overrides = $7, updated_at = $8 WHERE name = $1`,
      [row.name, applied.concurrency, applied.maxQueued, applied.ownerConcurrency, applied.ownerMaxQueued, JSON.stringify(next.declared), JSON.stringify(next.overrides), now],
    );
    if (applied.concurrency !== null || applied.ownerConcurrency !== null) this.workers.limited.add(row.name);
    // Raised limits may make waiting work runnable.
    tx.touch(row.name);
    return { name: row.name, paused: row.paused, limits: applied, declared: next.declared, overrides: next.overrides };
  }

  setQueuePaused(name: string, paused: boolean, now: number): Promise<boolean> {
    return this.write(async (tx) => {
      await this.ensureQueue(tx, name, now);
      const changed = await rows(
        tx.db,
        `UPDATE ${this.s}.queues SET paused = $2, updated_at = $3 WHERE name = $1 AND paused <> $2 RETURNING name`,
        [name, paused, now],
      );
      if (!paused) tx.touch(name);
      return changed.length === 1;
    });
  }

  async listQueues(): Promise<QueueInfo[]> {
    const queues = new Map<string, QueueInfo>();
    const blank = (name: string): QueueInfo => ({
      name,
      concurrency: null,
      maxQueued: null,
      ownerConcurrency: null,
      ownerMaxQueued: null,
      paused: false,
      overrides: {},
      counts: Object.fromEntries(TASK_STATES.map((s) => [s, 0])) as Record<TaskState, number>,
    });
    type QueueRow = QueueSettingsRow;
    const [configs, counts] = await this.read((db) =>
      Promise.all([
        rows<QueueRow>(db, `SELECT * FROM ${this.s}.queues`),
        rows<{ queue: string; state: TaskState; n: number }>(db, `SELECT queue, state, count(*) AS n FROM ${this.s}.tasks GROUP BY queue, state`),
      ]),
    );
    for (const row of configs) {
      queues.set(row.name, {
        ...blank(row.name),
        concurrency: row.concurrency,
        maxQueued: row.max_queued,
        ownerConcurrency: row.owner_concurrency,
        ownerMaxQueued: row.owner_max_queued,
        paused: row.paused,
        overrides: limits.readPatch(row.overrides),
      });
    }
    for (const row of counts) {
      let queue = queues.get(row.queue);
      if (!queue) queues.set(row.queue, (queue = blank(row.queue)));
      queue.counts[row.state] = row.n;
    }
    return [...queues.values()].sort(limits.byName);
  }

  // ── submitting and reading ────────────────────────────────────────────

  private readonly submitBulk = {
    run: (tx: Tx, args: readonly { request: SubmitRequest; now: number }[]) => this.submits.many(tx, args),
    durability: DURABLE,
  };

  submit(request: SubmitRequest, now: number): Promise<SubmitOutcome> {
    return this.ready(() => this.batch.bulk(this.submitBulk, request.id, { request, now }));
  }

  async submitMany(requests: readonly SubmitRequest[], now: number): Promise<TaskRecord[]> {
    for (const request of requests) checkNew(request);
    return this.write((tx) => this.submits.allNew(tx, requests, now));
  }

  async getTask(id: string): Promise<TaskRecord | null> {
    const [row] = await this.read((db) => rows<TaskRow>(db, `SELECT * FROM ${this.s}.tasks WHERE id = $1`, [id], `outlast:${this.s}:get`));
    return row ? rowToTask(row) : null;
  }

  async listTasks(filter: TaskFilter): Promise<TaskPage> {
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (sql: string, value: unknown) => {
      params.push(value);
      where.push(sql.replace("?", `$${params.length}`));
    };
    if (filter.owner !== undefined) add("owner = ?", filter.owner);
    if (filter.state !== undefined) add("state = ?", filter.state);
    if (filter.queue !== undefined) add("queue = ?", filter.queue);
    if (filter.name !== undefined) add("name = ?", filter.name);
    if (filter.cursor !== undefined) {
      const before = Number.parseInt(filter.cursor, 36);
      if (Number.isSafeInteger(before)) add("seq < ?", before);
    }
    const limit = Math.max(1, Math.min(1000, filter.limit));
    params.push(limit + 1);
    const sql = `SELECT * FROM ${this.s}.tasks ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY seq DESC LIMIT $${params.length}`;
    const found = await this.read((db) => rows<TaskRow>(db, sql, params));
    const page = found.slice(0, limit);
    const last = page[page.length - 1];
    return { tasks: page.map(rowToTask), nextCursor: found.length > limit && last ? last.seq.toString(36) : null };
  }

  async queuePosition(id: string, now: number): Promise<number | null> {
    const [row] = await this.read((db) =>
      rows<{ n: number | null }>(
        db,
        `SELECT (SELECT count(*) FROM ${this.s}.tasks o WHERE o.state = 'queued' AND o.queue = t.queue AND o.run_at <= $2
                 AND (o.priority > t.priority OR (o.priority = t.priority AND (o.run_at < t.run_at OR (o.run_at = t.run_at AND o.seq < t.seq))))) AS n
         FROM ${this.s}.tasks t WHERE t.id = $1 AND t.state = 'queued' AND t.run_at <= $2`,
        [id, now],
      ),
    );
    return row && row.n !== null ? row.n + 1 : null;
  }

  recentDurationMs(queue: string): Promise<number | null> {
    return this.read((db) => this.submits.recentDuration({ db }, queue));
  }

  async getSteps(taskId: string): Promise<Map<string, unknown>> {
    const found = await this.read((db) => rows<{ name: string; result: string }>(db, `SELECT name, result FROM ${this.s}.task_steps WHERE task_id = $1`, [taskId]));
    return new Map(found.map((row) => [row.name, decode(row.result)]));
  }

  // ── operator actions ──────────────────────────────────────────────────

  cancel(id: string, now: number): Promise<CancelOutcome> {
    return this.write(async (tx): Promise<CancelOutcome> => {
      const [row] = await rows<TaskRow>(tx.db, `SELECT * FROM ${this.s}.tasks WHERE id = $1 FOR UPDATE`, [id]);
      if (!row) return { kind: "missing" };
      if (row.state === "queued") {
        const updated = await this.workers.finishRow(tx, row, "canceled", null, null, now);
        tx.touch(row.queue);
        return { kind: "canceled", task: rowToTask(updated) };
      }
      if (row.state === "running") {
        await rows(tx.db, `UPDATE ${this.s}.tasks SET cancel_requested = true WHERE id = $1`, [id]);
        return { kind: "requested", task: rowToTask({ ...row, cancel_requested: true }) };
      }
      return { kind: "final", task: rowToTask(row) };
    });
  }

  retry(id: string, now: number): Promise<RetryOutcome> {
    return this.write(async (tx): Promise<RetryOutcome> => {
      const [row] = await rows<TaskRow>(tx.db, `SELECT * FROM ${this.s}.tasks WHERE id = $1 FOR UPDATE`, [id]);
      if (!row) return { kind: "missing" };
      if (row.state !== "failed" && row.state !== "canceled") return { kind: "conflict", task: rowToTask(row) };
      return { kind: "retried", task: rowToTask(await this.submits.requeue(tx, row, now, "retry")) };
    });
  }

  // ── workers ───────────────────────────────────────────────────────────

  claim(request: ClaimRequest, now: number): Promise<ClaimResult> {
    if (request.limit <= 0 || request.names.length === 0) return this.ready(async () => ({ tasks: [], nextRunAt: null }));
    return this.write((tx) => this.workers.claim(tx, request, now), LAZY);
  }

  heartbeat(leases: readonly Lease[], now: number, leaseMs: number): Promise<HeartbeatStatus[]> {
    if (leases.length === 0) return Promise.resolve([]);
    return this.write((tx) => this.workers.heartbeat(tx, leases, now, leaseMs), LAZY);
  }

  recordProgress(lease: Lease, progress: Progress, now: number): Promise<boolean> {
    return this.ready(() => this.batch.bulk(this.workers.progress, lease.taskId, { lease, progress, now }));
  }

  recordStep(lease: Lease, name: string, result: unknown, now: number): Promise<boolean> {
    return this.write((tx) => this.workers.step(tx, lease, name, result, now));
  }

  recordCheckpoint(lease: Lease, data: unknown, now: number): Promise<boolean> {
    return this.write((tx) => this.workers.checkpoint(tx, lease, data, now));
  }

  appendLog(lease: Lease, message: string, now: number): Promise<boolean> {
    return this.write((tx) => this.workers.log(tx, lease, message, now, this.maxLogsPerTask));
  }

  finish(lease: Lease, outcome: FinishOutcome, now: number): Promise<boolean> {
    return this.ready(() => this.batch.bulk(this.workers.finish, lease.taskId, { lease, outcome, now }));
  }

  release(lease: Lease, now: number): Promise<boolean> {
    return this.write((tx) => this.workers.release(tx, lease, now));
  }

  recoverExpired(now: number, reason: string): Promise<number> {
    return this.write((tx) => this.workers.recoverExpired(tx, now, reason));
  }

  recordWorker(worker: WorkerHeartbeat, now: number): Promise<void> {
    return this.write(async (tx) => {
      await rows(
        tx.db,
        `INSERT INTO ${this.s}.workers(id, host, pid, queues, started_at, heartbeat_at, running, streams) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at, running = excluded.running, queues = excluded.queues,
           streams = excluded.streams`,
        [worker.id, worker.host, worker.pid, JSON.stringify(worker.queues), worker.startedAt, now, JSON.stringify(worker.running), worker.streams],
      );
    }, LAZY);
  }

  removeWorker(id: string): Promise<void> {
    return this.write(async (tx) => {
      await rows(tx.db, `DELETE FROM ${this.s}.workers WHERE id = $1`, [id]);
    });
  }

  async listWorkers(aliveSince: number): Promise<WorkerHeartbeat[]> {
    type WorkerRow = {
      id: string;
      host: string;
      pid: number;
      queues: string;
      started_at: number;
      heartbeat_at: number;
      running: string;
      streams: number | null;
    };
    const found = await this.read((db) =>
      rows<WorkerRow>(db, `SELECT * FROM ${this.s}.workers WHERE heartbeat_at >= $1 ORDER BY started_at, id`, [aliveSince]),
    );
    return found.map((row) => ({
      id: row.id,
      host: row.host,
      pid: row.pid,
      queues: JSON.parse(row.queues) as string[],
      startedAt: row.started_at,
      heartbeatAt: row.heartbeat_at,
      running: JSON.parse(row.running) as string[],
      streams: row.streams,
    }));
  }

  // ── events ────────────────────────────────────────────────────────────

  async readEvents(taskId: string, afterSeq: number, limit: number): Promise<StoredEvent[]> {
    const found = await this.read((db) =>
      rows<EventRow>(
        db,
        `SELECT task_id, owner, queue, seq, attempt, at, data FROM ${this.s}.task_events WHERE task_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`,
        [taskId, afterSeq, Math.max(0, Math.floor(limit))],
        `outlast:${this.s}:events`,
      ),
    );
    return found.map(rowToEvent);
  }

  subscribe(listener: StoreListener): () => void {
    if (this.closed) return () => {};
    return this.feed.subscribe(listener);
  }

  // ── schedules, retention, secrets ─────────────────────────────────────

  fireSchedule(schedule: string, tickAt: number, request: SubmitRequest, now: number): Promise<boolean> {
    return this.write(async (tx) => {
      const fired = await rows(
        tx.db,
        `INSERT INTO ${this.s}.schedules(name, last_tick) VALUES ($1, $2)
         ON CONFLICT (name) DO UPDATE SET last_tick = excluded.last_tick WHERE schedules.last_tick < excluded.last_tick
         RETURNING name`,
        [schedule, tickAt],
      );
      if (fired.length === 0) return false;
      try {
        await this.submits.one(tx, request, now);
      } catch (error) {
        // A full queue skips this tick; the tick still counts as fired so no process retries it.
        if (!(error instanceof QueueFullError)) throw error;
      }
      return true;
    });
  }

  purgeFinished(cutoffs: Partial<Record<"succeeded" | "failed" | "canceled", number>>, limit: number): Promise<number> {
    return this.write(async (tx) => {
      let removed = 0;
      for (const [state, before] of Object.entries(cutoffs)) {
        if (before === undefined || removed >= limit) continue;
        const gone = await rows(
          tx.db,
          `WITH doomed AS (
             SELECT id FROM ${this.s}.tasks WHERE finished_at IS NOT NULL AND finished_at < $1 AND state = $2 LIMIT $3 FOR UPDATE SKIP LOCKED
           ), e AS (
             DELETE FROM ${this.s}.task_events WHERE task_id IN (SELECT id FROM doomed)
           ), st AS (
             DELETE FROM ${this.s}.task_steps WHERE task_id IN (SELECT id FROM doomed)
           )
           DELETE FROM ${this.s}.tasks WHERE id IN (SELECT id FROM doomed) RETURNING id`,
          [before, state, limit - removed],
        );
        removed += gone.length;
      }
      return removed;
    });
  }

  getOrCreateSecret(name: string, create: () => string): Promise<string> {
    return this.write(async (tx) => {
      const key = `secret:${name}`;
      await rows(tx.db, `INSERT INTO ${this.s}.outlast_meta(key, value) VALUES ($1, $2) ON CONFLICT DO NOTHING`, [key, create()]);
      // A new statement sees a value another node committed meanwhile.
      const [row] = await rows<{ value: string }>(tx.db, `SELECT value FROM ${this.s}.outlast_meta WHERE key = $1`, [key]);
      return row!.value;
    });
  }

  // ── helpers ───────────────────────────────────────────────────────────

  private write<T>(run: (tx: Tx) => Promise<T>, durability: Durability = DURABLE): Promise<T> {
    return this.ready(() => this.batch.write(run, durability));
  }

  /** Run after init (so a fresh database is migrated first) and not after close. */
  private async ready<T>(run: () => Promise<T>): Promise<T> {
    if (this.closed) throw new OutlastError("unavailable", "This PostgreSQL store is closed");
    await this.init();
    return run();
  }

  private async read<T>(run: (db: Queryable) => Promise<T>): Promise<T> {
    return this.ready(async () => {
      try {
        return await run(this.pool);
      } catch (error) {
        if (isConnectionError(error) && !isOutlastError(error)) throw unavailable(error);
        throw error;
      }
    });
  }
}

function ignoreClientError(): void {}

type QueueSettingsRow = {
  name: string;
  concurrency: number | null;
  max_queued: number | null;
  owner_concurrency: number | null;
  owner_max_queued: number | null;
  paused: boolean;
  declared: unknown;
  overrides: unknown;
};

function patchesOf(row: QueueSettingsRow): StoredPatches {
  return { declared: limits.readPatch(row.declared), overrides: limits.readPatch(row.overrides) };
}

function settingsOf(row: QueueSettingsRow): QueueSettings {
  return {
    name: row.name,
    paused: row.paused,
    limits: { concurrency: row.concurrency, maxQueued: row.max_queued, ownerConcurrency: row.owner_concurrency, ownerMaxQueued: row.owner_max_queued },
    ...patchesOf(row),
  };
}
