import type { StoredEvent, TaskEventData } from "../../core/events.js";
import type { Queryable } from "./sql.js";

/**
 * What a write sees of the transaction it runs in (the batch's, or the
 * application's for a transactional submit). Every write module of this
 * store — submit, claim, worker-writes, admin — takes one.
 */
export interface Tx {
  readonly db: Queryable;
  /** The write appended this event: listeners hear of it at commit. */
  event(event: StoredEvent): void;
  /** The write made work runnable (or freed a slot) in `queue`. */
  touch(queue: string): void;
  /** Scratch space for the length of one transaction (cached counts). */
  readonly memo: Map<string, number>;
}

/** What a write's statement returns about each task row it changed. */
export interface Written {
  id: string;
  owner: string;
  queue: string;
  last_seq: number;
  attempt: number;
}

/** The fencing condition of every worker write, on a `tasks` row aliased `t` and an input row `i` (id, token, now). */
export const FENCE = "t.id = i.id AND t.lease_token = i.token AND t.state = 'running' AND t.lease_expires_at >= i.now";

/** An event as delivered, for a task row's routing fields. */
export function storedEvent(task: { id: string; owner: string; queue: string }, seq: number, attempt: number, at: number, data: TaskEventData): StoredEvent {
  return { taskId: task.id, owner: task.owner, queue: task.queue, seq, attempt, at, data };
}
