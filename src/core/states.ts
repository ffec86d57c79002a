/** The lifecycle of a task. See the glossary in README.md. */
export type TaskState = "queued" | "running" | "waiting" | "succeeded" | "failed" | "canceled";

export const TASK_STATES: readonly TaskState[] = ["queued", "running", "waiting", "succeeded", "failed", "canceled"];

export type FinalState = Extract<TaskState, "succeeded" | "failed" | "canceled">;

const LEGAL: Readonly<Record<TaskState, readonly TaskState[]>> = {
  // queued → canceled: a cancel before any worker took it.
  queued: ["running", "canceled"],
  // running → queued: a retry after backoff, a released lease, or a lost one.
  // running → waiting: the handler waits (children, a sleep, a signal) and gives its slot back.
  running: ["queued", "waiting", "succeeded", "failed", "canceled"],
  // waiting → queued: what it waited for happened; → succeeded/failed: a group's children ended (core/waits.ts).
  waiting: ["queued", "succeeded", "failed", "canceled"],
  succeeded: [],
  // failed/canceled → queued: a resume (idempotent resubmit or explicit retry); → waiting: a group's.
  failed: ["queued", "waiting"],
  canceled: ["queued", "waiting"],
};

export function canTransition(from: TaskState, to: TaskState): boolean {
  return LEGAL[from].includes(to);
}

export function isFinal(state: TaskState): state is FinalState {
  return state === "succeeded" || state === "failed" || state === "canceled";
}

export function isTaskState(value: unknown): value is TaskState {
  return typeof value === "string" && (TASK_STATES as readonly string[]).includes(value);
}
