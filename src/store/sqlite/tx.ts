import type { TaskEventData } from "../../core/events.js";
import { nextTurn } from "../../core/turns.js";
import type { Lease } from "../store.js";
import type { EventFeed, LocalEvent } from "./feed.js";
import type { TaskRow } from "./rows.js";
import type { Fenced, QueueRow, Statements } from "./statements.js";
import type { WriteBatch } from "./write-batch.js";
import { FinishedCounts } from "./finished-counts.js";

/**
 * What the writes of one group commit share: the prepared statements, the
 * batch's scratch space and touched queues, and the events they appended
 * (for the feed). Every write function of this store runs inside
 * `WriteBatch.write` and reaches the database through this.
 */
export class SqliteTx {
  /** Events appended by the batch being written, for the feed. */
  appended: LocalEvent[] = [];
  /** Parents whose children changed in this batch: settled before it commits (sqlite/waits.ts). */
  dirtyParents = new Set<string>();
  /** The latest `now` of the batch's writes: the time its parents are settled at. */
  latest = -Infinity;
  /** Finished tasks gained and lost by the batch's writes; every write that finishes, reruns or deletes a task adds to it. */
  readonly finished: FinishedCounts;

  constructor(
    readonly sql: Statements,
    private readonly batch: WriteBatch,
    private readonly feed: EventFeed,
  ) {
    this.finished = new FinishedCounts(sql.addStateCount);
  }

  /** The write (made at `now`) made work runnable, or freed a slot, in `queue`. */
  touch(queue: string, now: number): void {
    this.batch.touch(queue, now);
  }

  /** Append an event; a child's change of state or progress marks its parent for settling. */
  event(task: Pick<TaskRow, "id" | "owner" | "queue" | "parent_id">, seq: number, attempt: number, now: number, data: TaskEventData): void {
    if (task.parent_id !== null && data.type !== "log" && data.type !== "step") this.dirtyParents.add(task.parent_id);
    if (now > this.latest) this.latest = now;
    const { lastInsertRowid } = this.sql.insertEvent.run(task.id, task.owner, task.queue, seq, data.type, attempt, now, JSON.stringify(data));
    if (this.feed.wantsEvents) {
      this.appended.push({ id: Number(lastInsertRowid), event: { taskId: task.id, owner: task.owner, queue: task.queue, seq, attempt, at: now, data } });
    }
  }

  /** The task row if `lease` still holds it at `now`; the fencing check of every worker write. */
  fenced(lease: Lease, now: number): Fenced | undefined {
    const row = this.sql.fence.get(lease.taskId);
    if (!row || row.state !== "running" || row.lease_token !== lease.token) return undefined;
    if (row.lease_expires_at === null || row.lease_expires_at < now) return undefined;
    return row;
  }

  /** A queue's limits, read once per group commit (writes that change them call `forgetQueue`). */
  queueConfig(name: string): QueueRow | undefined {
    const key = `c\0${name}`;
    const memo = this.batch.memo;
    if (memo.has(key)) return memo.get(key) as QueueRow | undefined;
    const row = this.sql.queue.get(name);
    memo.set(key, row);
    return row;
  }

  forgetQueue(name: string): void {
    this.batch.memo.delete(`c\0${name}`);
  }

  // Counts are cached for the length of one group commit so a burst of
  // submits costs one index count per queue, not one per submit.
  queuedCount(queue: string, owner: string | null): number {
    const key = owner === null ? `q\0${queue}` : `o\0${queue}\0${owner}`;
    const memo = this.batch.memo;
    let n = memo.get(key) as number | undefined;
    if (n === undefined) {
      n = owner === null ? this.sql.countQueued.get(queue)!.n : this.sql.countOwnerQueued.get(queue, owner)!.n;
      memo.set(key, n);
    }
    return n;
  }

  /**
   * The turn of a task of concurrency key `key` (core/key-limits.ts: its
   * owner, unless its queue keys otherwise) queued now at `priority`
   * (core/turns.ts), read once per group commit and counted on, so a burst
   * costs two index reads per key, not per task.
   */
  turnFor(queue: string, key: string, priority: number): number {
    const memo = this.batch.memo;
    const ownerKey = `t\0${queue}\0${key}`;
    const roundKey = `r\0${queue}\0${priority}`;
    let last = memo.get(ownerKey) as number | null | undefined;
    if (last === undefined) last = this.sql.keyLastTurn.get(queue, key)?.t ?? null;
    let round = memo.get(roundKey) as number | null | undefined;
    if (round === undefined) memo.set(roundKey, (round = this.sql.roundAt.get(queue, priority)?.t ?? null));
    const turn = nextTurn(last, round);
    memo.set(ownerKey, turn);
    return turn;
  }

  /** Keep the cached counts true after adding a queued task. */
  countQueued(queue: string, owner: string): void {
    const memo = this.batch.memo;
    for (const key of [`q\0${queue}`, `o\0${queue}\0${owner}`]) {
      const n = memo.get(key) as number | undefined;
      if (n !== undefined) memo.set(key, n + 1);
    }
  }
}
