import type { StoredEvent, TaskEventData } from "../../core/events.js";
import type { Queryable } from "./sql.js";

/**
 * What a write sees of the transaction it runs in (the batch's, or the
 * application's for a transactional submit). Every write module of this
 * store — submit, claim, worker-writes, admin, waits — takes one.
 */
export interface Tx {
  readonly db: Queryable;
  /**
   * The write appended this event: listeners hear of it at commit. `parentId`
   * is the task's parent (null: none): a change of a child's state or
   * progress marks its parent for settling before the commit (waits.ts).
   */
  event(event: StoredEvent, parentId: string | null): void;
  /** The write made work runnable (or freed a slot) in `queue`. */
  touch(queue: string): void;
  /** Scratch space for the length of one transaction (cached counts). */
  readonly memo: Map<string, number>;
  /** Parents whose children changed in this transaction: settled before it commits (waits.ts). */
  readonly dirtyParents: Set<string>;
  /** The latest time of the transaction's events: the time its parents are settled at. */
  latest(): number;
}

/** A Tx over `db` whose events and touched queues go to the given sinks. */
export function makeTx(db: Queryable, onEvent: (event: StoredEvent) => void, onTouch: (queue: string) => void): Tx {
  const dirtyParents = new Set<string>();
  let latest = -Infinity;
  return {
    db,
    memo: new Map(),
    dirtyParents,
    event(event, parentId) {
      if (parentId !== null && event.data.type !== "log" && event.data.type !== "step") dirtyParents.add(parentId);
      if (event.at > latest) latest = event.at;
      onEvent(event);
    },
    touch: onTouch,
    latest: () => latest,
  };
}

/** What a write's statement returns about each task row it changed. */
export interface Written {
  id: string;
  owner: string;
  queue: string;
  last_seq: number;
  attempt: number;
  parent_id: string | null;
}

/** The columns of `Written`, for a RETURNING list on a `tasks` row aliased `t`. */
export const WRITTEN = "t.id, t.owner, t.queue, t.last_seq, t.attempt, t.parent_id";

/** The fencing condition of every worker write, on a `tasks` row aliased `t` and an input row `i` (id, token, now). */
export const FENCE = "t.id = i.id AND t.lease_token = i.token AND t.state = 'running' AND t.lease_expires_at >= i.now";

/** An event as delivered, for a task row's routing fields. */
export function storedEvent(task: { id: string; owner: string; queue: string }, seq: number, attempt: number, at: number, data: TaskEventData): StoredEvent {
  return { taskId: task.id, owner: task.owner, queue: task.queue, seq, attempt, at, data };
}
