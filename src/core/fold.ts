import type { TaskEvent } from "./events.js";
import type { Task } from "./task.js";
import { isDeadLetter } from "./dead-letters.js";

/**
 * A task after one more event of its log: the one rule of how events change
 * a task, used by the browser client to keep its copy current and checked by
 * the store contract (folding a task's log from seq 1 gives what the store
 * holds). An event at or below the task's `lastSeq` changes nothing.
 * `position`, `etaMs` and `remainingMs` are the server's estimates: an
 * event can only end them (once the task leaves the state they belong to);
 * a reader refreshes them by reading the task again.
 */
export function applyEvent<T extends Task>(task: T, event: TaskEvent): T {
  if (event.seq <= task.lastSeq) return task;
  // Any event says the task moved on: a lost worker's task was taken again, or its worker is back.
  const next: T = { ...task, lastSeq: event.seq, attempt: event.attempt, workerLost: false };
  if (event.type === "progress") next.progress = event.progress;
  if (event.type !== "state") return next;

  next.state = event.state;
  if (event.state !== "queued") {
    next.position = null;
    next.etaMs = null;
  }
  if (event.state !== "running") next.remainingMs = null;
  next.waitingFor = event.state === "waiting" ? (event.waitingFor ?? null) : null;
  next.deadLetter = isDeadLetter(event.state, event.error);
  switch (event.state) {
    case "queued":
      next.finishedAt = null;
      if (event.reason === undefined) {
        // A task's first event: a delayed one says when it may run.
        if (event.runAt !== undefined) next.runAt = event.runAt;
      } else if (event.reason === "replaced") {
        // A newer submit of its dedupe key took its place (core/dedupe.ts): still queued, never started, at the event's runAt.
        if (event.runAt !== undefined) next.runAt = event.runAt;
      } else if (task.state === "running" && event.reason === "retry") {
        // Back off after a failed attempt: its error stays on show, and the next attempt waits until runAt.
        if (event.error !== undefined) next.error = event.error;
        next.runAt = event.runAt ?? event.at;
      } else {
        // Handed back (released, lease lost) or run again after it ended (resumed, retried): runnable now, clean.
        next.error = null;
        next.runAt = event.at;
        if (task.state === "failed" || task.state === "canceled" || task.state === "succeeded") next.result = null;
        if (event.maxAttempts !== undefined) next.maxAttempts = event.maxAttempts;
        if (event.reason === "restarted") next.progress = {};
      }
      break;
    case "running":
      next.startedAt = event.at;
      break;
    case "waiting":
      // A group run again (retry, resume) waits for its children again: its end is undone, as a queued rerun's.
      if (event.reason !== undefined) {
        next.finishedAt = null;
        next.error = null;
        next.result = null;
        if (event.maxAttempts !== undefined) next.maxAttempts = event.maxAttempts;
      }
      break;
    default:
      next.finishedAt = event.at;
      next.result = event.state === "succeeded" ? (event.result ?? null) : null;
      next.error = event.error ?? null;
  }
  return next;
}

/**
 * The newer of two copies of one task (by `lastSeq`), with the estimates
 * (`position`, `etaMs`, `remainingMs`) of `read`, the copy the server
 * answered most recently: events never carry estimates, so a copy folded
 * further from a stream keeps those of the last read while it stays in the
 * same state. A page passes a read as `read`, and for a task from the stream
 * passes its previous copy as `read`.
 */
export function newerCopy<T extends Task>(task: T, read: T): T {
  if (read.lastSeq >= task.lastSeq) return read;
  if (task.state !== read.state) return task;
  return { ...task, position: read.position, etaMs: read.etaMs, remainingMs: read.remainingMs };
}
