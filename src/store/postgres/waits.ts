import type { TaskEventData } from "../../core/events.js";
import type { Progress } from "../../core/progress.js";
import { isFinal } from "../../core/states.js";
import type { TaskRecord } from "../../core/task.js";
import { endTransition, finishTransition, waitTransition, WOKEN_EVENT } from "../../core/transitions.js";
import { childrenDecision, SIGNAL_TIMED_OUT, signalReceived, wakeAt, type ChildRow, type WaitSpec } from "../../core/waits.js";
import { childOutcome, groupOutcomes, parentSettlement, readWait, thenRequest } from "../group-rows.js";
import { EXPIRY_BATCH, type Lease, type SignalOutcome, type SubmitOutcome, type SubmitRequest } from "../store.js";
import { rowToChild, type ChildRowBase } from "../task-row.js";
import { decode, encode, rowToTask, type TaskRow } from "./rows.js";
import { rows } from "./sql.js";
import type { PgSubmits } from "./submit.js";
import { FENCE, storedEvent, WRITTEN, type Tx, type Written } from "./tx.js";
import type { PgWorkerWrites } from "./worker-writes.js";

/** The error of a task canceled while its handler ran, as the engine writes it. */
const CANCELED = { message: "Canceled", code: "canceled" };

/** Rounds of settling before a commit: a group inside a group settles its parent in the next round. */
const MAX_SETTLE_ROUNDS = 100;

/**
 * Children, groups and durable waits (core/waits.ts) in PostgreSQL's
 * statements, for one schema: the same rules as SqliteWaits.
 *
 * Concurrency: a child's change settles its parent in the same transaction
 * (`settle`, just before COMMIT), and transactions on other connections do
 * the same at once. Whoever settles a parent first locks its row, and only
 * then reads its children, in a statement of its own: under READ COMMITTED
 * that statement's snapshot is taken after the lock was granted, so it sees
 * every child change committed by the transaction that held the lock
 * before. Two transactions that end a parent's last two children therefore
 * cannot both see the other still running: the second to lock sees both
 * ended. The same holds for a handler that starts waiting (`suspend`) and a
 * signal sent meanwhile (`signal`): both lock the task row first.
 */
export class PgWaits {
  constructor(
    private readonly s: string,
    private readonly submits: PgSubmits,
    private readonly workerWrites: PgWorkerWrites,
  ) {}

  /** A handler waits: its slot is given back, unless what it waits for is already there. */
  async suspend(tx: Tx, lease: Lease, wait: WaitSpec, now: number): Promise<boolean> {
    const [row] = await rows<TaskRow>(
      tx.db,
      `SELECT t.* FROM ${this.s}.tasks t, (SELECT $1::text AS id, $2::bigint AS token, $3::bigint AS now) i WHERE ${FENCE} FOR UPDATE OF t`,
      [lease.taskId, lease.token, now],
    );
    if (!row) return false;
    // A cancel asked while it ran is carried out now: waiting would leave it unseen until the task runs again.
    if (row.cancel_requested === true) {
      await this.workerWrites.end(tx, row, endTransition("canceled", CANCELED), now);
      tx.touch(row.queue);
      await this.cancelChildren(tx, row.id, now);
      return true;
    }
    if (wait.kind === "signal") {
      // The row lock orders this against a signal sent meanwhile (which locks it too).
      const [kept] = await rows<{ payload: string }>(
        tx.db,
        `DELETE FROM ${this.s}.task_signals WHERE id = (
           SELECT id FROM ${this.s}.task_signals WHERE task_id = $1 AND name = $2 ORDER BY id LIMIT 1
         ) RETURNING payload`,
        [row.id, wait.name],
      );
      if (kept) {
        await this.recordStep(tx, row.id, wait.step, signalReceived(decode(kept.payload)), now);
        return this.backNow(tx, row, now);
      }
    } else if (wait.kind === "sleep" && wait.until <= now) {
      await this.recordStep(tx, row.id, wait.step, null, now);
      return this.backNow(tx, row, now);
    } else if (wait.kind === "children") {
      const children = (await this.childRows(tx, [row.id])).get(row.id) ?? [];
      const decision = childrenDecision(wait, children);
      if (decision.kind === "wake") {
        for (const id of decision.cancel) await this.cancelTree(tx, id, now);
        return this.backNow(tx, row, now);
      }
    }
    await this.change(
      tx,
      row.id,
      `state = 'waiting', wait = $5, wake_at = $6, turn = NULL, worker_id = NULL, lease_expires_at = NULL, lease_expiries = 0`,
      [JSON.stringify(wait), wakeAt(wait)],
      waitTransition(wait),
      now,
    );
    tx.touch(row.queue); // its slot is free
    // Its bar becomes its children's now, not at their next change.
    if (wait.kind === "children") tx.dirtyParents.add(row.id);
    return true;
  }

  async signal(tx: Tx, taskId: string, name: string, payload: unknown, now: number): Promise<SignalOutcome> {
    const [row] = await rows<TaskRow>(tx.db, `SELECT * FROM ${this.s}.tasks WHERE id = $1 FOR UPDATE`, [taskId]);
    if (!row) return { kind: "missing" };
    if (isFinal(row.state)) return { kind: "final", task: rowToTask(row) };
    const wait = row.state === "waiting" ? readWait(row) : null;
    if (wait?.kind === "signal" && wait.name === name) {
      await this.recordStep(tx, row.id, wait.step, signalReceived(payload), now);
      await this.wake(tx, row, now);
      return { kind: "delivered", task: rowToTask((await this.byId(tx, taskId))!) };
    }
    await rows(tx.db, `INSERT INTO ${this.s}.task_signals(task_id, name, payload, at) VALUES ($1, $2, $3, $4)`, [taskId, name, encode(payload), now]);
    return { kind: "kept", task: rowToTask(row) };
  }

  /** Wake waiting tasks whose sleep ended or whose signal timed out; ones another node is waking are left to it. */
  async wakeDue(tx: Tx, now: number): Promise<number> {
    const due = await rows<TaskRow>(
      tx.db,
      `SELECT t.* FROM ${this.s}.active a JOIN ${this.s}.tasks t ON t.seq = a.seq
       WHERE a.state = 'waiting' AND a.wake_at <= $1 AND t.state = 'waiting' AND t.wake_at <= $1
       ORDER BY t.wake_at, t.id LIMIT $2 FOR UPDATE OF t SKIP LOCKED`,
      [now, EXPIRY_BATCH],
    );
    for (const row of due) {
      const wait = readWait(row);
      if (wait?.kind === "sleep") {
        await this.recordStep(tx, row.id, wait.step, null, now);
        await this.wake(tx, row, now);
      } else if (wait?.kind === "signal") {
        await this.recordStep(tx, row.id, wait.step, SIGNAL_TIMED_OUT, now);
        await this.wake(tx, row, now);
      }
    }
    return due.length;
  }

  async submitChildren(tx: Tx, parentId: string, requests: readonly SubmitRequest[], now: number): Promise<TaskRecord[]> {
    // The parent's row lock: two submits of one parent's children (a handler run twice) see each other's keys.
    const [parent] = await rows<{ cancel_requested: boolean }>(tx.db, `SELECT cancel_requested FROM ${this.s}.tasks WHERE id = $1 FOR UPDATE`, [parentId]);
    const keys = requests.flatMap((request) => (request.parent ? [request.parent.key] : []));
    const existing =
      keys.length === 0
        ? []
        : await rows<TaskRow>(tx.db, `SELECT * FROM ${this.s}.tasks WHERE parent_id = $1 AND child_key = ANY ($2::text[])`, [parentId, keys]);
    const byKey = new Map(existing.map((row) => [row.child_key!, row]));
    const found = requests.map((request) => (request.parent ? byKey.get(request.parent.key) : undefined));
    const fresh = requests.filter((_, i) => found[i] === undefined);
    const created = await this.submits.allNew(tx, fresh, now);
    if (created.length > 0) await this.addChildren(tx, parentId, created.length);
    // Submitted by a run that is being canceled (its worker has not heard yet): they end with it.
    if (created.length > 0 && parent?.cancel_requested === true) {
      for (const child of created) await this.cancelTree(tx, child.id, now);
      const after = await rows<TaskRow>(tx.db, `SELECT * FROM ${this.s}.tasks WHERE parent_id = $1 AND child_key = ANY ($2::text[])`, [parentId, keys]);
      const byKeyAfter = new Map(after.map((row) => [row.child_key!, row]));
      return requests.map((request) => rowToTask(byKeyAfter.get(request.parent!.key)!));
    }
    let next = 0;
    return found.map((row) => (row ? rowToTask(row) : created[next++]!));
  }

  async submitGroup(tx: Tx, group: SubmitRequest, children: readonly SubmitRequest[], now: number): Promise<SubmitOutcome> {
    // The children are checked with the group, before anything is written: a refusal leaves no group behind.
    const outcome = await this.submits.one(tx, group, now, children);
    if (outcome.kind === "created") await this.addChildren(tx, group.id, children.length);
    return outcome;
  }

  /**
   * Cancel a task and its unfinished descendants: a queued or waiting one
   * at once, a running one flagged for its worker. Answers the task's row
   * after (null: no such task). `locked`: its row, already locked.
   */
  async cancelTree(tx: Tx, id: string, now: number, locked?: TaskRow): Promise<TaskRow | null> {
    const row = locked ?? (await rows<TaskRow>(tx.db, `SELECT * FROM ${this.s}.tasks WHERE id = $1 FOR UPDATE`, [id]))[0];
    if (!row) return null;
    if (isFinal(row.state)) return row;
    let after: TaskRow;
    if (row.state === "running") {
      const [flagged] = await rows<TaskRow>(tx.db, `UPDATE ${this.s}.tasks SET cancel_requested = true WHERE id = $1 RETURNING *`, [id]);
      after = flagged!;
    } else {
      after = await this.workerWrites.end(tx, row, endTransition("canceled", null), now);
      tx.touch(row.queue);
    }
    if (row.children > 0) await this.cancelChildren(tx, id, now);
    return after;
  }

  private async cancelChildren(tx: Tx, id: string, now: number): Promise<void> {
    const children = await rows<TaskRow>(tx.db, `SELECT * FROM ${this.s}.tasks WHERE parent_id = $1 ORDER BY seq FOR UPDATE`, [id]);
    for (const child of children) if (!isFinal(child.state)) await this.cancelTree(tx, child.id, now, child);
  }

  /**
   * Before a transaction commits: each parent whose children changed gets
   * its rolled-up progress, and a waiting one its wake or its end. Settling
   * one may change another (a group inside a group), so this runs until none
   * is left. Parents are locked in id order (so two transactions settling
   * the same ones queue rather than deadlock), then their children are read
   * (see the class comment).
   */
  async settle(tx: Tx): Promise<void> {
    const now = tx.latest();
    for (let round = 0; tx.dirtyParents.size > 0 && round < MAX_SETTLE_ROUNDS; round++) {
      const ids = [...tx.dirtyParents];
      tx.dirtyParents.clear();
      const parents = (
        await rows<TaskRow>(tx.db, `SELECT * FROM ${this.s}.tasks WHERE id = ANY ($1::text[]) ORDER BY id FOR UPDATE`, [ids])
      ).filter((row) => !isFinal(row.state));
      if (parents.length === 0) continue;
      const children = await this.childRows(
        tx,
        parents.map((row) => row.id),
      );
      // Rows this round writes: a parent settled later in the round whose row or children are among them reads them again.
      const written = new Set<string>();
      const watched: Tx = {
        ...tx,
        event(event, parentId) {
          written.add(event.taskId);
          tx.event(event, parentId);
        },
      };
      for (let row of parents) {
        let kids = children.get(row.id) ?? [];
        if (written.has(row.id) || kids.some((child) => written.has(child.id))) {
          const again = await this.byId(tx, row.id);
          if (!again || isFinal(again.state)) continue;
          row = again;
          kids = (await this.childRows(tx, [row.id])).get(row.id) ?? [];
        }
        await this.settleParent(watched, row, kids, now);
      }
    }
  }

  private async settleParent(tx: Tx, row: TaskRow, children: readonly ChildRow[], now: number): Promise<void> {
    const { progress, decision } = parentSettlement(row, children);
    if (progress) row = await this.writeProgress(tx, row, progress.value, progress.text, now);
    const wait = readWait(row);
    if (!decision || !wait) return;
    switch (decision.kind) {
      case "wait":
        return;
      case "wake":
        for (const child of decision.cancel) await this.cancelTree(tx, child, now);
        await this.wake(tx, row, now);
        return;
      case "fail":
        for (const child of decision.cancel) await this.cancelTree(tx, child, now);
        await this.workerWrites.end(tx, row, endTransition("failed", decision.error), now);
        return;
      case "succeed": {
        const all = await this.childrenOf(tx, row.id);
        const then = decision.then === null ? undefined : all.find((child) => child.id === decision.then);
        const result = then ? childOutcome(then).result : { children: groupOutcomes(all) };
        await this.workerWrites.end(tx, row, finishTransition({ state: "succeeded", result }), now);
        return;
      }
      case "then": {
        if (wait.kind !== "group" || wait.then === null) return;
        const request = thenRequest(row, wait.then, groupOutcomes(await this.childrenOf(tx, row.id)), now);
        await this.submits.insertMany(tx, [{ request, now }]);
        await this.addChildren(tx, row.id, 1);
        return;
      }
    }
  }

  /** A parent's progress event; like a worker's, it replaces the one before it. */
  private async writeProgress(tx: Tx, row: TaskRow, progress: Progress, text: string, now: number): Promise<TaskRow> {
    const data: TaskEventData = { type: "progress", progress };
    const [updated] = await rows<TaskRow>(
      tx.db,
      `WITH u AS (
         UPDATE ${this.s}.tasks t SET progress = $2, last_seq = t.last_seq + 1, progress_seq = t.last_seq + 1 WHERE t.id = $1 RETURNING t.*
       ), d AS (
         DELETE FROM ${this.s}.task_events WHERE task_id = $1 AND seq = $3::bigint
       ), e AS (
         INSERT INTO ${this.s}.task_events(task_id, owner, queue, seq, kind, attempt, at, data)
         SELECT id, owner, queue, last_seq, 'progress', attempt, $4, $5 FROM u
       )
       SELECT * FROM u`,
      [row.id, text, row.progress_seq, now, JSON.stringify(data)],
    );
    tx.event(storedEvent(updated!, updated!.last_seq, updated!.attempt, now, data), updated!.parent_id);
    return updated!;
  }

  /** Record a wait's step outside a lease (a signal, the clock). */
  private async recordStep(tx: Tx, id: string, name: string, value: unknown, now: number): Promise<void> {
    const data: TaskEventData = { type: "step", name };
    const [row] = await rows<Written>(
      tx.db,
      `WITH u AS (
         UPDATE ${this.s}.tasks t SET last_seq = t.last_seq + 1 WHERE t.id = $1 RETURNING ${WRITTEN}
       ), st AS (
         INSERT INTO ${this.s}.task_steps(task_id, name, result, attempt, at) SELECT id, $2, $3, attempt, $4 FROM u ON CONFLICT DO NOTHING
       ), e AS (
         INSERT INTO ${this.s}.task_events(task_id, owner, queue, seq, kind, attempt, at, data)
         SELECT id, owner, queue, last_seq, 'step', attempt, $4, $5 FROM u
       )
       SELECT * FROM u`,
      [id, name, encode(value), now, JSON.stringify(data)],
    );
    tx.event(storedEvent(row!, row!.last_seq, row!.attempt, now, data), row!.parent_id);
  }

  /**
   * A waiting task queued again, without a turn, so the next claim's
   * promotion gives it one like a due delayed task's; the attempt it used
   * is given back (the claim adds it again), so a wait costs none.
   */
  private async wake(tx: Tx, row: Pick<TaskRow, "id" | "queue">, now: number): Promise<void> {
    await this.change(tx, row.id, `state = 'queued', wake_at = NULL, run_at = $3, turn = NULL, attempt = greatest(t.attempt - 1, 0), error = NULL`, [], WOKEN_EVENT, now);
    tx.touch(row.queue);
  }

  /** A running task whose wait is already over goes straight back to the queue (keeping its turn), its attempt given back. */
  private async backNow(tx: Tx, row: Pick<TaskRow, "id" | "queue">, now: number): Promise<boolean> {
    await this.change(
      tx,
      row.id,
      `state = 'queued', run_at = $3, error = NULL, attempt = t.attempt - 1, worker_id = NULL, lease_expires_at = NULL, lease_expiries = 0`,
      [],
      WOKEN_EVENT,
      now,
    );
    tx.touch(row.queue);
    return true;
  }

  /**
   * Update a task row (`set`, over the row aliased `t`; $3 is `now`, extra
   * `values` from $5) and log `data` at its next seq, with the attempt the
   * row has after the update.
   */
  private async change(tx: Tx, id: string, set: string, values: readonly unknown[], data: TaskEventData, now: number): Promise<Written> {
    const [row] = await rows<Written>(
      tx.db,
      `WITH u AS (
         UPDATE ${this.s}.tasks t SET ${set}, last_seq = t.last_seq + 1 WHERE t.id = $1 RETURNING ${WRITTEN}
       ), e AS (
         INSERT INTO ${this.s}.task_events(task_id, owner, queue, seq, kind, attempt, at, data)
         SELECT id, owner, queue, last_seq, $2, attempt, $3, $4 FROM u
       )
       SELECT * FROM u`,
      [id, data.type, now, JSON.stringify(data), ...values],
    );
    tx.event(storedEvent(row!, row!.last_seq, row!.attempt, now, data), row!.parent_id);
    return row!;
  }

  /** The roll-up columns of the children of `parents`, each parent's in submit order. */
  private async childRows(tx: Tx, parents: readonly string[]): Promise<Map<string, ChildRow[]>> {
    const found = await rows<ChildRowBase & { parent_id: string }>(
      tx.db,
      `SELECT parent_id, id, child_key, name, state, weight, progress FROM ${this.s}.tasks WHERE parent_id = ANY ($1::text[]) ORDER BY parent_id, seq`,
      [parents],
    );
    const byParent = new Map<string, ChildRow[]>();
    for (const row of found) {
      let list = byParent.get(row.parent_id);
      if (!list) byParent.set(row.parent_id, (list = []));
      list.push(rowToChild(row));
    }
    return byParent;
  }

  private childrenOf(tx: Tx, parentId: string): Promise<TaskRow[]> {
    return rows<TaskRow>(tx.db, `SELECT * FROM ${this.s}.tasks WHERE parent_id = $1 ORDER BY seq`, [parentId]);
  }

  private async byId(tx: Tx, id: string): Promise<TaskRow | undefined> {
    const [row] = await rows<TaskRow>(tx.db, `SELECT * FROM ${this.s}.tasks WHERE id = $1`, [id]);
    return row;
  }

  private async addChildren(tx: Tx, parentId: string, n: number): Promise<void> {
    await rows(tx.db, `UPDATE ${this.s}.tasks SET children = children + $2 WHERE id = $1`, [parentId, n]);
  }
}
