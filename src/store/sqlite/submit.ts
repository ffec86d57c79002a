import { dedupeDecision, replacedEvent } from "../../core/dedupe.js";
import { QueueFullError } from "../../core/errors.js";
import { splitDedupeRows } from "../dedupe-rows.js";
import { fullScope, retryAfterHint, submitDecision } from "../../core/submit-rules.js";
import { firstQueuedEvent, rerunTransition, waitTransition, type RerunReason } from "../../core/transitions.js";
import { isGroup, rerunWaitEvent } from "../group-rows.js";
import type { TaskRecord } from "../../core/task.js";
import { additionsByQueue, checkNew, checkRate, concurrencyKeyOf } from "../additions.js";
import type { SubmitOutcome, SubmitRequest } from "../store.js";
import { newTaskRecord } from "./records.js";
import { encode, rowToTask, type TaskRow } from "./rows.js";
import type { SqliteTx } from "./tx.js";
import { DEFAULT_MAX_LEASE_EXPIRIES } from "../../core/dead-letters.js";

/** Storing tasks: the submit rules of core/submit-rules.ts in SQLite's statements. */
export class SqliteSubmits {
  /** Cancels a task and its unfinished children (sqlite/waits.ts; set once the store has made it). */
  cancelTree: (id: string, now: number) => void = () => {
    throw new Error("SqliteSubmits.cancelTree is not set");
  };

  constructor(private readonly tx: SqliteTx) {}

  one(request: SubmitRequest, now: number): SubmitOutcome {
    if (request.dedupe) return this.deduped(request, now);
    const found = request.idempotencyKey === null ? undefined : this.tx.sql.byIdempotencyKey.get(request.owner, request.name, request.idempotencyKey);
    switch (submitDecision(found ? rowToTask(found) : null)) {
      case "existing":
        return { kind: "existing", task: rowToTask(found!) };
      case "resume":
        this.checkRoom(found!.queue, found!.owner);
        return { kind: "resumed", task: rowToTask(this.rerun(found!, now, "resumed", request.maxAttempts)) };
      case "restart":
        this.checkRoom(found!.queue, found!.owner);
        this.tx.sql.deleteSteps.run(found!.id);
        this.tx.sql.detachChildren.run(found!.id);
        this.tx.sql.startOver.run({ id: found!.id, input: encode(request.input) });
        return { kind: "restarted", task: rowToTask(this.rerun(found!, now, "restarted", request.maxAttempts)) };
      case "create":
        this.checkRoom(request.queue, request.owner);
        return { kind: "created", task: this.insert(request, now) };
    }
  }

  /**
   * A submit with a dedupe key (core/dedupe.ts): the key's pending task
   * takes the input, or a new one is stored; a cancel-running submit cancels
   * the key's started tasks. One writer at a time, so no two submits of a key
   * race here.
   */
  private deduped(request: SubmitRequest, now: number): SubmitOutcome {
    const spec = request.dedupe!;
    const { pending, started } = splitDedupeRows(this.tx.sql.byDedupeKey.all(request.owner, request.name, spec.key));
    const decision = dedupeDecision(spec, request.runAt, pending, started, now);
    // A refusal comes before any write: a new task must fit.
    if (decision.kind === "create") this.checkRoom(request.queue, request.owner);
    for (const id of decision.cancel) this.cancelTree(id, now);
    const canceled = decision.cancel.length > 0 ? { canceled: decision.cancel } : {};
    if (decision.kind === "create") {
      return { kind: "created", task: this.insert({ ...request, runAt: decision.runAt }, now, decision.deadline), ...canceled };
    }
    const row = pending!.row;
    const seq = row.last_seq + 1;
    this.tx.sql.replaceInput.run({ id: row.id, input: encode(request.input), run_at: decision.runAt, now, seq });
    this.tx.event(row, seq, row.attempt, now, replacedEvent(decision.runAt));
    this.tx.touch(row.queue, now);
    return { kind: "replaced", task: rowToTask(this.tx.sql.byId.get(row.id)!), ...canceled };
  }

  /** New tasks, all inserted or none (QueueFullError) when their queues' limits would not hold them all. */
  allNew(requests: readonly SubmitRequest[], now: number): TaskRecord[] {
    this.checkFits(requests);
    return requests.map((request) => this.insert(request, now));
  }

  /** Throws (a refusal, before anything is written) unless all of `requests` fit their queues' limits. */
  checkFits(requests: readonly SubmitRequest[]): void {
    for (const request of requests) checkNew(request);
    for (const [queue, added] of additionsByQueue(requests)) {
      for (const [owner, n] of added.owners) this.checkRoom(queue, owner, added.total, n);
    }
  }

  /**
   * An ended task queued again (retry, resume), steps and checkpoint kept;
   * its failed and canceled children too, so a parent that failed with them
   * finds them running again. A group waits for its children again.
   */
  rerun(row: TaskRow, now: number, reason: RerunReason, budget: number = row.attempt_budget): TaskRow {
    const seq = row.last_seq + 1;
    const { maxAttempts, event } = rerunTransition(row, reason, budget);
    this.tx.finished.add(row.queue, row.state, -1);
    let updated: TaskRow;
    if (isGroup(row)) {
      updated = this.tx.sql.rewait.get({ id: row.id, seq, max_attempts: maxAttempts })!;
      this.tx.event(updated, seq, row.attempt, now, rerunWaitEvent(event));
      // Settled before commit: with no child to run again, it ends at once.
      this.tx.dirtyParents.add(row.id);
    } else {
      const turn = this.tx.turnFor(row.queue, row.concurrency_key ?? row.owner, row.priority);
      updated = this.tx.sql.requeue.get({ id: row.id, now, seq, max_attempts: maxAttempts, turn })!;
      this.tx.event(updated, seq, row.attempt, now, event);
      this.tx.countQueued(row.queue, row.owner);
      this.tx.touch(row.queue, now);
    }
    if (row.children > 0) {
      for (const child of this.tx.sql.childrenOf.all(row.id)) {
        if (child.state === "failed" || child.state === "canceled") this.rerun(child, now, reason === "restarted" ? "retry" : reason);
      }
    }
    return updated;
  }

  insert(request: SubmitRequest, now: number, dedupeDeadline: number | null = null): TaskRecord {
    checkRate(request);
    // Built here rather than read back: RETURNING * costs ~25 µs a row (a
    // JS object of 28 columns), more than the insert itself (~12 µs).
    const key = concurrencyKeyOf(request);
    this.tx.sql.insertTask.run(
      request.id,
      request.name,
      request.queue,
      request.owner,
      request.title,
      request.wait ? "waiting" : "queued",
      request.priority,
      request.maxAttempts,
      request.maxAttempts, // attempt_budget
      request.timeoutMs,
      encode(request.input),
      request.idempotencyKey,
      now, // created_at
      request.runAt,
      // A delayed task gets its turn when it is due.
      request.wait || request.runAt > now ? null : this.tx.turnFor(request.queue, key, request.priority),
      request.parent?.id ?? null,
      request.parent?.key ?? null,
      request.parent?.weight ?? 1,
      request.wait ? JSON.stringify(request.wait) : null,
      request.dedupe?.key ?? null,
      dedupeDeadline,
      request.maxLeaseExpiries ?? DEFAULT_MAX_LEASE_EXPIRIES,
      request.rateKey ?? null,
      request.cost ?? 1,
      key,
      request.tier ?? null,
      request.keyLimit ?? null,
    );
    // The fields an event needs, not a copy of the whole request (~20 fields) for each task.
    const task = { id: request.id, owner: request.owner, queue: request.queue, parent_id: request.parent?.id ?? null };
    if (request.wait) {
      this.tx.event(task, 1, 0, now, waitTransition(request.wait));
      return newTaskRecord(request, now);
    }
    this.tx.event(task, 1, 0, now, firstQueuedEvent(request.runAt, now));
    this.tx.countQueued(request.queue, request.owner);
    this.tx.touch(request.queue, now);
    return newTaskRecord(request, now);
  }

  /** Throws QueueFullError unless `adding` more tasks (`ownerAdding` of them the owner's) fit the queue's limits. */
  checkRoom(queue: string, owner: string, adding = 1, ownerAdding = adding): void {
    const config = this.tx.queueConfig(queue);
    if (!config) return;
    const limits = { maxQueued: config.max_queued, ownerMaxQueued: config.owner_max_queued };
    const scope = fullScope(limits, adding, ownerAdding, (of) => this.tx.queuedCount(queue, of === "queue" ? null : owner));
    if (scope !== null) throw new QueueFullError(queue, scope, retryAfterHint(this.tx.sql.recentDuration.get(queue)?.ms ?? null));
  }
}
