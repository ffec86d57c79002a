import { endTransition, finishTransition, waitTransition, WOKEN_EVENT } from "../../core/transitions.js";
import { isFinal } from "../../core/states.js";
import type { TaskRecord } from "../../core/task.js";
import type { Progress } from "../../core/progress.js";
import {
  childrenDecision,
  SIGNAL_TIMED_OUT,
  signalReceived,
  wakeAt,
  type WaitSpec,
} from "../../core/waits.js";
import { childOutcome, groupOutcomes, parentSettlement, readWait, thenRequest } from "../group-rows.js";
import { EXPIRY_BATCH, type Lease, type SignalOutcome, type SubmitOutcome, type SubmitRequest } from "../store.js";
import { rowToChild } from "../task-row.js";
import { decode, encode, rowToTask, type TaskRow } from "./rows.js";
import type { SqliteSubmits } from "./submit.js";
import type { SqliteTx } from "./tx.js";
import type { SqliteWorkerWrites } from "./worker-writes.js";

/** The error of a task canceled while its handler ran, as the engine writes it. */
const CANCELED = { message: "Canceled", code: "canceled" };

type Row = Pick<TaskRow, "id" | "owner" | "queue" | "parent_id" | "last_seq" | "attempt">;

/** Children, groups and durable waits (core/waits.ts) in SQLite's statements. */
export class SqliteWaits {
  constructor(
    private readonly tx: SqliteTx,
    private readonly submits: SqliteSubmits,
    private readonly workerWrites: SqliteWorkerWrites,
  ) {}

  /** A handler waits: its slot is given back, unless what it waits for is already there. */
  suspend(lease: Lease, wait: WaitSpec, now: number): boolean {
    const row = this.tx.fenced(lease, now);
    if (!row) return false;
    const sql = this.tx.sql;
    // A cancel asked while it ran is carried out now: waiting would leave it unseen until the task runs again.
    const full = sql.byId.get(row.id)!;
    if (full.cancel_requested === 1) {
      this.workerWrites.end(full, endTransition("canceled", CANCELED), now);
      this.tx.touch(row.queue, now);
      this.cancelChildren(row.id, now);
      return true;
    }
    if (wait.kind === "signal") {
      const kept = sql.firstSignal.get(row.id, wait.name);
      if (kept) {
        sql.deleteSignal.run(kept.id);
        return this.backNow(row, this.recordStep(row, wait.step, signalReceived(decode(kept.payload)), now), now);
      }
    } else if (wait.kind === "sleep" && wait.until <= now) {
      return this.backNow(row, this.recordStep(row, wait.step, null, now), now);
    } else if (wait.kind === "children") {
      const decision = childrenDecision(wait, sql.childRows.all(row.id).map(rowToChild));
      if (decision.kind === "wake") {
        for (const id of decision.cancel) this.cancelTree(id, now);
        return this.backNow(row, row.last_seq, now);
      }
    }
    const seq = row.last_seq + 1;
    sql.suspend.run({ id: row.id, seq, wait: JSON.stringify(wait), wake_at: wakeAt(wait) });
    this.tx.event(row, seq, row.attempt, now, waitTransition(wait));
    this.tx.touch(row.queue, now); // its slot is free
    // Its bar becomes its children's now, not at their next change.
    if (wait.kind === "children") this.tx.dirtyParents.add(row.id);
    return true;
  }

  signal(taskId: string, name: string, payload: unknown, now: number): SignalOutcome {
    const sql = this.tx.sql;
    const row = sql.byId.get(taskId);
    if (!row) return { kind: "missing" };
    if (isFinal(row.state)) return { kind: "final", task: rowToTask(row) };
    const wait = row.state === "waiting" ? readWait(row) : null;
    if (wait?.kind === "signal" && wait.name === name) {
      this.wake(row, this.recordStep(row, wait.step, signalReceived(payload), now), now);
      return { kind: "delivered", task: rowToTask(sql.byId.get(taskId)!) };
    }
    sql.insertSignal.run(taskId, name, encode(payload), now);
    return { kind: "kept", task: rowToTask(row) };
  }

  wakeDue(now: number): number {
    const due = this.tx.sql.dueWakes.all(now, EXPIRY_BATCH);
    for (const row of due) {
      const wait = readWait(row);
      if (wait?.kind === "sleep") this.wake(row, this.recordStep(row, wait.step, null, now), now);
      else if (wait?.kind === "signal") this.wake(row, this.recordStep(row, wait.step, SIGNAL_TIMED_OUT, now), now);
    }
    return due.length;
  }

  submitChildren(parentId: string, requests: readonly SubmitRequest[], now: number): TaskRecord[] {
    const sql = this.tx.sql;
    const found = requests.map((request) => (request.parent ? sql.childByKey.get(parentId, request.parent.key) : undefined));
    const fresh = requests.filter((_, i) => found[i] === undefined);
    const created = this.submits.allNew(fresh, now);
    if (created.length > 0) sql.addChildren.run(created.length, parentId);
    // Submitted by a run that is being canceled (its worker has not heard yet): they end with it.
    if (created.length > 0 && sql.byId.get(parentId)?.cancel_requested === 1) {
      for (const child of created) this.cancelTree(child.id, now);
      return requests.map((request) => rowToTask(sql.childByKey.get(parentId, request.parent!.key)!));
    }
    let next = 0;
    return found.map((row) => (row ? rowToTask(row) : created[next++]!));
  }

  submitGroup(group: SubmitRequest, children: readonly SubmitRequest[], now: number): SubmitOutcome {
    // A refusal comes before any write (refusal.ts): the children must fit before the group is stored.
    const known = group.idempotencyKey !== null && this.tx.sql.byIdempotencyKey.get(group.owner, group.name, group.idempotencyKey) !== undefined;
    if (!known) this.submits.checkFits(children);
    const outcome = this.submits.one(group, now);
    if (outcome.kind !== "created") return outcome;
    this.submits.allNew(children, now);
    this.tx.sql.addChildren.run(children.length, group.id);
    return outcome;
  }

  children(parentId: string): TaskRecord[] {
    return this.tx.sql.childrenOf.all(parentId).map(rowToTask);
  }

  /**
   * Cancel a task and its unfinished descendants: a queued or waiting one
   * at once, a running one flagged for its worker.
   */
  cancelTree(id: string, now: number): void {
    const sql = this.tx.sql;
    const row = sql.byId.get(id);
    if (!row || isFinal(row.state)) return;
    if (row.state === "running") sql.requestCancel.run(id);
    else {
      this.workerWrites.end(row, endTransition("canceled", null), now);
      this.tx.touch(row.queue, now);
    }
    if (row.children > 0) this.cancelChildren(id, now);
  }

  private cancelChildren(id: string, now: number): void {
    for (const child of this.tx.sql.childrenOf.all(id)) if (!isFinal(child.state)) this.cancelTree(child.id, now);
  }

  /**
   * Before a batch commits: each parent whose children changed gets its
   * rolled-up progress, and a waiting one its wake or its end. Settling one
   * may change another (a group inside a group), so this runs until none is left.
   */
  settle(): void {
    const now = this.tx.latest;
    for (let round = 0; this.tx.dirtyParents.size > 0 && round < 100; round++) {
      const ids = [...this.tx.dirtyParents];
      this.tx.dirtyParents.clear();
      for (const id of ids) this.settleParent(id, now);
    }
  }

  private settleParent(id: string, now: number): void {
    const sql = this.tx.sql;
    let row = sql.byId.get(id);
    if (!row || isFinal(row.state)) return;
    const children = sql.childRows.all(id).map(rowToChild);
    const { progress, decision } = parentSettlement(row, children);
    if (progress) {
      this.writeProgress(row, progress.value, progress.text, now);
      row = sql.byId.get(id)!;
    }
    const wait = readWait(row);
    if (!decision || !wait) return;
    switch (decision.kind) {
      case "wait":
        return;
      case "wake":
        for (const child of decision.cancel) this.cancelTree(child, now);
        this.wake(row, row.last_seq, now);
        return;
      case "fail":
        for (const child of decision.cancel) this.cancelTree(child, now);
        this.workerWrites.end(sql.byId.get(id)!, endTransition("failed", decision.error), now);
        return;
      case "succeed": {
        const rows = sql.childrenOf.all(id);
        const then = decision.then === null ? undefined : rows.find((r) => r.id === decision.then);
        const result = then ? childOutcome(then).result : { children: groupOutcomes(rows) };
        this.workerWrites.end(row, finishTransition({ state: "succeeded", result }), now);
        return;
      }
      case "then": {
        if (wait.kind !== "group" || wait.then === null) return;
        this.submits.insert(thenRequest(row, wait.then, groupOutcomes(sql.childrenOf.all(id)), now), now);
        sql.addChildren.run(1, id);
        return;
      }
    }
  }

  /** A parent's progress event; like a worker's, it replaces the one before it. */
  private writeProgress(row: TaskRow, progress: Progress, text: string, now: number): void {
    const seq = row.last_seq + 1;
    this.tx.sql.setProgress.run({ id: row.id, progress: text, seq });
    if (row.progress_seq !== null) this.tx.sql.deleteEvent.run(row.id, row.progress_seq);
    this.tx.event(row, seq, row.attempt, now, { type: "progress", progress });
  }

  /** Record a wait's step outside a lease (a signal, the clock); answers the task's last seq after it. */
  private recordStep(row: Row, name: string, value: unknown, now: number): number {
    const seq = row.last_seq + 1;
    this.tx.sql.insertStep.run(row.id, name, encode(value), row.attempt, now);
    this.tx.sql.bumpSeq.run(seq, row.id);
    this.tx.event(row, seq, row.attempt, now, { type: "step", name });
    return seq;
  }

  /** A waiting task queued again; `lastSeq` is its last seq so far. */
  private wake(row: Row, lastSeq: number, now: number): void {
    const seq = lastSeq + 1;
    this.tx.sql.wake.run({ id: row.id, seq, now });
    this.tx.event(row, seq, Math.max(row.attempt - 1, 0), now, WOKEN_EVENT);
    this.tx.touch(row.queue, now);
  }

  /** A running task whose wait is already over goes straight back to the queue, its attempt given back. */
  private backNow(row: Row, lastSeq: number, now: number): boolean {
    const seq = lastSeq + 1;
    this.tx.sql.backToQueue.run({ id: row.id, seq, run_at: now, now, error: null, attempt_delta: 1, lease_expiries: 0 });
    this.tx.event(row, seq, row.attempt - 1, now, WOKEN_EVENT);
    this.tx.touch(row.queue, now);
    return true;
  }
}
