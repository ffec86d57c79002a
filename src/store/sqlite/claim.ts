import { decode } from "./rows.js";
import type { RateLimit } from "../../core/queue-limits.js";
import * as rate from "../../core/rate-limit.js";
import { RUNNING_EVENT } from "../../core/transitions.js";
import { KeyCounts, type KeyRules } from "../../core/key-limits.js";
import { rowKeyRules, rowRateLimit } from "../task-row.js";
import type { ClaimedTask, ClaimRequest, ClaimResult } from "../store.js";
import { claimedRecord, claimRowOf, type ClaimRow } from "./records.js";
import type { Statements } from "./statements.js";
import type { SqliteTx } from "./tx.js";

/** Taking runnable tasks of a queue within its limits, inside a group commit. */
export class SqliteClaims {
  constructor(private readonly tx: SqliteTx) {}

  now(request: ClaimRequest, now: number): ClaimResult {
    const sql = this.tx.sql;
    const config = this.tx.queueConfig(request.queue);
    if (config?.paused === 1) return { tasks: [], nextRunAt: null };
    let slots = request.limit;
    if (config?.concurrency != null) {
      slots = Math.min(slots, config.concurrency - sql.countRunning.get(request.queue)!.n);
    }
    if (slots <= 0) return { tasks: [], nextRunAt: null };
    // Delayed tasks that are due now join the queue's round (core/turns.ts).
    sql.promoteDue.run({ queue: request.queue, now });

    const keyRules = config ? rowKeyRules(config) : null;
    const rateLimit = config ? rowRateLimit(config) : null;
    if (rateLimit !== null) return this.withinRate(request, slots, now, rateLimit, keyRules);
    if (keyRules === null) return this.inOneStatement(request, slots, now);
    // Per-key limits (core/key-limits.ts): some candidates are skipped, so look further ahead;
    // keys already at their limit are left out in the query.
    const keys = new KeyCounts(keyRules, sql.runningByKey.all(request.queue));
    const candidates = sql.runnableForKeys.all({
      queue: request.queue,
      names: JSON.stringify(request.names),
      limit: slots * 8 + 32,
      full: JSON.stringify(keys.full),
    });
    const chosen: ClaimRow[] = [];
    for (const row of candidates) {
      if (chosen.length >= slots) break;
      if (keys.take(row.concurrency_key, row.tier, row.key_limit)) chosen.push(row);
    }

    const tasks: ClaimedTask[] = [];
    for (const row of chosen) {
      const seq = row.last_seq + 1;
      const expires = now + request.leaseMs;
      sql.markRunning.run({ seq_row: row.seq, now, worker: request.workerId, expires, seq });
      tasks.push(this.claimed({ ...row, attempt: row.attempt + 1, last_seq: seq, lease_token: row.lease_token + 1 }, now, request.workerId, expires));
    }
    return { tasks, nextRunAt: this.nextRunAt(request.queue, tasks.length < slots, now) };
  }

  /**
   * Without per-key limits a claim is one UPDATE … RETURNING over the
   * runnable index (which holds `name`, so the name filter reads no rows):
   * measured ~40% cheaper per task than a SELECT followed by one UPDATE a row.
   */
  private inOneStatement(request: ClaimRequest, slots: number, now: number): ClaimResult {
    const expires = now + request.leaseMs;
    const rows = this.tx.sql.claimBatch
      .all({
        queue: request.queue,
        now,
        names: JSON.stringify(request.names),
        limit: slots,
        worker: request.workerId,
        expires,
      })
      .map(claimRowOf);
    // RETURNING gives no order; hand tasks out in claim order.
    rows.sort((a, b) => b.priority - a.priority || (a.turn ?? 0) - (b.turn ?? 0) || a.seq - b.seq);
    const tasks = rows.map((row) => this.claimed(row, now, request.workerId, expires));
    return { tasks, nextRunAt: this.nextRunAt(request.queue, tasks.length < slots, now) };
  }

  /**
   * A rate-limited queue (core/rate-limit.ts): the window's starts are read
   * (older ones deleted), keys out of budget are left out in the query, and
   * candidates are taken in claim order while they fit their key's budget.
   * The claim runs under SQLite's writer lock, so no other claim counts the
   * same budget meanwhile. Held back, it answers when the next start is allowed.
   */
  private withinRate(request: ClaimRequest, slots: number, now: number, limit: RateLimit, keyRules: KeyRules | null): ClaimResult {
    const sql = this.tx.sql;
    const since = rate.windowStart(limit, now);
    sql.pruneStarts.run(request.queue, since);
    const starts = sql.startsInWindow.all(request.queue, since);
    const used = rate.usedByKey(starts);
    const exhausted = rate.exhaustedKeys(limit, used);
    const names = JSON.stringify(request.names);
    const keyed = limit.keyed ? 1 : 0;
    const keys = keyRules === null ? null : new KeyCounts(keyRules, sql.runningByKey.all(request.queue));
    const candidates = sql.runnableWithinRate.all({
      queue: request.queue,
      names,
      limit: slots * 8 + 32,
      full: JSON.stringify(keys?.full ?? []),
      keyed,
      exhausted: JSON.stringify(exhausted),
    });
    const { picked, held } = rate.pickWithinRate(
      limit,
      used,
      candidates.map((row) => ({ owner: row.owner, rateKey: row.rate_key, cost: row.cost })),
      slots,
      (_, i) => {
        const row = candidates[i]!;
        return keys === null || keys.take(row.concurrency_key, row.tier, row.key_limit);
      },
    );
    const tasks: ClaimedTask[] = [];
    const expires = now + request.leaseMs;
    for (const i of picked) {
      const row = candidates[i]!;
      const seq = row.last_seq + 1;
      const key = rate.ledgerKey(limit, row.rate_key);
      const cost = rate.effectiveCost(limit, row.cost);
      sql.markRunning.run({ seq_row: row.seq, now, worker: request.workerId, expires, seq });
      sql.insertStart.run(request.queue, key, now, cost);
      starts.push({ key, at: now, cost });
      tasks.push(this.claimed({ ...row, attempt: row.attempt + 1, last_seq: seq, lease_token: row.lease_token + 1 }, now, request.workerId, expires));
    }
    if (tasks.length >= slots) return { tasks, nextRunAt: null };
    // Keys left out of the query count only when some task of theirs is waiting.
    const waitingExhausted =
      exhausted.length > 0 && sql.anyRunnableOfKeys.get({ queue: request.queue, names, keyed, keys: JSON.stringify(exhausted) }) !== undefined;
    const allowedAt = rate.heldUntil(limit, starts, held, waitingExhausted ? exhausted : []);
    const due = this.nextRunAt(request.queue, true, now);
    return { tasks, nextRunAt: due === null ? allowedAt : allowedAt === null ? due : Math.min(due, allowedAt) };
  }

  /** When a claim came up short: when the queue's next delayed task is due, so the worker can sleep until then. */
  private nextRunAt(queue: string, short: boolean, now: number): number | null {
    return short ? (this.tx.sql.nextRunAt.get(queue, now)?.at ?? null) : null;
  }

  /** Log the start of a just-claimed task (row values as after the claim) and hand it out. */
  private claimed(row: ClaimRow, now: number, workerId: string, expires: number): ClaimedTask {
    this.tx.event(row, row.last_seq, row.attempt, now, RUNNING_EVENT);
    return {
      task: claimedRecord(row, now, workerId, expires),
      lease: { taskId: row.id, token: row.lease_token },
      // seq 1 is "queued", 2 this "running": a task at seq 2 has never recorded a step.
      steps: row.last_seq <= 2 ? new Map() : stepsOf(this.tx.sql, row.id),
    };
  }
}

/** A task's recorded step results, by step name. */
export function stepsOf(sql: Statements, taskId: string): Map<string, unknown> {
  const steps = new Map<string, unknown>();
  for (const row of sql.steps.all(taskId)) steps.set(row.name, decode(row.result));
  return steps;
}
