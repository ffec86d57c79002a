import type { Progress } from "../../core/progress.js";
import { countChildren } from "../../core/waits.js";
import { expiryDecision, finishTransition, logLine, RELEASE_EVENT, type FinishTransition } from "../../core/transitions.js";
import { EXPIRY_BATCH, type FinishOutcome, type HeartbeatStatus, type Lease, type WorkerHeartbeat } from "../store.js";
import { encode, finalColumns, type TaskRow } from "./rows.js";
import type { SqliteTx } from "./tx.js";

/** What workers write, each fenced by its lease; the transitions of core/transitions.ts in SQLite's statements. */
export class SqliteWorkerWrites {
  constructor(
    private readonly tx: SqliteTx,
    private readonly maxLogsPerTask: number,
  ) {}

  heartbeat(leases: readonly Lease[], now: number, leaseMs: number): HeartbeatStatus[] {
    return leases.map((lease) => {
      const row = this.tx.sql.extendLease.get({ id: lease.taskId, token: lease.token, now, expires: now + leaseMs });
      return row ? { held: true, cancelRequested: row.cancel_requested === 1 } : { held: false, cancelRequested: false };
    });
  }

  progress(lease: Lease, progress: Progress, now: number): boolean {
    const row = this.tx.fenced(lease, now);
    if (!row) return false;
    const seq = row.last_seq + 1;
    // Every progress event of a parent carries its children's counts (core/waits.ts).
    if (row.children > 0) progress = { ...progress, children: countChildren(this.tx.sql.childRows.all(row.id)) };
    this.tx.sql.setProgress.run({ id: row.id, progress: encode(progress), seq });
    // Only the latest progress is worth replaying; drop the one it supersedes.
    if (row.progress_seq !== null) this.tx.sql.deleteEvent.run(row.id, row.progress_seq);
    this.tx.event(row, seq, row.attempt, now, { type: "progress", progress });
    return true;
  }

  step(lease: Lease, name: string, result: unknown, now: number): boolean {
    const row = this.tx.fenced(lease, now);
    if (!row) return false;
    const seq = row.last_seq + 1;
    this.tx.sql.insertStep.run(row.id, name, encode(result), row.attempt, now);
    this.tx.sql.bumpSeq.run(seq, row.id);
    this.tx.event(row, seq, row.attempt, now, { type: "step", name });
    return true;
  }

  checkpoint(lease: Lease, data: unknown, now: number): boolean {
    const row = this.tx.fenced(lease, now);
    if (!row) return false;
    this.tx.sql.setCheckpoint.run(encode(data), row.id);
    return true;
  }

  title(lease: Lease, title: string, now: number): boolean {
    const row = this.tx.fenced(lease, now);
    if (!row) return false;
    this.tx.sql.setTitle.run(title, row.id);
    return true;
  }

  /** Past the per-task limit a line is dropped, and the write still counts as done. */
  log(lease: Lease, message: string, now: number): boolean {
    const row = this.tx.fenced(lease, now);
    if (!row) return false;
    const text = logLine(message, this.tx.sql.logCount.get(row.id)!.log_count, this.maxLogsPerTask);
    if (text === null) return true;
    const seq = row.last_seq + 1;
    this.tx.sql.addLog.run(seq, row.id);
    this.tx.event(row, seq, row.attempt, now, { type: "log", message: text });
    return true;
  }

  finish(lease: Lease, outcome: Exclude<FinishOutcome, { state: "waiting" }>, now: number): boolean {
    const change = finishTransition(outcome);
    if (!change.finished) {
      const row = this.tx.fenced(lease, now);
      if (!row) return false;
      const seq = row.last_seq + 1;
      this.tx.sql.backToQueue.run({ id: row.id, seq, run_at: change.runAt ?? now, now, error: encode(change.error), attempt_delta: 0, lease_expiries: 0 });
      this.tx.event(row, seq, row.attempt, now, change.event);
      this.tx.touch(row.queue, now);
      return true;
    }
    // The fencing check and the final update in one statement: the hottest
    // write of a busy worker (saves a lookup per task).
    const { state, result, error, dead_letter } = finalColumns(change);
    const row = this.tx.sql.finishIfHeld.get(state, result, error, dead_letter, now, lease.taskId, lease.token, now);
    if (!row) return false;
    const queue = row[1] as string;
    this.tx.finished.add(queue, state, 1);
    this.tx.event({ id: lease.taskId, owner: row[0] as string, queue, parent_id: row[4] as string | null }, row[2] as number, row[3] as number, now, change.event);
    this.tx.touch(queue, now); // a slot is free
    return true;
  }

  release(lease: Lease, now: number): boolean {
    const row = this.tx.fenced(lease, now);
    if (!row) return false;
    const seq = row.last_seq + 1;
    this.tx.sql.backToQueue.run({ id: row.id, seq, run_at: now, now, error: null, attempt_delta: 1, lease_expiries: 0 });
    this.tx.event(row, seq, row.attempt - 1, now, RELEASE_EVENT);
    this.tx.touch(row.queue, now);
    return true;
  }

  recoverExpired(now: number, message: string): number {
    const expired = this.tx.sql.expired.all(now, EXPIRY_BATCH);
    for (const row of expired) {
      const decision = expiryDecision(
        {
          cancelRequested: row.cancel_requested === 1,
          attempt: row.attempt,
          maxAttempts: row.max_attempts,
          leaseExpiries: row.lease_expiries,
          maxLeaseExpiries: row.max_lease_expiries,
        },
        message,
      );
      if (decision.kind === "end") {
        this.end(row, decision.transition, now);
      } else {
        const seq = row.last_seq + 1;
        this.tx.sql.backToQueue.run({ id: row.id, seq, run_at: now, now, error: null, attempt_delta: 0, lease_expiries: decision.leaseExpiries });
        this.tx.event(row, seq, row.attempt, now, decision.event);
      }
      this.tx.touch(row.queue, now);
    }
    return expired.length;
  }

  /** Move an unfinished task (every caller has checked) to a final state, whoever holds it (expiry, an operator's cancel). */
  end(row: Pick<TaskRow, "id" | "owner" | "queue" | "last_seq" | "attempt" | "parent_id">, change: FinishTransition, now: number): void {
    const seq = row.last_seq + 1;
    this.tx.sql.finish.run({ id: row.id, now, seq, ...finalColumns(change) });
    this.tx.finished.add(row.queue, change.state, 1);
    this.tx.event(row, seq, row.attempt, now, change.event);
  }

  recordWorker(worker: WorkerHeartbeat, now: number): void {
    this.tx.sql.upsertWorker.run({
      id: worker.id,
      host: worker.host,
      pid: worker.pid,
      queues: JSON.stringify(worker.queues),
      started_at: worker.startedAt,
      heartbeat_at: now,
      running: JSON.stringify(worker.running),
      streams: worker.streams,
      remote: worker.remote ? JSON.stringify(worker.remote) : null,
    });
  }

  removeWorker(id: string): void {
    this.tx.sql.deleteWorker.run(id);
  }
}
