import type { StoredEvent, TaskEventData } from "../core/events.js";
import type { Progress } from "../core/progress.js";
import type { TaskState } from "../core/states.js";
import type { TaskError, TaskRecord } from "../core/task.js";
import type { FinishTransition } from "../core/transitions.js";
import type { RemoteWorkerKey, WorkerHeartbeat } from "./store.js";
import type { ChildRow, WaitSpec } from "../core/waits.js";
import { effectiveLimits, keyRulesOf, readPatch, type QueueLimits, type QueueSettings, type RateLimit, type StoredPatches } from "../core/queue-limits.js";
import { readKeyRules, type KeyRules } from "../core/key-limits.js";

/**
 * A `tasks` row as both SQL stores read it: snake_case columns, times as
 * epoch milliseconds, JSON values as text. The stores share this shape (and
 * its mapping) so a task reads the same from either.
 */
export interface TaskRow {
  seq: number;
  id: string;
  name: string;
  queue: string;
  owner: string;
  title: string | null;
  state: TaskState;
  priority: number;
  attempt: number;
  max_attempts: number;
  attempt_budget: number;
  timeout_ms: number | null;
  input: string;
  progress: string | null;
  progress_seq: number | null;
  result: string | null;
  error: string | null;
  checkpoint: string | null;
  idempotency_key: string | null;
  created_at: number;
  run_at: number;
  started_at: number | null;
  finished_at: number | null;
  last_seq: number;
  log_count: number;
  /** SQLite has no booleans: 0 or 1 there. */
  cancel_requested: boolean | number;
  worker_id: string | null;
  lease_token: number;
  /** Its place in the round-robin across owners (core/turns.ts); null while it waits to be due. */
  turn: number | null;
  lease_expires_at: number | null;
  parent_id: string | null;
  child_key: string | null;
  /** Its share of its parent's rolled-up progress. */
  weight: number;
  /** JSON of a WaitSpec while waiting (core/waits.ts). */
  wait: string | null;
  /** When the clock ends its wait (a sleep, a signal's timeout); null otherwise. */
  wake_at: number | null;
  /** How many children it has submitted, so only parents pay for counting them. */
  children: number;
  /** Its dedupe key (core/dedupe.ts), else null. */
  dedupe_key: string | null;
  /** The latest runAt of its debounce burst (first submit + maxDelayMs), else null. */
  dedupe_deadline: number | null;
  /** 1 when it is a dead letter (core/dead-letters.ts), else 0. */
  dead_letter: number;
  /** Its lease expiries in a row (its worker lost each time), and how many make it a poison pill. */
  lease_expiries: number;
  max_lease_expiries: number;
  /** Its rate-limit key, set at submit (null: unkeyed), and what a start of it takes from the budget (core/rate-limit.ts). */
  rate_key?: string | null;
  /** Its key under per-key limits and the claims' round-robin (core/key-limits.ts); null only in rows older than the column. */
  concurrency_key?: string | null;
  tier?: string | null;
  key_limit?: number | null;
  cost?: number;
}

/** A `task_events` row, with the routing fields the feeds filter on. */
export interface EventRowBase {
  task_id: string;
  owner: string;
  queue: string;
  seq: number;
  attempt: number;
  at: number;
  data: string;
}

/** JSON for a column; `undefined` is stored as null so it reads back as null. */
export function encode(value: unknown): string {
  return JSON.stringify(value === undefined ? null : value);
}

export function decode(text: string | null): unknown {
  return text === null ? null : JSON.parse(text);
}

export function rowToTask(row: TaskRow): TaskRecord {
  return {
    id: row.id,
    name: row.name,
    queue: row.queue,
    owner: row.owner,
    title: row.title,
    state: row.state,
    priority: row.priority,
    attempt: row.attempt,
    maxAttempts: row.max_attempts,
    timeoutMs: row.timeout_ms,
    input: decode(row.input),
    progress: (decode(row.progress) as Progress | null) ?? null,
    result: decode(row.result),
    error: (decode(row.error) as TaskError | null) ?? null,
    checkpoint: decode(row.checkpoint),
    idempotencyKey: row.idempotency_key,
    createdAt: row.created_at,
    runAt: row.run_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    lastSeq: row.last_seq,
    cancelRequested: row.cancel_requested === true || row.cancel_requested === 1,
    workerId: row.worker_id,
    leaseExpiresAt: row.lease_expires_at,
    parentId: row.parent_id,
    childKey: row.child_key,
    wait: (decode(row.wait) as WaitSpec | null) ?? null,
    deadLetter: Number(row.dead_letter) === 1,
  };
}

/** The columns a child's roll-up reads, as both stores select them. */
export interface ChildRowBase {
  id: string;
  child_key: string | null;
  name: string;
  state: TaskState;
  weight: number;
  progress: string | null;
}

export function rowToChild(row: ChildRowBase): ChildRow {
  const progress = decode(row.progress) as Progress | null;
  return { id: row.id, key: row.child_key, name: row.name, state: row.state, weight: Number(row.weight), percent: progress?.percent ?? null };
}

export function rowToEvent(row: EventRowBase): StoredEvent {
  return {
    taskId: row.task_id,
    owner: row.owner,
    queue: row.queue,
    seq: row.seq,
    attempt: row.attempt,
    at: row.at,
    data: JSON.parse(row.data) as TaskEventData,
  };
}

/** The columns a final state (or a retry's return to the queue) writes: the result only when succeeded, JSON as text. */
export function finalColumns(change: FinishTransition): { state: string; result: string | null; error: string | null; dead_letter: number } {
  return {
    state: change.state,
    result: change.state === "succeeded" ? encode(change.result) : null,
    error: change.error === null ? null : encode(change.error),
    dead_letter: change.deadLetter ? 1 : 0,
  };
}

/** A `workers` row, as both stores keep it (the lists as JSON text). */
export interface WorkerRow {
  id: string;
  host: string;
  pid: number;
  queues: string;
  started_at: number;
  heartbeat_at: number;
  running: string;
  streams: number | null;
  /** JSON of a remote worker's key ({keyId, keyName}); null for a process. */
  remote: string | null;
}

export function rowToWorker(row: WorkerRow): WorkerHeartbeat {
  return {
    id: row.id,
    host: row.host,
    pid: row.pid,
    queues: JSON.parse(row.queues) as string[],
    startedAt: row.started_at,
    heartbeatAt: row.heartbeat_at,
    running: JSON.parse(row.running) as string[],
    streams: row.streams,
    remote: row.remote === null ? null : (JSON.parse(row.remote) as RemoteWorkerKey),
  };
}

/** A `queues` row as both stores read it: SQLite keeps `paused` as 0/1 and the patches as JSON text, PostgreSQL as boolean and jsonb. */
export interface QueueRowBase {
  name: string;
  concurrency: number | null;
  max_queued: number | null;
  owner_concurrency: number | null;
  owner_max_queued: number | null;
  /** The applied rate limit (core/rate-limit.ts): null when none. */
  rate_limit?: number | null;
  rate_period_ms?: number | string | null;
  rate_keyed?: boolean | number;
  /** The per-key rules as applied (core/key-limits.ts), JSON: null when none. */
  key_rules?: unknown;
  paused: boolean | number;
  declared: unknown;
  overrides: unknown;
}

export function rowToPatches(row: Pick<QueueRowBase, "declared" | "overrides">): StoredPatches {
  const parsed = (value: unknown) => (typeof value === "string" ? (JSON.parse(value) as unknown) : value);
  return { declared: readPatch(parsed(row.declared)), overrides: readPatch(parsed(row.overrides)) };
}

export function rowToQueueSettings(row: QueueRowBase): QueueSettings {
  const stored = rowToPatches(row);
  const patches = { ...stored, limits: effectiveLimits(stored.declared, stored.overrides) };
  return {
    name: row.name,
    paused: row.paused === true || row.paused === 1,
    limits: {
      concurrency: row.concurrency,
      maxQueued: row.max_queued,
      ownerConcurrency: row.owner_concurrency,
      ownerMaxQueued: row.owner_max_queued,
      rateLimit: rowRateLimit(row),
      keyConcurrency: patches.limits.keyConcurrency,
      keyLimits: patches.limits.keyLimits,
    },
    declared: patches.declared,
    overrides: patches.overrides,
  };
}

/** The per-key rules a queue row's claims apply, or null. */
export function rowKeyRules(row: Pick<QueueRowBase, "key_rules">): KeyRules | null {
  return row.key_rules == null ? null : readKeyRules(row.key_rules);
}

/** The per-key rules to store beside a queue's applied limits: JSON text, null when none. */
export function storedKeyRules(limits: QueueLimits): string | null {
  const rules = keyRulesOf(limits);
  return rules === null ? null : JSON.stringify(rules);
}

/** A queue row's applied rate limit, or null. */
export function rowRateLimit(row: Pick<QueueRowBase, "rate_limit" | "rate_period_ms" | "rate_keyed">): RateLimit | null {
  if (row.rate_limit == null || row.rate_period_ms == null) return null;
  return { limit: Number(row.rate_limit), periodMs: Number(row.rate_period_ms), keyed: row.rate_keyed === true || row.rate_keyed === 1 };
}
