import type { StoredEvent } from "../core/events.js";
import { byName, type DeclarationConflict, type KeyConcurrency, type QueueLimitsPatch, type QueueSettings, type RateLimit } from "../core/queue-limits.js";
import type { Progress } from "../core/progress.js";
import type { TaskState } from "../core/states.js";
import type { TaskRecord } from "../core/task.js";
import type { FinishOutcome } from "../core/transitions.js";
import { TASK_STATES } from "../core/states.js";
import type { WaitSpec } from "../core/waits.js";
import type { DedupeSpec } from "../core/dedupe.js";
import type { DeadLetterFilter, DeadLetterSelection } from "../core/dead-letters.js";

/**
 * The only door to persistence. Shaped by the task model, not by SQL: the
 * engine asks for domain operations and every store makes them atomic. The
 * rules each operation applies are decided in core/ (submit-rules.ts,
 * transitions.ts, queue-limits.ts); a store turns them into its SQL.
 *
 * Time is always passed in (`now`, epoch ms) so stores hold no clock of
 * their own and tests control time.
 *
 * Fencing: every write of a worker names its {@link Lease}. A write whose
 * lease is no longer current (expired, taken again, released, or the task
 * left `running`) changes nothing and reports `false`.
 *
 * Writes are all-or-nothing: a refusal (QueueFullError, a conflict) is
 * decided before any statement runs, and any throw rolls its write back.
 */
export interface Store extends TaskStore, WorkerStore, EventStore, OpsStore, WaitStore, DeadLetterStore, WorkerKeyStore {
  readonly capabilities: StoreCapabilities;
  /** A folder beside the database for task files (SQLite), or absent when the store has none. */
  readonly localDataDir?: string | null;

  /** Create or upgrade the schema. Safe to call from many processes at once. */
  init(): Promise<StoreInfo>;
  /** Release connections and timers. Pending writes are flushed first. */
  close(): Promise<void>;
}

/** Submitting, reading and steering tasks: what an app and an operator do. */
export interface TaskStore {
  /**
   * Store a new task, or find the existing one with the same owner, name and
   * idempotency key (core/submit-rules.ts): `existing` when it is queued,
   * running or succeeded; `resumed` (back to queued, steps and checkpoint
   * kept) when it failed or was cancelled. With a `dedupe` (core/dedupe.ts,
   * no idempotency key): `replaced` when the key's queued, never started
   * task took the new input (its event: reason `replaced`), else `created`;
   * either may name the started tasks a cancel-running submit canceled or
   * asked to cancel, in the same transaction. Concurrent submits of one key,
   * from any process, leave one queued task. Throws QueueFullError, storing
   * nothing, when a limit is hit.
   */
  submit(request: SubmitRequest, now: number): Promise<SubmitOutcome>;
  /**
   * Store many new tasks (no idempotency keys) in one transaction, in the
   * order given: all of them, or none with QueueFullError when they would
   * not all fit in their queue's (or owner's) maximum length.
   */
  submitMany(requests: readonly SubmitRequest[], now: number): Promise<TaskRecord[]>;
  getTask(id: string): Promise<TaskRecord | null>;
  listTasks(filter: TaskFilter): Promise<TaskPage>;
  /** 1-based place among runnable tasks of its queue, or null when not queued. */
  queuePosition(id: string, now: number): Promise<number | null>;
  /** Mean run time of the queue's recent successful tasks, or null without history. */
  recentDurationMs(queue: string): Promise<number | null>;
  /** Recorded step results of a task, by step name. */
  getSteps(taskId: string): Promise<Map<string, unknown>>;
  /** Cancel a queued task at once; flag a running one (its worker finishes the cancel). */
  cancel(id: string, now: number): Promise<CancelOutcome>;
  /** Put a failed or cancelled task back in its queue with a fresh attempt budget. */
  retry(id: string, now: number): Promise<RetryOutcome>;
  /**
   * Like `submit`, inside a transaction the application owns on its own
   * connection: the task exists only if that transaction commits. Present
   * when `capabilities.transactionalSubmit` is true.
   */
  submitInTransaction?(connection: unknown, request: SubmitRequest, now: number): Promise<SubmitOutcome>;
}

/**
 * Children, groups and durable waits (core/waits.ts). A child's change
 * settles its waiting parent in the same transaction: its rolled-up
 * progress, and its wake (or, for a group, its end) when the failure policy
 * says so, so no process has to watch for it.
 */
export interface WaitStore {
  /**
   * Submit children of `parentId` (each request's `parent` names it): a key
   * already used under that parent answers the existing child instead, so a
   * parent run again never submits one twice. All new ones or none
   * (QueueFullError). Answers every child asked for, in order.
   */
  submitChildren(parentId: string, requests: readonly SubmitRequest[], now: number): Promise<TaskRecord[]>;
  /**
   * A group: `group` (with a `wait` of kind "group") starts waiting, its
   * children queued, all in one transaction; an idempotency key that matches
   * answers the existing group (`existing`), or runs a failed or canceled one
   * again (`resumed`: its failed and canceled children queued again).
   */
  submitGroup(group: SubmitRequest, children: readonly SubmitRequest[], now: number): Promise<SubmitOutcome>;
  /** A task's children in submit order (for the engine; pages for people go through listTasks' `parentId`). */
  children(parentId: string): Promise<TaskRecord[]>;
  /**
   * Send a signal: a task waiting for `name` gets it as its wait's step and
   * is queued; any other unfinished task keeps it until it waits for it
   * (oldest first). A finished task refuses it.
   */
  signal(taskId: string, name: string, payload: unknown, now: number): Promise<SignalOutcome>;
  /** Wake waiting tasks whose sleep ended or whose signal timed out (at most EXPIRY_BATCH); returns how many. */
  wakeDue(now: number): Promise<number>;
}

/**
 * Dead letters (core/dead-letters.ts): failed tasks kept for an operator.
 * A redrive or purge by filter touches every match, DEAD_LETTER_BATCH a
 * transaction, and only dead letters; ids that are not dead letters are
 * skipped. Both answer how many they touched.
 */
export interface DeadLetterStore {
  /** Newest first (by `finishedAt`, then submit order). */
  listDeadLetters(filter: DeadLetterFilter & { limit: number; cursor?: string }): Promise<TaskPage>;
  /** Run again from their steps, like `retry`: queued now with a fresh attempt budget, no longer dead letters. */
  redriveDead(selection: DeadLetterSelection, now: number): Promise<number>;
  /** Delete them with their events, steps and signals. */
  purgeDead(selection: DeadLetterSelection): Promise<number>;
}

/**
 * Worker keys (engine/worker-keys.ts): what lets a process outside this
 * one claim and run tasks of some queues over HTTP. Only a hash of each
 * secret is kept; a revoked key stays listed.
 */
export interface WorkerKeyStore {
  createWorkerKey(key: WorkerKeyRecord, secretHash: string): Promise<void>;
  /** Newest first, revoked ones included. */
  listWorkerKeys(): Promise<WorkerKeyRecord[]>;
  /** The key whose secret hashes to this, revoked or not; null when none. */
  workerKeyByHash(secretHash: string): Promise<WorkerKeyRecord | null>;
  /** Sets `revokedAt` (once: a second revoke keeps the first time); null for an unknown id. */
  revokeWorkerKey(id: string, now: number): Promise<WorkerKeyRecord | null>;
}

export interface WorkerKeyRecord {
  id: string;
  name: string;
  queues: string[];
  createdAt: number;
  revokedAt: number | null;
}

export type SignalOutcome =
  | { kind: "delivered"; task: TaskRecord }
  | { kind: "kept"; task: TaskRecord }
  | { kind: "final"; task: TaskRecord }
  | { kind: "missing" };

/** What workers do: claim, report under a lease, end an attempt; and the recovery of lost leases. */
export interface WorkerStore {
  /** Take up to `limit` runnable tasks of one queue, honouring its global limits. */
  claim(request: ClaimRequest, now: number): Promise<ClaimResult>;
  /** Extend leases. Reports, per lease, whether it is still held and whether a cancel was asked. */
  heartbeat(leases: readonly Lease[], now: number, leaseMs: number): Promise<HeartbeatStatus[]>;
  recordProgress(lease: Lease, progress: Progress, now: number): Promise<boolean>;
  /** Record a step's result; returns false (and records nothing) when fenced. */
  recordStep(lease: Lease, name: string, result: unknown, now: number): Promise<boolean>;
  recordCheckpoint(lease: Lease, data: unknown, now: number): Promise<boolean>;
  /** Set the task's title (core/title.ts checks it first). No event: watchers see it on their next read of the task. */
  recordTitle(lease: Lease, title: string, now: number): Promise<boolean>;
  /** Append a log line; past the per-task limit it is dropped (still `true`). */
  appendLog(lease: Lease, message: string, now: number): Promise<boolean>;
  /** End an attempt: success, failure, a retry at `runAt`, or cancellation (core/transitions.ts). */
  finish(lease: Lease, outcome: FinishOutcome, now: number): Promise<boolean>;
  /** Give a task back without spending its attempt (graceful shutdown). */
  release(lease: Lease, now: number): Promise<boolean>;
  /**
   * Tasks whose lease ran out (core/transitions.ts, expiryDecision): back to
   * queued, failed when out of attempts, canceled when a cancel was asked.
   * At most EXPIRY_BATCH a call; returns how many were recovered.
   */
  recoverExpired(now: number, maxAttemptsReason: string): Promise<number>;
  recordWorker(worker: WorkerHeartbeat, now: number): Promise<void>;
  removeWorker(id: string): Promise<void>;
  listWorkers(aliveSince: number): Promise<WorkerHeartbeat[]>;
}

/** A task's ordered log, and every commit's events as they happen. */
export interface EventStore {
  /** Events of one task with `seq > afterSeq`, in order; superseded progress is absent. */
  readEvents(taskId: string, afterSeq: number, limit: number): Promise<StoredEvent[]>;
  /**
   * Every event committed by any process on this database from now on, each
   * exactly once, in per-task `seq` order. Also says when work may have
   * arrived (`wake`), so idle workers claim without polling. "Now" may be a
   * moment later than the call (PostgreSQL connects and takes its starting
   * point first); this store's own writes wait for it, another process's
   * commit in that moment may be missed, so readers fill gaps from the log.
   */
  subscribe(listener: StoreListener): () => void;
}

/** Queue settings, schedules, retention and shared secrets: the running of the system. */
export interface OpsStore {
  /**
   * Write what this process's code declares of a queue's limits — only the
   * fields given — creating the queue if needed (core/queue-limits.ts).
   * Answers the settings as stored and where the declaration differs from
   * the one stored before it.
   */
  declareQueue(name: string, declared: QueueLimitsPatch, now: number): Promise<{ settings: QueueSettings; conflicts: DeclarationConflict[] }>;
  /** An operator's change of a queue's limits (held over declarations); `reset` drops earlier changes first. Creates the queue's row if needed. */
  setQueueLimits(name: string, change: QueueLimitsPatch, reset: boolean, now: number): Promise<QueueSettings>;
  /** Every queue's stored settings (no counts: cheap enough to read every second). */
  queueSettings(): Promise<QueueSettings[]>;
  setQueuePaused(name: string, paused: boolean, now: number): Promise<boolean>;
  listQueues(): Promise<QueueInfo[]>;
  /**
   * Fire one tick of a schedule: submit `request` unless some process
   * already fired a tick at or after `tickAt`. True when this call fired it.
   */
  fireSchedule(schedule: string, tickAt: number, request: SubmitRequest, now: number): Promise<boolean>;
  /** Delete finished tasks (with their events and steps) that finished before the cutoffs; dead letters are kept. */
  purgeFinished(cutoffs: Partial<Record<"succeeded" | "failed" | "canceled", number>>, limit: number): Promise<number>;
  /** A value kept in the store, made once by `create` and the same for every process (signing keys). */
  getOrCreateSecret(name: string, create: () => string): Promise<string>;
}

export interface StoreCapabilities {
  /** How events reach other processes: polling the database file, or a push channel. */
  readonly crossProcessEvents: "poll" | "notify";
  /** Whether `submit` can join a transaction the application owns. */
  readonly transactionalSubmit: boolean;
  /** Whether `claim` honours `wait` (else it always answers at once). */
  readonly waitingClaims?: boolean;
}

export interface StoreInfo {
  /** Random id of this database, fixed at creation: cursors from another database are refused. */
  databaseId: string;
  schemaVersion: number;
}

export interface StoreListener {
  /** Committed events, in order. */
  events?(events: readonly StoredEvent[]): void;
  /** Something changed that may make work runnable; `queues` when known. */
  wake?(queues: ReadonlySet<string> | null): void;
}

/** The columns a {@link TaskFilter.search} prefix is matched against, each through an index of its own. */
export const SEARCH_COLUMNS = ["id", "owner", "name", "title"] as const;

/** Most expired leases one `recoverExpired` call handles, earliest expiry first (ties by task id), on every store. */
export const EXPIRY_BATCH = 500;

export interface QueueConfig {
  name: string;
  /** Running tasks at once across every process. null = no limit. */
  concurrency: number | null;
  /** Queued tasks at most; submits beyond it throw QueueFullError. null = no limit. */
  maxQueued: number | null;
  ownerConcurrency: number | null;
  ownerMaxQueued: number | null;
  /** Starts at most per window, across every process (core/rate-limit.ts). null = no limit. */
  rateLimit: RateLimit | null;
  /** Concurrency per key (core/key-limits.ts); null: not keyed. */
  keyConcurrency: KeyConcurrency | null;
  /** Keys' limits set by an operator. */
  keyLimits: Record<string, number> | null;
}

export interface QueueInfo extends QueueConfig {
  paused: boolean;
  /** The limits an operator set, which hold over what code declares. */
  overrides: QueueLimitsPatch;
  counts: Record<TaskState, number>;
}

/** Every queue, from its stored settings and its task counts by state (a queue known only from its tasks has the blank settings), by name. */
export function queueList(settings: readonly QueueSettings[], counts: readonly { queue: string; state: TaskState; n: number }[]): QueueInfo[] {
  const queues = new Map<string, QueueInfo>();
  for (const queue of settings) {
    queues.set(queue.name, { ...blankQueue(queue.name), ...queue.limits, paused: queue.paused, overrides: queue.overrides });
  }
  for (const row of counts) {
    let queue = queues.get(row.queue);
    if (!queue) queues.set(row.queue, (queue = blankQueue(row.queue)));
    queue.counts[row.state] = row.n;
  }
  return [...queues.values()].sort(byName);
}

/** A queue known only from its tasks (no stored settings), before its counts are added. */
export function blankQueue(name: string): QueueInfo {
  return {
    name,
    concurrency: null,
    maxQueued: null,
    ownerConcurrency: null,
    ownerMaxQueued: null,
    rateLimit: null,
    keyConcurrency: null,
    keyLimits: null,
    paused: false,
    overrides: {},
    counts: Object.fromEntries(TASK_STATES.map((s) => [s, 0])) as Record<TaskState, number>,
  };
}

export interface SubmitRequest {
  id: string;
  name: string;
  queue: string;
  owner: string;
  /** core/title.ts checks it before it gets here. */
  title: string | null;
  input: unknown;
  priority: number;
  runAt: number;
  maxAttempts: number;
  /** Lease expiries in a row before it is quarantined as a poison pill (core/dead-letters.ts); default 3. */
  maxLeaseExpiries?: number;
  timeoutMs: number | null;
  idempotencyKey: string | null;
  /** Collapse with other submits of this owner, name and key (core/dedupe.ts); never with an idempotency key. */
  dedupe?: DedupeSpec;
  /** A child: its parent, its key there (unique under the parent), and its share of the parent's rolled-up progress. */
  parent?: { id: string; key: string; weight: number };
  /** A task that starts waiting rather than queued: a group (core/waits.ts). */
  wait?: WaitSpec;
  /** Its key under its queue's keyed rate limit, computed at submit (core/rate-limit.ts). Absent or null: unkeyed. */
  rateKey?: string | null;
  /** What its start takes from its queue's rate budget: a whole number ≥ 1. @defaultValue 1 */
  cost?: number;
  /**
   * Whose running tasks it counts with under its queue's per-key limits
   * (core/key-limits.ts), and the round-robin of claims: computed at submit.
   * Absent or null: its owner.
   */
  concurrencyKey?: string | null;
  /** Its tier there (a name in the queue's `tiers`), or null. */
  tier?: string | null;
  /** Its key's limit from the queue's limit function, or null. */
  keyLimit?: number | null;
}

export type SubmitOutcome =
  /** `canceled`: a cancel-running submit's canceled (or, when running, asked to cancel) tasks of its key. */
  | { kind: "created"; task: TaskRecord; canceled?: readonly string[] }
  /** A dedupe submit gave its input to the key's queued, never started task. */
  | { kind: "replaced"; task: TaskRecord; canceled?: readonly string[] }
  | { kind: "existing"; task: TaskRecord }
  | { kind: "resumed"; task: TaskRecord }
  | { kind: "restarted"; task: TaskRecord };

export interface TaskFilter {
  owner?: string;
  state?: TaskState;
  queue?: string;
  name?: string;
  /** Only the children of this task, in submit order (oldest first) rather than newest first. */
  parentId?: string;
  /**
   * Tasks whose id, owner, name or title starts with this text: case-sensitive,
   * every character literal (`%` and `_` too), answered from indexes
   * (core/prefix.ts, SEARCH_COLUMNS). Other filters still apply.
   */
  search?: string;
  /** Page size. */
  limit: number;
  /** From a previous page's `nextCursor`. */
  cursor?: string;
}

export interface TaskPage {
  tasks: TaskRecord[];
  nextCursor: string | null;
}

export type CancelOutcome =
  | { kind: "canceled"; task: TaskRecord }
  | { kind: "requested"; task: TaskRecord }
  | { kind: "final"; task: TaskRecord }
  | { kind: "missing" };

export type RetryOutcome = { kind: "retried"; task: TaskRecord } | { kind: "conflict"; task: TaskRecord } | { kind: "missing" };

export interface Lease {
  taskId: string;
  /** Changes every time the task is claimed; a write naming an older one is fenced. */
  token: number;
}

export interface ClaimRequest {
  queue: string;
  workerId: string;
  /** Most tasks to take. */
  limit: number;
  leaseMs: number;
  /** Only tasks with these names: the ones the claiming process has defined. */
  names: readonly string[];
  /**
   * When nothing is runnable, a store with `capabilities.waitingClaims` may
   * hold the claim open for up to `ms`, and claim in the transaction of a
   * write that makes work runnable, at that write's `now`. It answers empty
   * at the deadline, when `signal` aborts, or when it cannot tell (another
   * process committed): the worker then claims again at its own time.
   */
  wait?: { ms: number; signal?: AbortSignal };
}

export interface ClaimedTask {
  task: TaskRecord;
  lease: Lease;
  steps: Map<string, unknown>;
}

export interface ClaimResult {
  tasks: ClaimedTask[];
  /** Earliest future `runAt` among the queue's waiting tasks, so the worker can sleep until then. */
  nextRunAt: number | null;
}

export interface HeartbeatStatus {
  held: boolean;
  cancelRequested: boolean;
}

export type { FinishOutcome } from "../core/transitions.js";

export interface WorkerHeartbeat {
  id: string;
  host: string;
  pid: number;
  queues: string[];
  startedAt: number;
  heartbeatAt: number;
  running: string[];
  /** Event streams the process serves (browsers and apps watching tasks); null when it serves none. */
  streams: number | null;
  /** A worker over HTTP (server/worker-routes.ts), with the key it uses; absent or null for a process running the library. */
  remote?: RemoteWorkerKey | null;
}

export interface RemoteWorkerKey {
  keyId: string;
  keyName: string;
}
