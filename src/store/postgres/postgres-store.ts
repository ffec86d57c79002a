import { randomUUID } from "node:crypto";
import type pg from "pg";
import { pgDriver } from "./driver.js";
import type { DeclarationConflict, QueueLimitsPatch, QueueSettings } from "../../core/queue-limits.js";
import { isOutlastError, OutlastError } from "../../core/errors.js";
import type { StoredEvent } from "../../core/events.js";
import type { Progress } from "../../core/progress.js";
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
  SignalOutcome,
  Store,
  StoreCapabilities,
  StoreInfo,
  StoreListener,
  SubmitOutcome,
  SubmitRequest,
  TaskFilter,
  TaskPage,
  WorkerHeartbeat,
  WorkerKeyRecord,
} from "../store.js";
import { PgAdmin } from "./admin.js";
import type { DeadLetterFilter, DeadLetterSelection } from "../../core/dead-letters.js";
import { inDeadBatches, redriveFilter } from "../dead-rows.js";
import { PgClaims } from "./claim.js";
import { PgEventFeed } from "./feed.js";
import { migrate } from "./migrate.js";
import { PgReads } from "./reads.js";
import { checkSchemaName, isConnectionError, unavailable, type Queryable } from "./sql.js";
import { PgSubmits } from "./submit.js";
import { makeTx, type Tx } from "./tx.js";
import { PgWaits } from "./waits.js";
import { PgWorkerKeys } from "./worker-keys.js";
import { PgWorkerWrites } from "./worker-writes.js";
import { DURABLE, LAZY, seqRanges, WriteBatch, type Durability } from "./write-batch.js";

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

/**
 * The store for many machines: one PostgreSQL database, events pushed with
 * LISTEN/NOTIFY. This class only wires the parts together: writes go
 * through the group commit (write-batch.ts) to the same-named modules as
 * SQLite's — submit, claim, worker-writes, admin over tx — and reads to reads.
 */
export class PostgresStore implements Store {
  readonly capabilities: StoreCapabilities = { crossProcessEvents: "notify", transactionalSubmit: true };
  /** The schema name (unquoted). */
  readonly schema: string;
  private readonly s: string;
  private readonly pool: pg.Pool;
  private readonly ownsPool: boolean;
  private readonly batch: WriteBatch;
  private readonly feed: PgEventFeed;
  private readonly reads: PgReads;
  private readonly submits: PgSubmits;
  private readonly claims: PgClaims;
  private readonly workerWrites: PgWorkerWrites;
  private readonly admin: PgAdmin;
  private readonly waits: PgWaits;
  private readonly workerKeys: PgWorkerKeys;
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
    this.reads = new PgReads(this.s);
    this.submits = new PgSubmits(this.s, this.reads);
    this.claims = new PgClaims(this.s);
    this.workerWrites = new PgWorkerWrites(this.s);
    this.workerKeys = new PgWorkerKeys(this.s);
    this.waits = new PgWaits(this.s, this.submits, this.workerWrites);
    this.submits.cancelTree = (tx, id, now, locked) => this.waits.cancelTree(tx, id, now, locked);
    this.admin = new PgAdmin(this.s, this.submits, this.waits, this.claims);
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
      // Parents whose children changed, in the transaction that changed them (waits.ts).
      (tx) => this.waits.settle(tx),
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
    const tx = makeTx(
      client,
      (event) => void events.push(event),
      (queue) => void touched.add(queue),
    );
    const outcome = await this.submits.one(tx, request, now);
    // A resumed task's children run again too: their parent is settled in the same transaction.
    if (tx.dirtyParents.size > 0) await this.waits.settle(tx);
    // Delivered at the application's COMMIT, and never if it rolls back.
    const notify = "SELECT pg_notify($1, pg_current_xact_id()::text || ' ' || $2)";
    const ranges = [...seqRanges(events)].map(([taskId, [first, last]]) => [taskId, first, last]);
    if (ranges.length > 0) await client.query(notify, [this.eventsChannel, JSON.stringify({ e: ranges })]);
    if (touched.size > 0) await client.query(notify, [this.wakeChannel, JSON.stringify({ q: [...touched] })]);
    return outcome;
  }

  // ── tasks ─────────────────────────────────────────────────────────────

  private readonly submitBulk = {
    run: (tx: Tx, args: readonly { request: SubmitRequest; now: number }[]) => this.submits.many(tx, args),
    durability: DURABLE,
  };

  submit(request: SubmitRequest, now: number): Promise<SubmitOutcome> {
    return this.ready(() => this.batch.bulk(this.submitBulk, request.id, { request, now }));
  }

  submitMany(requests: readonly SubmitRequest[], now: number): Promise<TaskRecord[]> {
    return this.write((tx) => this.submits.allNew(tx, requests, now));
  }

  getTask(id: string): Promise<TaskRecord | null> {
    return this.read((db) => this.reads.task(db, id));
  }

  listTasks(filter: TaskFilter): Promise<TaskPage> {
    return this.read((db) => this.reads.list(db, filter));
  }

  queuePosition(id: string, now: number): Promise<number | null> {
    return this.read((db) => this.reads.position(db, id, now));
  }

  recentDurationMs(queue: string): Promise<number | null> {
    return this.read((db) => this.reads.recentDurationMs(db, queue));
  }

  getSteps(taskId: string): Promise<Map<string, unknown>> {
    return this.read((db) => this.reads.steps(db, taskId));
  }

  listDeadLetters(filter: DeadLetterFilter & { limit: number; cursor?: string }): Promise<TaskPage> {
    return this.read((db) => this.reads.deadLetters(db, filter));
  }

  redriveDead(selection: DeadLetterSelection, now: number): Promise<number> {
    const bounded = "ids" in selection ? selection : { filter: redriveFilter(selection.filter, now) };
    return inDeadBatches(bounded, (part) => this.write((tx) => this.admin.redriveDead(tx, part, now)));
  }

  purgeDead(selection: DeadLetterSelection): Promise<number> {
    return inDeadBatches(selection, (part) => this.write((tx) => this.admin.purgeDead(tx, part)));
  }

  cancel(id: string, now: number): Promise<CancelOutcome> {
    return this.write((tx) => this.admin.cancel(tx, id, now));
  }

  retry(id: string, now: number): Promise<RetryOutcome> {
    return this.write((tx) => this.admin.retry(tx, id, now));
  }

  // ── children, groups, waits ───────────────────────────────────────────

  submitChildren(parentId: string, requests: readonly SubmitRequest[], now: number): Promise<TaskRecord[]> {
    return this.write((tx) => this.waits.submitChildren(tx, parentId, requests, now));
  }

  submitGroup(group: SubmitRequest, children: readonly SubmitRequest[], now: number): Promise<SubmitOutcome> {
    return this.write((tx) => this.waits.submitGroup(tx, group, children, now));
  }

  children(parentId: string): Promise<TaskRecord[]> {
    return this.read((db) => this.reads.children(db, parentId));
  }

  signal(taskId: string, name: string, payload: unknown, now: number): Promise<SignalOutcome> {
    return this.write((tx) => this.waits.signal(tx, taskId, name, payload, now));
  }

  wakeDue(now: number): Promise<number> {
    return this.write((tx) => this.waits.wakeDue(tx, now));
  }

  // ── workers ───────────────────────────────────────────────────────────

  claim(request: ClaimRequest, now: number): Promise<ClaimResult> {
    if (request.limit <= 0 || request.names.length === 0) return this.ready(async () => ({ tasks: [], nextRunAt: null }));
    return this.write((tx) => this.claims.claim(tx, request, now), LAZY);
  }

  heartbeat(leases: readonly Lease[], now: number, leaseMs: number): Promise<HeartbeatStatus[]> {
    if (leases.length === 0) return Promise.resolve([]);
    return this.write((tx) => this.workerWrites.heartbeat(tx, leases, now, leaseMs), LAZY);
  }

  recordProgress(lease: Lease, progress: Progress, now: number): Promise<boolean> {
    return this.ready(() => this.batch.bulk(this.workerWrites.progress, lease.taskId, { lease, progress, now }));
  }

  recordStep(lease: Lease, name: string, result: unknown, now: number): Promise<boolean> {
    return this.write((tx) => this.workerWrites.step(tx, lease, name, result, now));
  }

  recordCheckpoint(lease: Lease, data: unknown, now: number): Promise<boolean> {
    return this.write((tx) => this.workerWrites.checkpoint(tx, lease, data, now));
  }

  recordTitle(lease: Lease, title: string, now: number): Promise<boolean> {
    return this.write((tx) => this.workerWrites.title(tx, lease, title, now));
  }

  appendLog(lease: Lease, message: string, now: number): Promise<boolean> {
    return this.write((tx) => this.workerWrites.log(tx, lease, message, now, this.maxLogsPerTask));
  }

  finish(lease: Lease, outcome: FinishOutcome, now: number): Promise<boolean> {
    if (outcome.state === "waiting") return this.write((tx) => this.waits.suspend(tx, lease, outcome.wait, now));
    return this.ready(() => this.batch.bulk(this.workerWrites.finish, lease.taskId, { lease, outcome, now }));
  }

  release(lease: Lease, now: number): Promise<boolean> {
    return this.write((tx) => this.workerWrites.release(tx, lease, now));
  }

  recoverExpired(now: number, reason: string): Promise<number> {
    return this.write((tx) => this.workerWrites.recoverExpired(tx, now, reason));
  }

  recordWorker(worker: WorkerHeartbeat, now: number): Promise<void> {
    return this.write((tx) => this.workerWrites.recordWorker(tx, worker, now), LAZY);
  }

  removeWorker(id: string): Promise<void> {
    return this.write((tx) => this.workerWrites.removeWorker(tx, id));
  }

  listWorkers(aliveSince: number): Promise<WorkerHeartbeat[]> {
    return this.read((db) => this.reads.workers(db, aliveSince));
  }

  // ── worker keys ───────────────────────────────────────────────────────

  createWorkerKey(key: WorkerKeyRecord, secretHash: string): Promise<void> {
    return this.write((tx) => this.workerKeys.create(tx.db, key, secretHash));
  }

  listWorkerKeys(): Promise<WorkerKeyRecord[]> {
    return this.read((db) => this.workerKeys.list(db));
  }

  workerKeyByHash(secretHash: string): Promise<WorkerKeyRecord | null> {
    return this.read((db) => this.workerKeys.findByHash(db, secretHash));
  }

  revokeWorkerKey(id: string, now: number): Promise<WorkerKeyRecord | null> {
    return this.write((tx) => this.workerKeys.revoke(tx.db, id, now));
  }

  // ── events ────────────────────────────────────────────────────────────

  readEvents(taskId: string, afterSeq: number, limit: number): Promise<StoredEvent[]> {
    return this.read((db) => this.reads.events(db, taskId, afterSeq, limit));
  }

  subscribe(listener: StoreListener): () => void {
    if (this.closed) return () => {};
    return this.feed.subscribe(listener);
  }

  // ── operations ────────────────────────────────────────────────────────

  declareQueue(name: string, incoming: QueueLimitsPatch, now: number): Promise<{ settings: QueueSettings; conflicts: DeclarationConflict[] }> {
    return this.write((tx) => this.admin.declareQueue(tx, name, incoming, now));
  }

  setQueueLimits(name: string, change: QueueLimitsPatch, reset: boolean, now: number): Promise<QueueSettings> {
    return this.write((tx) => this.admin.setQueueLimits(tx, name, change, reset, now));
  }

  async queueSettings(): Promise<QueueSettings[]> {
    const settings = await this.read((db) => this.reads.queueSettings(db));
    this.admin.noteLimits(settings);
    return settings;
  }

  setQueuePaused(name: string, paused: boolean, now: number): Promise<boolean> {
    return this.write((tx) => this.admin.setQueuePaused(tx, name, paused, now));
  }

  listQueues(): Promise<QueueInfo[]> {
    return this.read((db) => this.reads.queues(db));
  }

  fireSchedule(schedule: string, tickAt: number, request: SubmitRequest, now: number): Promise<boolean> {
    return this.write((tx) => this.admin.fireSchedule(tx, schedule, tickAt, request, now));
  }

  purgeFinished(cutoffs: Partial<Record<"succeeded" | "failed" | "canceled", number>>, limit: number): Promise<number> {
    return this.write((tx) => this.admin.purgeFinished(tx, cutoffs, limit));
  }

  getOrCreateSecret(name: string, create: () => string): Promise<string> {
    return this.write((tx) => this.admin.getOrCreateSecret(tx, name, create));
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
