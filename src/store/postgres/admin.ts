import { QueueFullError } from "../../core/errors.js";
import * as limits from "../../core/queue-limits.js";
import { keyRulesOf } from "../../core/queue-limits.js";
import type { DeclarationConflict, QueueLimitsPatch, QueueSettings, StoredPatches } from "../../core/queue-limits.js";
import { isFinal } from "../../core/states.js";
import type { CancelOutcome, RetryOutcome, SubmitRequest } from "../store.js";
import type { PgClaims } from "./claim.js";
import type { QueueRow } from "./reads.js";
import { rowToPatches, storedKeyRules } from "../task-row.js";
import { rowToTask, type TaskRow } from "./rows.js";
import { rows } from "./sql.js";
import type { PgSubmits } from "./submit.js";
import type { Tx } from "./tx.js";
import { DEAD_LETTER_BATCH, type DeadLetterSelection } from "../../core/dead-letters.js";
import { deadConditions } from "../dead-rows.js";
import { foldCounts } from "./reads.js";
import type { PgWaits } from "./waits.js";

/** Operators' and the engine's housekeeping writes, for one schema: queue settings, cancel and retry, schedules, retention, secrets. */
export class PgAdmin {
  constructor(
    private readonly s: string,
    private readonly submits: PgSubmits,
    private readonly waits: PgWaits,
    private readonly claims: PgClaims,
  ) {}

  async declareQueue(tx: Tx, name: string, incoming: QueueLimitsPatch, now: number): Promise<{ settings: QueueSettings; conflicts: DeclarationConflict[] }> {
    const row = await this.lockQueue(tx, name, now);
    const next = limits.applyDeclaration(rowToPatches(row), incoming);
    return { settings: await this.writeLimits(tx, row, next, now), conflicts: next.conflicts };
  }

  async setQueueLimits(tx: Tx, name: string, change: QueueLimitsPatch, reset: boolean, now: number): Promise<QueueSettings> {
    const row = await this.lockQueue(tx, name, now);
    return this.writeLimits(tx, row, limits.applyOverride(rowToPatches(row), change, reset), now);
  }

  async setQueuePaused(tx: Tx, name: string, paused: boolean, now: number): Promise<boolean> {
    await this.ensureQueue(tx, name, now);
    const changed = await rows(tx.db, `UPDATE ${this.s}.queues SET paused = $2, updated_at = $3 WHERE name = $1 AND paused <> $2 RETURNING name`, [
      name,
      paused,
      now,
    ]);
    if (!paused) tx.touch(name);
    return changed.length === 1;
  }

  /** Claims skip the queue-row lock for queues they believe unlimited: a limit set since must reach them. */
  noteLimits(settings: readonly QueueSettings[]): void {
    for (const queue of settings) {
      if (queue.paused || queue.limits.concurrency !== null || queue.limits.ownerConcurrency !== null || queue.limits.rateLimit !== null) {
        this.claims.limited.add(queue.name);
      }
    }
  }

  /** A queued or waiting task is canceled at once, a running one flagged; its unfinished children with it. */
  async cancel(tx: Tx, id: string, now: number): Promise<CancelOutcome> {
    const [row] = await rows<TaskRow>(tx.db, `SELECT * FROM ${this.s}.tasks WHERE id = $1 FOR UPDATE`, [id]);
    if (!row) return { kind: "missing" };
    if (isFinal(row.state)) return { kind: "final", task: rowToTask(row) };
    const after = (await this.waits.cancelTree(tx, id, now, row))!;
    return { kind: after.state === "canceled" ? "canceled" : "requested", task: rowToTask(after) };
  }

  async retry(tx: Tx, id: string, now: number): Promise<RetryOutcome> {
    const [row] = await rows<TaskRow>(tx.db, `SELECT * FROM ${this.s}.tasks WHERE id = $1 FOR UPDATE`, [id]);
    if (!row) return { kind: "missing" };
    if (row.state !== "failed" && row.state !== "canceled") return { kind: "conflict", task: rowToTask(row) };
    return { kind: "retried", task: rowToTask(await this.submits.rerun(tx, row, now, "retry")) };
  }

  async fireSchedule(tx: Tx, schedule: string, tickAt: number, request: SubmitRequest, now: number): Promise<boolean> {
    const fired = await rows(
      tx.db,
      `INSERT INTO ${this.s}.schedules(name, last_tick) VALUES ($1, $2)
       ON CONFLICT (name) DO UPDATE SET last_tick = excluded.last_tick WHERE schedules.last_tick < excluded.last_tick
       RETURNING name`,
      [schedule, tickAt],
    );
    if (fired.length === 0) return false;
    try {
      await this.submits.one(tx, request, now);
    } catch (error) {
      // A full queue skips this tick; the tick still counts as fired so no process retries it.
      if (!(error instanceof QueueFullError)) throw error;
    }
    return true;
  }

  async purgeFinished(tx: Tx, cutoffs: Partial<Record<"succeeded" | "failed" | "canceled", number>>, limit: number): Promise<number> {
    let removed = 0;
    for (const [state, before] of Object.entries(cutoffs)) {
      if (before === undefined || removed >= limit) continue;
      const gone = await rows(
        tx.db,
        `WITH doomed AS (
           -- A child is kept while its parent is unfinished: the parent, run again, finds it by key instead of running it again.
           SELECT id FROM ${this.s}.tasks c WHERE finished_at IS NOT NULL AND finished_at < $1 AND state = $2 AND dead_letter = 0
             AND (parent_id IS NULL OR NOT EXISTS (SELECT 1 FROM ${this.s}.tasks p WHERE p.id = c.parent_id AND p.finished_at IS NULL))
           -- Oldest first along the primary key: no index covers finished_at (a success would then update one).
           ORDER BY seq LIMIT $3 FOR UPDATE SKIP LOCKED
         ), e AS (
           DELETE FROM ${this.s}.task_events WHERE task_id IN (SELECT id FROM doomed)
         ), st AS (
           DELETE FROM ${this.s}.task_steps WHERE task_id IN (SELECT id FROM doomed)
         ), sg AS (
           DELETE FROM ${this.s}.task_signals WHERE task_id IN (SELECT id FROM doomed)
         )
         DELETE FROM ${this.s}.tasks WHERE id IN (SELECT id FROM doomed) RETURNING id`,
        [before, state, limit - removed],
      );
      removed += gone.length;
    }
    // The purge appended a delta per task it removed: fold them while the rows are at hand.
    if (removed > 0) await foldCounts(tx.db, this.s);
    return removed;
  }

  /** One batch of a redrive (store/dead-rows.ts): at most DEAD_LETTER_BATCH dead letters run again from their steps. */
  async redriveDead(tx: Tx, part: DeadLetterSelection, now: number): Promise<number> {
    const found = await this.deadRows(tx, part, "*");
    for (const row of found) await this.submits.rerun(tx, row, now, "retry");
    return found.length;
  }

  /** One batch of a purge: at most DEAD_LETTER_BATCH dead letters deleted with their events, steps and signals. */
  async purgeDead(tx: Tx, part: DeadLetterSelection): Promise<number> {
    const ids = (await this.deadRows(tx, part, "id")).map((row) => row.id);
    if (ids.length === 0) return 0;
    await rows(
      tx.db,
      `WITH e AS (
         DELETE FROM ${this.s}.task_events WHERE task_id = ANY ($1::text[])
       ), st AS (
         DELETE FROM ${this.s}.task_steps WHERE task_id = ANY ($1::text[])
       ), sg AS (
         DELETE FROM ${this.s}.task_signals WHERE task_id = ANY ($1::text[])
       )
       DELETE FROM ${this.s}.tasks WHERE id = ANY ($1::text[])`,
      [ids],
    );
    return ids.length;
  }

  /** Dead letters of one batch, locked; ones another transaction holds are left to it. */
  private async deadRows(tx: Tx, part: DeadLetterSelection, columns: string): Promise<TaskRow[]> {
    const params: unknown[] = [];
    const param = (value: unknown) => (params.push(value), `$${params.length}`);
    const where = "ids" in part ? [`id = ANY (${param([...part.ids])}::text[])`] : deadConditions(part.filter, param, "(error::jsonb ->> 'code')", "dead_at");
    return rows<TaskRow>(
      tx.db,
      `SELECT ${columns} FROM ${this.s}.tasks WHERE dead_at IS NOT NULL ${where.map((w) => `AND ${w}`).join(" ")}
       ORDER BY dead_at, seq LIMIT ${DEAD_LETTER_BATCH} FOR UPDATE SKIP LOCKED`,
      params,
    );
  }

  async getOrCreateSecret(tx: Tx, name: string, create: () => string): Promise<string> {
    const key = `secret:${name}`;
    await rows(tx.db, `INSERT INTO ${this.s}.outlast_meta(key, value) VALUES ($1, $2) ON CONFLICT DO NOTHING`, [key, create()]);
    // A new statement sees a value another node committed meanwhile.
    const [row] = await rows<{ value: string }>(tx.db, `SELECT value FROM ${this.s}.outlast_meta WHERE key = $1`, [key]);
    return row!.value;
  }

  private async ensureQueue(tx: Tx, name: string, now: number): Promise<void> {
    // A queue nobody declared has the default limits (core/queue-limits.ts).
    await rows(tx.db, `INSERT INTO ${this.s}.queues(name, concurrency, paused, updated_at) VALUES ($1, $2, false, $3) ON CONFLICT DO NOTHING`, [
      name,
      limits.DEFAULT_QUEUE_LIMITS.concurrency,
      now,
    ]);
  }

  private async lockQueue(tx: Tx, name: string, now: number): Promise<QueueRow> {
    await this.ensureQueue(tx, name, now);
    const [row] = await rows<QueueRow>(tx.db, `SELECT * FROM ${this.s}.queues WHERE name = $1 FOR UPDATE`, [name]);
    return row!;
  }

  private async writeLimits(tx: Tx, row: QueueRow, next: StoredPatches & { limits: limits.QueueLimits }, now: number): Promise<QueueSettings> {
    const applied = next.limits;
    await rows(
      tx.db,
      `UPDATE ${this.s}.queues SET concurrency = $2, max_queued = $3, owner_concurrency = $4, owner_max_queued = $5,
         declared = $6, overrides = $7, updated_at = $8, rate_limit = $9, rate_period_ms = $10, rate_keyed = $11, key_rules = $12 WHERE name = $1`,
      [
        row.name,
        applied.concurrency,
        applied.maxQueued,
        applied.ownerConcurrency,
        applied.ownerMaxQueued,
        JSON.stringify(next.declared),
        JSON.stringify(next.overrides),
        now,
        applied.rateLimit?.limit ?? null,
        applied.rateLimit?.periodMs ?? null,
        applied.rateLimit?.keyed ?? false,
        storedKeyRules(applied),
      ],
    );
    if (applied.concurrency !== null || applied.ownerConcurrency !== null || applied.rateLimit !== null || keyRulesOf(applied) !== null) this.claims.limited.add(row.name);
    // Raised limits may make waiting work runnable.
    tx.touch(row.name);
    return { name: row.name, paused: row.paused, limits: applied, declared: next.declared, overrides: next.overrides };
  }
}
