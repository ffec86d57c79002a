import type { StoredEvent, TaskEventData } from "../../core/events.js";
import type { Progress } from "../../core/progress.js";
import type { TaskState } from "../../core/states.js";
import type { TaskError, TaskRecord } from "../../core/task.js";

/** A `tasks` row as our queries return it (int8 already read as number). */
export interface TaskRow {
  seq: number;
  id: string;
  name: string;
  queue: string;
  owner: string;
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
  cancel_requested: boolean;
  worker_id: string | null;
  lease_token: number;
  lease_expires_at: number | null;
}

export interface EventRow {
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
    cancelRequested: row.cancel_requested,
    workerId: row.worker_id,
    leaseExpiresAt: row.lease_expires_at,
  };
}

export function rowToEvent(row: EventRow): StoredEvent {
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

type StateExtra = Omit<Extract<TaskEventData, { type: "state" }>, "type" | "state">;

/** A state event's data. */
export function stateEvent(state: TaskState, extra: StateExtra = {}): TaskEventData {
  return { type: "state", state, ...extra };
}

/** The JSON of a state event, as stored in `task_events.data`. */
export function stateEventJson(state: TaskState, extra: StateExtra = {}): string {
  return JSON.stringify(stateEvent(state, extra));
}

/** An event as delivered, for a task row's routing fields. */
export function storedEvent(
  task: { id: string; owner: string; queue: string },
  seq: number,
  attempt: number,
  at: number,
  data: TaskEventData,
): StoredEvent {
  return { taskId: task.id, owner: task.owner, queue: task.queue, seq, attempt, at, data };
}
