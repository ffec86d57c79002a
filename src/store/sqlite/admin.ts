import { QueueFullError } from "../../core/errors.js";
import * as limits from "../../core/queue-limits.js";
import type { DeclarationConflict, QueueLimitsPatch, QueueSettings, StoredPatches } from "../../core/queue-limits.js";
import { isFinal } from "../../core/states.js";
import type { CancelOutcome, RetryOutcome, SubmitRequest } from "../store.js";
import { rowToPatches, storedKeyRules } from "../task-row.js";
import { rowToTask, type TaskRow } from "./rows.js";
import type { Database } from "better-sqlite3";
import { DEAD_LETTER_BATCH, type DeadLetterSelection } from "../../core/dead-letters.js";
import { deadConditions } from "../dead-rows.js";
import type { QueueRow } from "./statements.js";
import type { SqliteSubmits } from "./submit.js";
import type { SqliteTx } from "./tx.js";
import type { SqliteWaits } from "./waits.js";

/** Operators' and the engine's housekeeping writes: queue settings, cancel and retry, schedules, retention, secrets. */
export class SqliteAdmin {
  constructor(
    private readonly db: Database,
    private readonly tx: SqliteTx,
    private readonly submits: SqliteSubmits,
    private readonly waits: SqliteWaits,
  ) {}

  declareQueue(name: string, incoming: QueueLimitsPatch, now: number): { settings: QueueSettings; conflicts: DeclarationConflict[] } {
    const row = this.queueRow(name, now);
    const next = limits.applyDeclaration(rowToPatches(row), incoming);
    return { settings: this.writeLimits(row, next, now), conflicts: next.conflicts };
  }

  setQueueLimits(name: string, change: QueueLimitsPatch, reset: boolean, now: number): QueueSettings {
    const row = this.queueRow(name, now);
    return this.writeLimits(row, limits.applyOverride(rowToPatches(row), change, reset), now);
  }

  setQueuePaused(name: string, paused: boolean, now: number): boolean {
    this.tx.forgetQueue(name);
    this.ensureQueue(name, now);
    const changed = this.tx.sql.pauseQueue.run(paused ? 1 : 0, now, name, paused ? 1 : 0).changes === 1;
    if (!paused) this.tx.touch(name, now);
    return changed;
  }

  /** A queued or waiting task is canceled at once, a running one flagged; its unfinished children with it. */
  cancel(id: string, now: number): CancelOutcome {
    const row = this.tx.sql.byId.get(id);
    if (!row) return { kind: "missing" };
    if (isFinal(row.state)) return { kind: "final", task: rowToTask(row) };
    this.waits.cancelTree(id, now);
    const after = this.tx.sql.byId.get(id)!;
    return { kind: after.state === "canceled" ? "canceled" : "requested", task: rowToTask(after) };
  }

  retry(id: string, now: number): RetryOutcome {
    const row = this.tx.sql.byId.get(id);
    if (!row) return { kind: "missing" };
    if (row.state !== "failed" && row.state !== "canceled") return { kind: "conflict", task: rowToTask(row) };
    return { kind: "retried", task: rowToTask(this.submits.rerun(row, now, "retry")) };
  }

  /** One batch of a redrive (store/dead-rows.ts): at most DEAD_LETTER_BATCH dead letters run again from their steps. */
  redriveDead(part: DeadLetterSelection, now: number): number {
    const rows = this.deadRows(part);
    for (const row of rows) this.submits.rerun(row, now, "retry");
    return rows.length;
  }

  /** One batch of a purge: at most DEAD_LETTER_BATCH dead letters deleted with their events, steps and signals. */
  purgeDead(part: DeadLetterSelection): number {
    const rows = this.deadRows(part);
    for (const { id } of rows) this.delete(id);
    return rows.length;
  }

  private deadRows(part: DeadLetterSelection): TaskRow[] {
    const params: (string | number)[] = [];
    const param = (value: string | number) => (params.push(value), "?");
    let where: string[];
    if ("ids" in part) where = [`id IN (SELECT value FROM json_each(${param(JSON.stringify(part.ids))}))`];
    else where = deadConditions(part.filter, param, "json_extract(error, '$.code')");
    const sql = `SELECT * FROM tasks WHERE dead_letter = 1 ${where.map((w) => `AND ${w}`).join(" ")} ORDER BY finished_at, seq LIMIT ${DEAD_LETTER_BATCH}`;
    return this.db.prepare<(string | number)[], TaskRow>(sql).all(...params);
  }

  private delete(id: string): void {
    const sql = this.tx.sql;
    sql.deleteEvents.run(id);
    sql.deleteSteps.run(id);
    sql.deleteSignals.run(id);
    const gone = sql.deleteTask.get(id);
    if (gone) this.tx.finished.add(gone.queue, gone.state, -1);
  }

  fireSchedule(schedule: string, tickAt: number, request: SubmitRequest, now: number): boolean {
    if (this.tx.sql.fireTick.run(schedule, tickAt).changes === 0) return false;
    try {
      this.submits.one(request, now);
    } catch (error) {
      // A full queue skips this tick; the tick still counts as fired so no process retries it.
      if (!(error instanceof QueueFullError)) throw error;
    }
    return true;
  }

  purgeFinished(cutoffs: Partial<Record<"succeeded" | "failed" | "canceled", number>>, limit: number): number {
    const sql = this.tx.sql;
    let removed = 0;
    for (const [state, before] of Object.entries(cutoffs)) {
      if (before === undefined || removed >= limit) continue;
      const ids = sql.finishedBefore.all(before, state, limit - removed);
      for (const { id } of ids) this.delete(id);
      removed += ids.length;
    }
    return removed;
  }

  getOrCreateSecret(name: string, create: () => string): string {
    const key = `secret:${name}`;
    this.tx.sql.insertMeta.run(key, create());
    return this.tx.sql.meta.get(key)!.value;
  }

  private ensureQueue(name: string, now: number): void {
    // A queue nobody declared has the default limits (core/queue-limits.ts).
    this.tx.sql.ensureQueue.run(name, limits.DEFAULT_QUEUE_LIMITS.concurrency, now);
  }

  private queueRow(name: string, now: number): QueueRow {
    this.ensureQueue(name, now);
    return this.tx.sql.queue.get(name)!;
  }

  private writeLimits(row: QueueRow, next: StoredPatches & { limits: limits.QueueLimits }, now: number): QueueSettings {
    this.tx.forgetQueue(row.name);
    this.tx.sql.writeQueueLimits.run({
      name: row.name,
      concurrency: next.limits.concurrency,
      max_queued: next.limits.maxQueued,
      owner_concurrency: next.limits.ownerConcurrency,
      owner_max_queued: next.limits.ownerMaxQueued,
      rate_limit: next.limits.rateLimit?.limit ?? null,
      rate_period_ms: next.limits.rateLimit?.periodMs ?? null,
      rate_keyed: next.limits.rateLimit?.keyed ? 1 : 0,
      key_rules: storedKeyRules(next.limits),
      declared: JSON.stringify(next.declared),
      overrides: JSON.stringify(next.overrides),
      now,
    });
    // Raised limits may make waiting work runnable.
    this.tx.touch(row.name, now);
    return { name: row.name, paused: row.paused === 1, limits: next.limits, declared: next.declared, overrides: next.overrides };
  }
}
