import type { Database } from "better-sqlite3";
import { dirname, join, resolve } from "node:path";
import { OutlastError, QueueFullError } from "../../core/errors.js";
import * as limits from "../../core/queue-limits.js";
import type { DeclarationConflict, QueueLimitsPatch, QueueSettings, StoredPatches } from "../../core/queue-limits.js";
import type { StateReason, StoredEvent, TaskEventData } from "../../core/events.js";
import type { Progress } from "../../core/progress.js";
import { TASK_STATES, type TaskState } from "../../core/states.js";
import type { TaskError, TaskRecord } from "../../core/task.js";
import type {
  CancelOutcome,
  ClaimedTask,
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
import { EXPIRY_BATCH } from "../store.js";
import { migrate, openDatabase } from "./connection.js";
import type { Durability } from "./durability.js";
import { EventFeed, type LocalEvent } from "./feed.js";
import { additionsByQueue, checkNew } from "../additions.js";
import { firstQueuedEvent } from "../task-row.js";
import { decode, encode, rowToEvent, rowToTask, type TaskRow } from "./rows.js";
import { WriteBatch } from "./write-batch.js";
import { ClaimWaiters } from "./claim-waiters.js";
import { claimedRecord, newTaskRecord, type ClaimRow } from "./records.js";
import { prepareStatements, type Fenced, type QueueRow, type Statements } from "./statements.js";

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

const QUEUE_FULL_HINT_MS = 5_000;

/** The embedded store: one SQLite file shared by any number of processes. */
export class SqliteStore implements Store {
  readonly capabilities: StoreCapabilities = { crossProcessEvents: "poll", transactionalSubmit: false, waitingClaims: true };
  /** `<folder of the file>/outlast-data`; null for an in-memory database. */
  readonly localDataDir: string | null;
  private readonly db: Database;
  private readonly batch: WriteBatch;
  private readonly feed: EventFeed;
  private readonly maxLogsPerTask: number;
  private info: StoreInfo | null = null;
  private closed = false;
  private readonly waiters: ClaimWaiters;
  /** Events appended by the batch being written, for the feed. */
  private appended: LocalEvent[] = [];
  private readonly sql: Statements;

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
    this.maxLogsPerTask = options.maxLogsPerTask ?? 1000;
    this.sql = prepareStatements(this.db);
    this.feed = new EventFeed(this.db, options.pollIntervalMs ?? 20);
    this.waiters = new ClaimWaiters((request, now) => this.claimNow(request, now));
    this.batch = new WriteBatch(
      this.db,
      (queues, mode) => {
        this.waiters.committed();
        // Savepoint rollbacks may have undone some kept events, so a safe-mode batch is read back instead.
        this.feed.committed(queues, mode === "fast" ? this.appended : null);
      },
      () => {
        this.appended = [];
        this.waiters.rolledBack();
      },
      (queues) => this.waiters.tryIn(queues),
    );
    // Work committed by another process reaches waiting claims through a transaction of their own.
    this.feed.onRemoteChange = () => {
      if (this.waiters.size > 0) void this.batch.write(() => this.waiters.touchAll((queue) => this.batch.touch(queue)));
    };
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

  // ── queues ────────────────────────────────────────────────────────────

  declareQueue(name: string, incoming: QueueLimitsPatch, now: number): Promise<{ settings: QueueSettings; conflicts: DeclarationConflict[] }> {
    return this.batch.write(() => {
      const row = this.queueRowForUpdate(name, now);
      const next = limits.applyDeclaration(patchesOf(row), incoming);
      return { settings: this.writeLimits(row, next, now), conflicts: next.conflicts };
    });
  }

  setQueueLimits(name: string, change: QueueLimitsPatch, reset: boolean, now: number): Promise<QueueSettings> {
    return this.batch.write(() => {
      const row = this.queueRowForUpdate(name, now);
      return this.writeLimits(row, limits.applyOverride(patchesOf(row), change, reset), now);
    });
  }

  async queueSettings(): Promise<QueueSettings[]> {
    return this.sql.allQueues.all().map(settingsOf).sort(limits.byName);
  }

  private queueRowForUpdate(name: string, now: number): QueueRow {
    this.sql.ensureQueue.run(name, limits.DEFAULT_QUEUE_LIMITS.concurrency, now);
    return this.sql.queue.get(name)!;
  }

  private writeLimits(row: QueueRow, next: StoredPatches & { limits: limits.QueueLimits }, now: number): QueueSettings {
    this.batch.memo.delete(`c\0${row.name}`);
    this.sql.writeQueueLimits.run({
      name: row.name,
      concurrency: next.limits.concurrency,
      max_queued: next.limits.maxQueued,
      owner_concurrency: next.limits.ownerConcurrency,
      owner_max_queued: next.limits.ownerMaxQueued,
      declared: JSON.stringify(next.declared),
      overrides: JSON.stringify(next.overrides),
      now,
    });
    // Raised limits may make waiting work runnable.
    this.batch.touch(row.name);
    return { name: row.name, paused: row.paused === 1, limits: next.limits, declared: next.declared, overrides: next.overrides };
  }

  setQueuePaused(name: string, paused: boolean, now: number): Promise<boolean> {
    return this.batch.write(() => {
      this.batch.memo.delete(`c\0${name}`);
      this.sql.ensureQueue.run(name, limits.DEFAULT_QUEUE_LIMITS.concurrency, now);
      const changed = this.sql.pauseQueue.run(paused ? 1 : 0, now, name).changes === 1;
      if (!paused) this.batch.touch(name);
      return changed;
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
    for (const row of this.sql.allQueues.all()) {
      queues.set(row.name, {
        ...blank(row.name),
        concurrency: row.concurrency,
        maxQueued: row.max_queued,
        ownerConcurrency: row.owner_concurrency,
        ownerMaxQueued: row.owner_max_queued,
        paused: row.paused === 1,
        overrides: limits.readPatch(JSON.parse(row.overrides)),
      });
    }
    for (const row of this.sql.countsByQueue.all()) {
      let queue = queues.get(row.queue);
      if (!queue) queues.set(row.queue, (queue = blank(row.queue)));
      queue.counts[row.state] = row.n;
    }
    return [...queues.values()].sort(limits.byName);
  }

  // ── submitting and reading ────────────────────────────────────────────

  submit(request: SubmitRequest, now: number): Promise<SubmitOutcome> {
    return this.batch.write(() => this.submitNow(request, now));
  }

  private submitNow(request: SubmitRequest, now: number): SubmitOutcome {
    if (request.idempotencyKey !== null) {
      const found = this.sql.byIdempotencyKey.get(request.owner, request.name, request.idempotencyKey);
      if (found) {
        if (found.state === "queued" || found.state === "running" || found.state === "succeeded") {
          return { kind: "existing", task: rowToTask(found) };
        }
        this.checkLimits(found.queue, found.owner);
        const row = this.requeue(found, now, "resumed", request.maxAttempts);
        return { kind: "resumed", task: rowToTask(row) };
      }
    }
    this.checkLimits(request.queue, request.owner);
    return { kind: "created", task: this.insertNew(request, now) };
  }

  submitMany(requests: readonly SubmitRequest[], now: number): Promise<TaskRecord[]> {
    return this.batch.write(() => {
      for (const request of requests) checkNew(request);
      // Every limit is checked before anything is written: all or nothing.
      for (const [queue, added] of additionsByQueue(requests)) {
        for (const [owner, n] of added.owners) this.checkLimits(queue, owner, added.total, n);
      }
      return requests.map((request) => this.insertNew(request, now));
    });
  }

  private insertNew(request: SubmitRequest, now: number): TaskRecord {
    // Built here rather than read back: RETURNING * costs ~25 µs a row (a
    // JS object of 28 columns), more than the insert itself (~12 µs).
    this.sql.insertTask.run({
      id: request.id,
      name: request.name,
      queue: request.queue,
      owner: request.owner,
      priority: request.priority,
      max_attempts: request.maxAttempts,
      timeout_ms: request.timeoutMs,
      input: encode(request.input),
      idempotency_key: request.idempotencyKey,
      created_at: now,
      run_at: request.runAt,
    });
    this.appendEvent(request, 1, 0, now, firstQueuedEvent(request.runAt, now));
    this.countQueued(request.queue, request.owner, 1);
    this.batch.touch(request.queue);
    return newTaskRecord(request, now);
  }

  /** Back to queued for another run, steps and checkpoint kept, with a fresh attempt budget. */
  private requeue(row: TaskRow, now: number, reason: StateReason, budget: number = row.attempt_budget): TaskRow {
    const seq = row.last_seq + 1;
    const maxAttempts = row.attempt + budget;
    const updated = this.sql.requeue.get({ id: row.id, now, seq, max_attempts: maxAttempts })!;
    this.appendEvent(updated, seq, row.attempt, now, { type: "state", state: "queued", reason, maxAttempts });
    this.countQueued(row.queue, row.owner, 1);
    this.batch.touch(row.queue);
    return updated;
  }

  /** Throws QueueFullError unless `adding` more tasks (`ownerAdding` of them the owner's) fit the queue's limits. */
  private checkLimits(queue: string, owner: string, adding = 1, ownerAdding = adding): void {
    const config = this.queueConfig(queue);
    if (!config) return;
    if (config.max_queued !== null && this.queuedCount(queue, null) + adding > config.max_queued) {
      throw new QueueFullError(queue, "queue", this.retryHint(queue));
    }
    if (config.owner_max_queued !== null && this.queuedCount(queue, owner) + ownerAdding > config.owner_max_queued) {
      throw new QueueFullError(queue, "owner", this.retryHint(queue));
    }
  }

  // Counts are cached for the length of one group commit so a burst of
  // submits costs one index count per queue, not one per submit.
  private queuedCount(queue: string, owner: string | null): number {
    const key = owner === null ? `q\0${queue}` : `o\0${queue}\0${owner}`;
    let n = this.batch.memo.get(key) as number | undefined;
    if (n === undefined) {
      n = owner === null ? this.sql.countQueued.get(queue)!.n : this.sql.countOwnerQueued.get(queue, owner)!.n;
      this.batch.memo.set(key, n);
    }
    return n;
  }

  private countQueued(queue: string, owner: string, delta: number): void {
    const q = `q\0${queue}`;
    const o = `o\0${queue}\0${owner}`;
    const memo = this.batch.memo;
    const qn = memo.get(q) as number | undefined;
    if (qn !== undefined) memo.set(q, qn + delta);
    const on = memo.get(o) as number | undefined;
    if (on !== undefined) memo.set(o, on + delta);
  }

  private retryHint(queue: string): number {
    const mean = this.sql.recentDuration.get(queue)?.ms;
    return Math.max(1_000, Math.min(60_000, Math.round(mean ?? QUEUE_FULL_HINT_MS)));
  }

  async getTask(id: string): Promise<TaskRecord | null> {
    const row = this.sql.byId.get(id);
    return row ? rowToTask(row) : null;
  }

  async listTasks(filter: TaskFilter): Promise<TaskPage> {
    const where: string[] = [];
    const params: Record<string, string | number> = { limit: Math.max(1, Math.min(1000, filter.limit)) + 1 };
    if (filter.owner !== undefined) (where.push("owner = @owner"), (params.owner = filter.owner));
    if (filter.state !== undefined) (where.push("state = @state"), (params.state = filter.state));
    if (filter.queue !== undefined) (where.push("queue = @queue"), (params.queue = filter.queue));
    if (filter.name !== undefined) (where.push("name = @name"), (params.name = filter.name));
    if (filter.cursor !== undefined) {
      const before = Number.parseInt(filter.cursor, 36);
      if (Number.isSafeInteger(before)) (where.push("seq < @before"), (params.before = before));
    }
    const sql = `SELECT * FROM tasks ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY seq DESC LIMIT @limit`;
    const rows = this.db.prepare<Record<string, string | number>, TaskRow>(sql).all(params);
    const limit = (params.limit as number) - 1;
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return { tasks: page.map(rowToTask), nextCursor: rows.length > limit && last ? last.seq.toString(36) : null };
  }

  async queuePosition(id: string, now: number): Promise<number | null> {
    const row = this.sql.byId.get(id);
    if (!row || row.state !== "queued") return null;
    if (row.run_at > now) return null;
    return this.sql.position.get({ queue: row.queue, priority: row.priority, run_at: row.run_at, seq: row.seq, now })!.n + 1;
  }

  async recentDurationMs(queue: string): Promise<number | null> {
    return this.sql.recentDuration.get(queue)?.ms ?? null;
  }

  async getSteps(taskId: string): Promise<Map<string, unknown>> {
    return this.readSteps(taskId);
  }

  private readSteps(taskId: string): Map<string, unknown> {
    const steps = new Map<string, unknown>();
    for (const row of this.sql.steps.all(taskId)) steps.set(row.name, decode(row.result));
    return steps;
  }

  // ── operator actions ──────────────────────────────────────────────────

  cancel(id: string, now: number): Promise<CancelOutcome> {
    return this.batch.write((): CancelOutcome => {
      const row = this.sql.byId.get(id);
      if (!row) return { kind: "missing" };
      if (row.state === "queued") {
        this.finishRow(row, "canceled", null, null, now);
        this.batch.touch(row.queue);
        return { kind: "canceled", task: rowToTask(this.sql.byId.get(id)!) };
      }
      if (row.state === "running") {
        this.sql.requestCancel.run(id);
        return { kind: "requested", task: rowToTask({ ...row, cancel_requested: 1 }) };
      }
      return { kind: "final", task: rowToTask(row) };
    });
  }

  retry(id: string, now: number): Promise<RetryOutcome> {
    return this.batch.write((): RetryOutcome => {
      const row = this.sql.byId.get(id);
      if (!row) return { kind: "missing" };
      if (row.state !== "failed" && row.state !== "canceled") return { kind: "conflict", task: rowToTask(row) };
      return { kind: "retried", task: rowToTask(this.requeue(row, now, "retry")) };
    });
  }

  // ── workers ───────────────────────────────────────────────────────────

  claim(request: ClaimRequest, now: number): Promise<ClaimResult> {
    const wait = request.wait;
    if (!wait || wait.ms <= 0 || wait.signal?.aborted) return this.batch.write(() => this.claimNow(request, now));
    // A claim that finds nothing waits inside the store: it is tried again at
    // the end of every transaction that makes its queue's work runnable, so a
    // submit and the claim that takes it share one commit (one fsync).
    return new Promise<ClaimResult>((resolve, reject) => {
      this.batch
        .write(() => {
          const result = this.claimNow(request, now);
          if (result.tasks.length > 0 || this.closed) return result;
          this.waiters.add(request, result.nextRunAt, now, resolve);
          return null;
        })
        .then((result) => result && resolve(result), reject);
    });
  }

  private claimNow(request: ClaimRequest, now: number): ClaimResult {
    const config = this.queueConfig(request.queue);
    if (config?.paused === 1) return { tasks: [], nextRunAt: null };
    let slots = request.limit;
    if (config?.concurrency != null) {
      slots = Math.min(slots, config.concurrency - this.sql.countRunning.get(request.queue)!.n);
    }
    if (slots <= 0) return { tasks: [], nextRunAt: null };

    const ownerLimit = config?.owner_concurrency ?? null;
    // With a per-owner limit some candidates are skipped, so look further ahead.
    // Owners already at their limit are left out in the query, so a long
    // backlog of theirs cannot push other owners' tasks past the look-ahead.
    if (ownerLimit === null) return this.claimInOneStatement(request, slots, now);
    const candidates = this.sql.runnableForOwners.all({
      queue: request.queue,
      now,
      names: JSON.stringify(request.names),
      limit: slots * 8 + 32,
      owner_limit: ownerLimit,
    });
    const chosen: ClaimRow[] = [];
    const ownerRunning = new Map<string, number>();
    for (const row of candidates) {
      if (chosen.length >= slots) break;
      const running = ownerRunning.get(row.owner) ?? this.sql.countOwnerRunning.get(request.queue, row.owner)!.n;
      if (running >= ownerLimit) {
        ownerRunning.set(row.owner, running);
        continue;
      }
      ownerRunning.set(row.owner, running + 1);
      chosen.push(row);
    }

    const tasks: ClaimedTask[] = [];
    for (const row of chosen) {
      const seq = row.last_seq + 1;
      const expires = now + request.leaseMs;
      this.sql.markRunning.run({ seq_row: row.seq, now, worker: request.workerId, expires, seq });
      tasks.push(this.claimed({ ...row, attempt: row.attempt + 1, last_seq: seq, lease_token: row.lease_token + 1 }, now, request.workerId, expires));
    }
    const nextRunAt = tasks.length < slots ? (this.sql.nextRunAt.get(request.queue, now)?.at ?? null) : null;
    return { tasks, nextRunAt };
  }

  /**
   * Without per-owner limits a claim is one UPDATE … RETURNING over the
   * runnable index (which holds `name`, so the name filter reads no rows):
   * measured ~40% cheaper per task than a SELECT followed by one UPDATE a row.
   */
  private claimInOneStatement(request: ClaimRequest, slots: number, now: number): ClaimResult {
    const expires = now + request.leaseMs;
    const rows = this.sql.claimBatch.all({
      queue: request.queue,
      now,
      names: JSON.stringify(request.names),
      limit: slots,
      worker: request.workerId,
      expires,
    });
    // RETURNING gives no order; hand tasks out in claim order.
    rows.sort((a, b) => b.priority - a.priority || a.run_at - b.run_at || a.seq - b.seq);
    const tasks = rows.map((row) => this.claimed(row, now, request.workerId, expires));
    const nextRunAt = tasks.length < slots ? (this.sql.nextRunAt.get(request.queue, now)?.at ?? null) : null;
    return { tasks, nextRunAt };
  }

  /** Log the start of a just-claimed task (row values as after the claim) and hand it out. */
  private claimed(row: ClaimRow, now: number, workerId: string, expires: number): ClaimedTask {
    this.appendEvent(row, row.last_seq, row.attempt, now, { type: "state", state: "running" });
    return {
      task: claimedRecord(row, now, workerId, expires),
      lease: { taskId: row.id, token: row.lease_token },
      // seq 1 is "queued", 2 this "running": a task at seq 2 has never recorded a step.
      steps: row.last_seq <= 2 ? new Map() : this.readSteps(row.id),
    };
  }

  heartbeat(leases: readonly Lease[], now: number, leaseMs: number): Promise<HeartbeatStatus[]> {
    if (leases.length === 0) return Promise.resolve([]);
    return this.batch.write(() =>
      leases.map((lease) => {
        const row = this.sql.extendLease.get({ id: lease.taskId, token: lease.token, now, expires: now + leaseMs });
        return row ? { held: true, cancelRequested: row.cancel_requested === 1 } : { held: false, cancelRequested: false };
      }),
    );
  }

  recordProgress(lease: Lease, progress: Progress, now: number): Promise<boolean> {
    return this.batch.write(() => {
      const row = this.fenced(lease, now);
      if (!row) return false;
      const seq = row.last_seq + 1;
      this.sql.setProgress.run({ id: row.id, progress: encode(progress), seq });
      // Only the latest progress is worth replaying; drop the one it supersedes.
      if (row.progress_seq !== null) this.sql.deleteEvent.run(row.id, row.progress_seq);
      this.appendEvent(row, seq, row.attempt, now, { type: "progress", progress });
      return true;
    });
  }

  recordStep(lease: Lease, name: string, result: unknown, now: number): Promise<boolean> {
    return this.batch.write(() => {
      const row = this.fenced(lease, now);
      if (!row) return false;
      const seq = row.last_seq + 1;
      this.sql.insertStep.run(row.id, name, encode(result), row.attempt, now);
      this.sql.bumpSeq.run(seq, row.id);
      this.appendEvent(row, seq, row.attempt, now, { type: "step", name });
      return true;
    });
  }

  recordCheckpoint(lease: Lease, data: unknown, now: number): Promise<boolean> {
    return this.batch.write(() => {
      const row = this.fenced(lease, now);
      if (!row) return false;
      this.sql.setCheckpoint.run(encode(data), row.id);
      return true;
    });
  }

  appendLog(lease: Lease, message: string, now: number): Promise<boolean> {
    return this.batch.write(() => {
      const row = this.fenced(lease, now);
      if (!row) return false;
      const count = this.sql.logCount.get(row.id)!.log_count;
      if (count >= this.maxLogsPerTask) return true;
      const seq = row.last_seq + 1;
      const text = count + 1 === this.maxLogsPerTask ? `${message}\n(log limit of ${this.maxLogsPerTask} lines reached; later lines are dropped)` : message;
      this.sql.addLog.run(seq, row.id);
      this.appendEvent(row, seq, row.attempt, now, { type: "log", message: text });
      return true;
    });
  }

  finish(lease: Lease, outcome: FinishOutcome, now: number): Promise<boolean> {
    if (outcome.state !== "retry") return this.batch.write(() => this.finishFenced(lease, outcome, now));
    return this.batch.write(() => {
      const row = this.fenced(lease, now);
      if (!row) return false;
      const seq = row.last_seq + 1;
      this.sql.backToQueue.run({ id: row.id, seq, run_at: outcome.runAt, error: encode(outcome.error), attempt_delta: 0 });
      this.appendEvent(row, seq, row.attempt, now, {
        type: "state",
        state: "queued",
        reason: "retry",
        error: outcome.error,
        runAt: new Date(outcome.runAt).toISOString(),
      });
      this.batch.touch(row.queue);
      return true;
    });
  }

  /**
   * The fencing check and the final update in one statement: the hottest
   * write of a busy worker (saves a lookup per task).
   */
  private finishFenced(lease: Lease, outcome: Exclude<FinishOutcome, { state: "retry" }>, now: number): boolean {
    const result = outcome.state === "succeeded" ? (outcome.result === undefined ? null : outcome.result) : null;
    const error = outcome.state === "succeeded" ? null : (outcome.error ?? null);
    const row = this.sql.finishIfHeld.get({
      id: lease.taskId,
      token: lease.token,
      state: outcome.state,
      result: outcome.state === "succeeded" ? encode(result) : null,
      error: error === null ? null : encode(error),
      now,
    });
    if (!row) return false;
    const data: TaskEventData =
      outcome.state === "succeeded"
        ? { type: "state", state: "succeeded", result }
        : error !== null
          ? { type: "state", state: outcome.state, error }
          : { type: "state", state: outcome.state };
    this.appendEvent({ id: lease.taskId, owner: row.owner, queue: row.queue }, row.last_seq, row.attempt, now, data);
    this.batch.touch(row.queue); // a slot is free
    return true;
  }

  release(lease: Lease, now: number): Promise<boolean> {
    return this.batch.write(() => {
      const row = this.fenced(lease, now);
      if (!row) return false;
      const seq = row.last_seq + 1;
      this.sql.backToQueue.run({ id: row.id, seq, run_at: now, error: null, attempt_delta: 1 });
      this.appendEvent(row, seq, row.attempt - 1, now, { type: "state", state: "queued", reason: "released" });
      this.batch.touch(row.queue);
      return true;
    });
  }

  recoverExpired(now: number, reason: string): Promise<number> {
    return this.batch.write(() => {
      const expired = this.sql.expired.all(now, EXPIRY_BATCH);
      for (const row of expired) {
        if (row.cancel_requested === 1) {
          this.finishRow(row, "canceled", null, null, now);
        } else if (row.attempt >= row.max_attempts) {
          this.finishRow(row, "failed", null, { message: reason, code: "lease_expired" }, now);
        } else {
          const seq = row.last_seq + 1;
          this.sql.backToQueue.run({ id: row.id, seq, run_at: now, error: null, attempt_delta: 0 });
          this.appendEvent(row, seq, row.attempt, now, { type: "state", state: "queued", reason: "lease_expired" });
        }
        this.batch.touch(row.queue);
      }
      return expired.length;
    });
  }

  recordWorker(worker: WorkerHeartbeat, now: number): Promise<void> {
    return this.batch.write(() => {
      this.sql.upsertWorker.run({
        id: worker.id,
        host: worker.host,
        pid: worker.pid,
        queues: JSON.stringify(worker.queues),
        started_at: worker.startedAt,
        heartbeat_at: now,
        running: JSON.stringify(worker.running),
        streams: worker.streams,
      });
    });
  }

  removeWorker(id: string): Promise<void> {
    return this.batch.write(() => {
      this.sql.deleteWorker.run(id);
    });
  }

  async listWorkers(aliveSince: number): Promise<WorkerHeartbeat[]> {
    return this.sql.workers.all(aliveSince).map((row) => ({
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
    return this.sql.events.all(taskId, afterSeq, limit).map(rowToEvent);
  }

  subscribe(listener: StoreListener): () => void {
    return this.feed.subscribe(listener);
  }

  // ── schedules, retention, secrets ─────────────────────────────────────

  fireSchedule(schedule: string, tickAt: number, request: SubmitRequest, now: number): Promise<boolean> {
    return this.batch.write(() => {
      if (this.sql.fireTick.run(schedule, tickAt).changes === 0) return false;
      try {
        this.submitNow(request, now);
      } catch (error) {
        // A full queue skips this tick; the tick still counts as fired so no process retries it.
        if (!(error instanceof QueueFullError)) throw error;
      }
      return true;
    });
  }

  purgeFinished(cutoffs: Partial<Record<"succeeded" | "failed" | "canceled", number>>, limit: number): Promise<number> {
    return this.batch.write(() => {
      let removed = 0;
      for (const [state, before] of Object.entries(cutoffs)) {
        if (before === undefined || removed >= limit) continue;
        const ids = this.sql.finishedBefore.all(before, state, limit - removed);
        for (const { id } of ids) {
          this.sql.deleteEvents.run(id);
          this.sql.deleteSteps.run(id);
          this.sql.deleteTask.run(id);
        }
        removed += ids.length;
      }
      return removed;
    });
  }

  getOrCreateSecret(name: string, create: () => string): Promise<string> {
    return this.batch.write(() => {
      const key = `secret:${name}`;
      this.sql.insertMeta.run(key, create());
      return this.sql.meta.get(key)!.value;
    });
  }

  // ── helpers ───────────────────────────────────────────────────────────

  /** A queue's limits, read once per group commit (writes that change them drop the copy). */
  private queueConfig(name: string): QueueRow | undefined {
    const key = `c\0${name}`;
    if (this.batch.memo.has(key)) return this.batch.memo.get(key) as QueueRow | undefined;
    const row = this.sql.queue.get(name);
    this.batch.memo.set(key, row);
    return row;
  }

  /** The task row if `lease` still holds it at `now`; the fencing check of every worker write. */
  private fenced(lease: Lease, now: number): Fenced | undefined {
    const row = this.sql.fence.get(lease.taskId);
    if (!row || row.state !== "running" || row.lease_token !== lease.token) return undefined;
    if (row.lease_expires_at === null || row.lease_expires_at < now) return undefined;
    return row;
  }

  /** Move a task to a final state. `result` is only kept for succeeded tasks. */
  private finishRow(
    row: Pick<TaskRow, "id" | "owner" | "queue" | "last_seq" | "attempt">,
    state: "succeeded" | "failed" | "canceled",
    result: unknown,
    error: TaskError | null,
    now: number,
  ): void {
    const seq = row.last_seq + 1;
    const stored = state === "succeeded" ? (result === undefined ? null : result) : null;
    this.sql.finish.run({ id: row.id, state, result: state === "succeeded" ? encode(stored) : null, error: error === null ? null : encode(error), now, seq });
    const data: TaskEventData =
      state === "succeeded" ? { type: "state", state, result: stored } : error !== null ? { type: "state", state, error } : { type: "state", state };
    this.appendEvent(row, seq, row.attempt, now, data);
  }

  private appendEvent(task: Pick<TaskRow, "id" | "owner" | "queue">, seq: number, attempt: number, now: number, data: TaskEventData): void {
    const { lastInsertRowid } = this.sql.insertEvent.run(task.id, task.owner, task.queue, seq, data.type, attempt, now, JSON.stringify(data));
    if (this.feed.wantsEvents) {
      this.appended.push({ id: Number(lastInsertRowid), event: { taskId: task.id, owner: task.owner, queue: task.queue, seq, attempt, at: now, data } });
    }
  }
}

function patchesOf(row: QueueRow): StoredPatches {
  return { declared: limits.readPatch(JSON.parse(row.declared)), overrides: limits.readPatch(JSON.parse(row.overrides)) };
}

function settingsOf(row: QueueRow): QueueSettings {
  return {
    name: row.name,
    paused: row.paused === 1,
    limits: { concurrency: row.concurrency, maxQueued: row.max_queued, ownerConcurrency: row.owner_concurrency, ownerMaxQueued: row.owner_max_queued },
    ...patchesOf(row),
  };
}
