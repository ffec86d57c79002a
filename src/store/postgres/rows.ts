import type { StoredEvent, TaskEventData } from "../../core/events.js";
import type { TaskState } from "../../core/states.js";
import type { EventRowBase } from "../task-row.js";

export { decode, encode, rowToEvent, rowToTask, type TaskRow } from "../task-row.js";

/** A `task_events` row as our queries return it. */
export type EventRow = EventRowBase;

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
