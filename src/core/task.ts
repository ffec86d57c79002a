import type { Progress } from "./progress.js";
import type { TaskState } from "./states.js";
import { waitingFor, type WaitingFor, type WaitSpec } from "./waits.js";

/** How a failed task's error is kept and shown. */
export interface TaskError {
  message: string;
  code?: string;
  /**
   * The handler threw UnrecoverableError: running it again from its steps
   * cannot help, so a submit with the task's idempotency key starts it over.
   */
  unrecoverable?: true;
}

/**
 * A task as the store holds it. Times are milliseconds since the epoch; the
 * public {@link Task} turns them into ISO strings.
 */
export interface TaskRecord {
  id: string;
  name: string;
  queue: string;
  owner: string;
  /** What the task is about, for people (`title` at submit, or `ctx.setTitle`); null when none was given. */
  title: string | null;
  state: TaskState;
  priority: number;
  /** Attempts started so far (0 while it has never run). */
  attempt: number;
  maxAttempts: number;
  timeoutMs: number | null;
  input: unknown;
  progress: Progress | null;
  result: unknown;
  error: TaskError | null;
  checkpoint: unknown;
  idempotencyKey: string | null;
  createdAt: number;
  runAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  lastSeq: number;
  cancelRequested: boolean;
  workerId: string | null;
  leaseExpiresAt: number | null;
  /** The task that submitted this one as a child (or the group it belongs to), else null. */
  parentId: string | null;
  /** Its key among its parent's children (unique there), else null. */
  childKey: string | null;
  /** What it waits for while `waiting` (core/waits.ts), else null. */
  wait: WaitSpec | null;
  /** Failed and kept for an operator to redrive or purge (core/dead-letters.ts). */
  deadLetter: boolean;
}

/** A task as the library and the HTTP API show it (API.md, "The task object"). */
export interface Task<Result = unknown> {
  id: string;
  name: string;
  queue: string;
  owner: string;
  /** What the task is about (core/title.ts), or null. */
  title: string | null;
  state: TaskState;
  priority: number;
  attempt: number;
  maxAttempts: number;
  progress: Progress;
  /** 1-based place among the queue's runnable tasks while queued, else null. */
  position: number | null;
  /** Estimated milliseconds until it finishes, while queued, else null. */
  etaMs: number | null;
  /**
   * Estimated milliseconds until it finishes, while running, else null: from
   * its progress rate, or the queue's mean run time before it reports any
   * (an extension of v1, docs/api-extensions.md).
   */
  remainingMs: number | null;
  /**
   * Running, but its worker stopped renewing the lease (it died or lost the
   * database): the task is taken again shortly, from its recorded steps.
   */
  workerLost: boolean;
  /** What the handler returned, once succeeded; else null. */
  result: Result | null;
  error: TaskError | null;
  createdAt: string;
  runAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  lastSeq: number;
  /** The parent task (or group) this one is a child of, else null. */
  parentId: string | null;
  /** Its key among its parent's children, else null. */
  childKey: string | null;
  /** What it waits for while `waiting`, else null. */
  waitingFor: WaitingFor | null;
  /** Failed and kept for an operator to redrive or purge (every failure but a parent's `child_failed`). */
  deadLetter: boolean;
}

export function toIso(ms: number): string;
export function toIso(ms: number | null): string | null;
export function toIso(ms: number | null): string | null {
  if (ms === null) return null;
  // Bursts share their milliseconds (a task's createdAt and runAt, a batch's events): formatting is the cost here.
  if (ms !== lastIso.ms) {
    lastIso.ms = ms;
    lastIso.text = new Date(ms).toISOString();
  }
  return lastIso.text;
}

const lastIso = { ms: Number.NaN, text: "" };

/** The estimates the engine adds to a stored task (engine/presenter.ts); each is kept only in the state it belongs to. */
export interface TaskEstimates {
  position?: number | null;
  etaMs?: number | null;
  remainingMs?: number | null;
  workerLost?: boolean;
}

export function toPublicTask(record: TaskRecord, estimates: TaskEstimates = {}): Task {
  return {
    id: record.id,
    name: record.name,
    queue: record.queue,
    owner: record.owner,
    title: record.title,
    state: record.state,
    priority: record.priority,
    attempt: record.attempt,
    maxAttempts: record.maxAttempts,
    progress: record.progress ?? {},
    position: record.state === "queued" ? (estimates.position ?? null) : null,
    etaMs: record.state === "queued" ? (estimates.etaMs ?? null) : null,
    remainingMs: record.state === "running" ? (estimates.remainingMs ?? null) : null,
    workerLost: record.state === "running" && estimates.workerLost === true,
    result: record.result ?? null,
    error: record.error,
    createdAt: toIso(record.createdAt),
    runAt: toIso(record.runAt),
    startedAt: toIso(record.startedAt),
    finishedAt: toIso(record.finishedAt),
    lastSeq: record.lastSeq,
    parentId: record.parentId,
    childKey: record.childKey,
    waitingFor: record.state === "waiting" && record.wait !== null ? waitingFor(record.wait) : null,
    deadLetter: record.deadLetter,
  };
}
