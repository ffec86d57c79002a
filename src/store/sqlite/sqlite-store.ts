import type { Database } from "better-sqlite3";
import { dirname, join, resolve } from "node:path";
import { OutlastError } from "../../core/errors.js";
import type { StoredEvent } from "../../core/events.js";
import type { Progress } from "../../core/progress.js";
import type { DeclarationConflict, QueueLimitsPatch, QueueSettings } from "../../core/queue-limits.js";
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
import { SqliteAdmin } from "./admin.js";
import type { DeadLetterFilter, DeadLetterSelection } from "../../core/dead-letters.js";
import { inDeadBatches, redriveFilter } from "../dead-rows.js";
import { SqliteClaims } from "./claim.js";
import { ClaimWaiters } from "./claim-waiters.js";
import { migrate, openDatabase } from "./connection.js";
import type { Durability } from "./durability.js";
import { EventFeed } from "./feed.js";
import { SqliteReads } from "./reads.js";
import { prepareStatements } from "./statements.js";
import { SqliteSubmits } from "./submit.js";
import { SqliteTx } from "./tx.js";
import { SqliteWaits } from "./waits.js";
import { SqliteWorkerKeys } from "./worker-keys.js";
import { SqliteWorkerWrites } from "./worker-writes.js";
import { WriteBatch } from "./write-batch.js";

export interface SqliteStoreOptions {
  /** Database file; `":memory:"` for a private, throwaway database. */
  path: string;
  /**
   * `"full"` (default): an acknowledged write survives a power cut.
   * `"normal"`: faster; a power cut (not a process crash) may lose the last
   * few hundred milliseconds of acknowledged writes.
   * @defaultValue "full"
   */
  durability?: Durability;
  /** How often to look for commits of other processes. @defaultValue 20 */
  pollIntervalMs?: number;
  /** Log lines kept per task; later ones are dropped. @defaultValue 1000 */
  maxLogsPerTask?: number;
  /** How long a write waits for another process's transaction. @defaultValue 10000 */
  busyTimeoutMs?: number;
}

/**
 * The embedded store: one SQLite file shared by any number of processes.
 * This class only wires the parts together: every write runs in the group
 * commit (write-batch.ts) through the same-named modules as PostgreSQL's —
 * submit, claim, worker-writes, admin over tx — and reads go to reads.
 */
export class SqliteStore implements Store {
  readonly capabilities: StoreCapabilities = { crossProcessEvents: "poll", transactionalSubmit: false, waitingClaims: true };
  /** `<folder of the file>/outlast-data`; null for an in-memory database. */
  readonly localDataDir: string | null;
  private readonly db: Database;
  private readonly batch: WriteBatch;
  private readonly feed: EventFeed;
  private info: StoreInfo | null = null;
  private closed = false;
  private readonly waiters: ClaimWaiters;
  private readonly tx: SqliteTx;
  private readonly submits: SqliteSubmits;
  private readonly claims: SqliteClaims;
  private readonly workerWrites: SqliteWorkerWrites;
  private readonly admin: SqliteAdmin;
  private readonly waits: SqliteWaits;
  private readonly reads: SqliteReads;
  private readonly workerKeys: SqliteWorkerKeys;

  constructor(options: SqliteStoreOptions) {
    if (typeof (options as Partial<SqliteStoreOptions> | undefined)?.path !== "string" || options.path.length === 0) {
      throw new OutlastError("bad_request", 'sqliteStore({ path }) needs a file path, like "./outlast.db" (":memory:" for a throwaway database)');
    }
    if (options.durability !== undefined && options.durability !== "full" && options.durability !== "normal") {
      throw new OutlastError("bad_request", `sqliteStore: durability must be "full" or "normal", not ${JSON.stringify(options.durability)}`);
    }
    this.db = openDatabase(options.path, options.durability ?? "full", options.busyTimeoutMs ?? 10_000);
    this.localDataDir = options.path === ":memory:" || options.path === "" ? null : join(dirname(resolve(options.path)), "outlast-data");
    try {
      this.info = migrate(this.db);
    } catch (error) {
      this.db.close();
      throw error;
    }
    const sql = prepareStatements(this.db);
    this.feed = new EventFeed(this.db, options.pollIntervalMs ?? 20);
    this.waiters = new ClaimWaiters((request, now) => this.claims.now(request, now));
    // Before each try at a batch, and when a batch is given up: what a try that did not commit kept is dropped.
    const rolledBack = () => {
      this.tx.appended = [];
      this.tx.dirtyParents.clear();
      this.tx.latest = -Infinity;
      this.tx.finished.clear();
      this.waiters.rolledBack();
    };
    this.batch = new WriteBatch(
      this.db,
      (queues, mode) => {
        this.waiters.committed();
        // Savepoint rollbacks may have undone some kept events, so a safe-mode batch is read back instead.
        this.feed.committed(queues, mode === "fast" ? this.tx.appended : null);
      },
      rolledBack,
      (queues, at) => {
        // Parents first: waking one may make work runnable for the claims waiting on this commit.
        this.waits.settle();
        this.waiters.tryIn(queues, at);
        this.tx.finished.write();
      },
      rolledBack,
      (ok) => (ok ? this.tx.finished.write() : this.tx.finished.clear()),
    );
    this.tx = new SqliteTx(sql, this.batch, this.feed);
    this.submits = new SqliteSubmits(this.tx);
    this.claims = new SqliteClaims(this.tx);
    this.workerWrites = new SqliteWorkerWrites(this.tx, options.maxLogsPerTask ?? 1000);
    this.waits = new SqliteWaits(this.tx, this.submits, this.workerWrites);
    this.submits.cancelTree = (id, now) => this.waits.cancelTree(id, now);
    this.admin = new SqliteAdmin(this.db, this.tx, this.submits, this.waits);
    this.reads = new SqliteReads(this.db, sql);
    this.workerKeys = new SqliteWorkerKeys(this.db);
    // Work committed by another process: waiting claims answer empty, and their workers claim again at their own time.
    this.feed.onRemoteChange = () => this.waiters.releaseAll();
  }

  async init(): Promise<StoreInfo> {
    if (!this.info) this.info = migrate(this.db);
    return this.info;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.batch.flush();
    this.waiters.releaseAll();
    this.feed.stop();
    this.db.close();
  }

  // ── tasks ─────────────────────────────────────────────────────────────

  submit(request: SubmitRequest, now: number): Promise<SubmitOutcome> {
    return this.batch.write(() => this.submits.one(request, now));
  }

  submitMany(requests: readonly SubmitRequest[], now: number): Promise<TaskRecord[]> {
    return this.batch.write(() => this.submits.allNew(requests, now));
  }

  async getTask(id: string): Promise<TaskRecord | null> {
    return this.reads.task(id);
  }

  async listTasks(filter: TaskFilter): Promise<TaskPage> {
    return this.reads.list(filter);
  }

  async queuePosition(id: string, now: number): Promise<number | null> {
    return this.reads.position(id, now);
  }

  async recentDurationMs(queue: string): Promise<number | null> {
    return this.reads.recentDurationMs(queue);
  }

  async getSteps(taskId: string): Promise<Map<string, unknown>> {
    return this.reads.steps(taskId);
  }

  cancel(id: string, now: number): Promise<CancelOutcome> {
    return this.batch.write(() => this.admin.cancel(id, now));
  }

  retry(id: string, now: number): Promise<RetryOutcome> {
    return this.batch.write(() => this.admin.retry(id, now));
  }

  // ── dead letters ──────────────────────────────────────────────────────

  async listDeadLetters(filter: DeadLetterFilter & { limit: number; cursor?: string }): Promise<TaskPage> {
    return this.reads.deadLetters(filter);
  }

  redriveDead(selection: DeadLetterSelection, now: number): Promise<number> {
    const bounded = "ids" in selection ? selection : { filter: redriveFilter(selection.filter, now) };
    return inDeadBatches(bounded, (part) => this.batch.write(() => this.admin.redriveDead(part, now)));
  }

  purgeDead(selection: DeadLetterSelection): Promise<number> {
    return inDeadBatches(selection, (part) => this.batch.write(() => this.admin.purgeDead(part)));
  }

  // ── children, groups, waits ───────────────────────────────────────────

  submitChildren(parentId: string, requests: readonly SubmitRequest[], now: number): Promise<TaskRecord[]> {
    return this.batch.write(() => this.waits.submitChildren(parentId, requests, now));
  }

  submitGroup(group: SubmitRequest, children: readonly SubmitRequest[], now: number): Promise<SubmitOutcome> {
    return this.batch.write(() => this.waits.submitGroup(group, children, now));
  }

  async children(parentId: string): Promise<TaskRecord[]> {
    return this.waits.children(parentId);
  }

  signal(taskId: string, name: string, payload: unknown, now: number): Promise<SignalOutcome> {
    return this.batch.write(() => this.waits.signal(taskId, name, payload, now));
  }

  wakeDue(now: number): Promise<number> {
    return this.batch.write(() => this.waits.wakeDue(now));
  }

  // ── workers ───────────────────────────────────────────────────────────

  claim(request: ClaimRequest, now: number): Promise<ClaimResult> {
    const wait = request.wait;
    if (!wait || wait.ms <= 0 || wait.signal?.aborted) return this.batch.write(() => this.claims.now(request, now));
    // A claim that finds nothing waits inside the store: it is tried again at
    // the end of every transaction that makes its queue's work runnable, so a
    // submit and the claim that takes it share one commit (one fsync).
    return new Promise<ClaimResult>((resolve, reject) => {
      this.batch
        .write(() => {
          const result = this.claims.now(request, now);
          if (result.tasks.length > 0 || this.closed) return result;
          this.waiters.add(request, wait, result.nextRunAt, now, resolve);
          return null;
        })
        .then((result) => result && resolve(result), reject);
    });
  }

  heartbeat(leases: readonly Lease[], now: number, leaseMs: number): Promise<HeartbeatStatus[]> {
    if (leases.length === 0) return Promise.resolve([]);
    return this.batch.write(() => this.workerWrites.heartbeat(leases, now, leaseMs));
  }

  recordProgress(lease: Lease, progress: Progress, now: number): Promise<boolean> {
    return this.batch.write(() => this.workerWrites.progress(lease, progress, now));
  }

  recordStep(lease: Lease, name: string, result: unknown, now: number): Promise<boolean> {
    return this.batch.write(() => this.workerWrites.step(lease, name, result, now));
  }

  recordCheckpoint(lease: Lease, data: unknown, now: number): Promise<boolean> {
    return this.batch.write(() => this.workerWrites.checkpoint(lease, data, now));
  }

  recordTitle(lease: Lease, title: string, now: number): Promise<boolean> {
    return this.batch.write(() => this.workerWrites.title(lease, title, now));
  }

  appendLog(lease: Lease, message: string, now: number): Promise<boolean> {
    return this.batch.write(() => this.workerWrites.log(lease, message, now));
  }

  finish(lease: Lease, outcome: FinishOutcome, now: number): Promise<boolean> {
    if (outcome.state === "waiting") return this.batch.write(() => this.waits.suspend(lease, outcome.wait, now));
    return this.batch.write(() => this.workerWrites.finish(lease, outcome, now));
  }

  release(lease: Lease, now: number): Promise<boolean> {
    return this.batch.write(() => this.workerWrites.release(lease, now));
  }

  recoverExpired(now: number, reason: string): Promise<number> {
    return this.batch.write(() => this.workerWrites.recoverExpired(now, reason));
  }

  recordWorker(worker: WorkerHeartbeat, now: number): Promise<void> {
    return this.batch.write(() => this.workerWrites.recordWorker(worker, now));
  }

  removeWorker(id: string): Promise<void> {
    return this.batch.write(() => this.workerWrites.removeWorker(id));
  }

  async listWorkers(aliveSince: number): Promise<WorkerHeartbeat[]> {
    return this.reads.workers(aliveSince);
  }

  // ── worker keys ───────────────────────────────────────────────────────

  createWorkerKey(key: WorkerKeyRecord, secretHash: string): Promise<void> {
    return this.batch.write(() => this.workerKeys.create(key, secretHash));
  }

  async listWorkerKeys(): Promise<WorkerKeyRecord[]> {
    return this.workerKeys.list();
  }

  async workerKeyByHash(secretHash: string): Promise<WorkerKeyRecord | null> {
    return this.workerKeys.findByHash(secretHash);
  }

  revokeWorkerKey(id: string, now: number): Promise<WorkerKeyRecord | null> {
    return this.batch.write(() => this.workerKeys.revokeKey(id, now));
  }

  // ── events ────────────────────────────────────────────────────────────

  async readEvents(taskId: string, afterSeq: number, limit: number): Promise<StoredEvent[]> {
    return this.reads.events(taskId, afterSeq, limit);
  }

  subscribe(listener: StoreListener): () => void {
    return this.feed.subscribe(listener);
  }

  // ── operations ────────────────────────────────────────────────────────

  declareQueue(name: string, incoming: QueueLimitsPatch, now: number): Promise<{ settings: QueueSettings; conflicts: DeclarationConflict[] }> {
    return this.batch.write(() => this.admin.declareQueue(name, incoming, now));
  }

  setQueueLimits(name: string, change: QueueLimitsPatch, reset: boolean, now: number): Promise<QueueSettings> {
    return this.batch.write(() => this.admin.setQueueLimits(name, change, reset, now));
  }

  async queueSettings(): Promise<QueueSettings[]> {
    return this.reads.queueSettings();
  }

  setQueuePaused(name: string, paused: boolean, now: number): Promise<boolean> {
    return this.batch.write(() => this.admin.setQueuePaused(name, paused, now));
  }

  async listQueues(): Promise<QueueInfo[]> {
    return this.reads.queues();
  }

  fireSchedule(schedule: string, tickAt: number, request: SubmitRequest, now: number): Promise<boolean> {
    return this.batch.write(() => this.admin.fireSchedule(schedule, tickAt, request, now));
  }

  purgeFinished(cutoffs: Partial<Record<"succeeded" | "failed" | "canceled", number>>, limit: number): Promise<number> {
    return this.batch.write(() => this.admin.purgeFinished(cutoffs, limit));
  }

  getOrCreateSecret(name: string, create: () => string): Promise<string> {
    return this.batch.write(() => this.admin.getOrCreateSecret(name, create));
  }
}
