import type pg from "pg";
import { isRefusal } from "../refusal.js";
import { isOutlastError } from "../../core/errors.js";
import type { StoredEvent } from "../../core/events.js";
import { isConnectionError, isRetryable, unavailable } from "./sql.js";
import { makeTx, type Tx } from "./tx.js";

/**
 * A write that many callers can share: the batch hands it every argument
 * queued in the same turn (each for a different `key`) and it answers with
 * one result per argument, in one statement.
 */
export interface BulkWrite<A, R> {
  run(tx: Tx, args: readonly A[]): Promise<Outcome<R>[]>;
  durability: Durability;
}

/**
 * Whether a write's commit waits for the WAL to reach disk. Most do. A
 * claim, a heartbeat, a progress update or a worker's heartbeat row may
 * commit asynchronously: a database crash can lose at most the last few
 * hundred milliseconds of them, which only means a task runs again (its
 * worker's later writes are fenced), a lease looks older, or a progress bar
 * steps back, never a lost submit or result. Any durable write committed
 * later flushes them too. This takes the disk flush out of the claim half of
 * every task's round trip.
 */
export type Durability = "durable" | "lazy";
export const DURABLE: Durability = "durable";
export const LAZY: Durability = "lazy";

/** A write's result, or the domain error it failed with (which changed nothing). */
export type Outcome<T = unknown> = { ok: true; value: T } | { ok: false; error: unknown };

type Job =
  | { run: (tx: Tx) => Promise<unknown>; bulk?: undefined; durability: Durability; resolve: (v: unknown) => void; reject: (e: unknown) => void }
  | { bulk: BulkWrite<unknown, unknown>; arg: unknown; key: string; resolve: (v: unknown) => void; reject: (e: unknown) => void };

/** Where committed changes are announced. */
export interface Announce {
  /** Channel for `{ n: nodeId, e: [[taskId, firstSeq, lastSeq], …] }`. */
  eventsChannel: string;
  /** Channel for `{ n: nodeId, q: [queue, …] }`. */
  wakeChannel: string;
  nodeId: string;
}

/** Biggest NOTIFY payload we send; PostgreSQL refuses more than 8000 bytes. */
const MAX_PAYLOAD = 7000;
const MAX_RETRIES = 5;
/** Longest a transaction holds back the announcements of later ones (see `detachStuckHead`). */
const STUCK_MS = 250;

/**
 * Group commit. Writes asked for while a transaction is in flight (or in the
 * same turn of the event loop) go together in the next transaction: one
 * BEGIN, their statements, one NOTIFY+COMMIT round trip. Writes of the same
 * kind that sit next to each other run as one set-based statement (a batch
 * of 500 finishes is one UPDATE … FROM unnest(…)). A few transactions may
 * be in flight at once (each on its own connection) so that waiting on one
 * commit does not stall the writes queued behind it; writes a caller makes
 * one after another (awaiting each) still commit in that order, and two
 * writes to one task are ordered by its row lock.
 *
 * A write that throws a domain error (a full queue) fails alone: such
 * errors are raised before the write changes anything. An SQL error aborts
 * the transaction: deadlocks and serialization failures are retried, other
 * errors make each write run again on its own so only the culprit fails. A
 * lost connection rejects the batch with an `unavailable` error, since the
 * commit may or may not have happened.
 */
export class WriteBatch {
  private pending: Job[] = [];
  private scheduled = false;
  private readonly running = new Set<Promise<void>>();
  private closed = false;
  /**
   * Transactions in the order they began, each waiting for its commit to be
   * announced. A transaction that began after another committed may see its
   * rows (a claim sees a submit), but its COMMIT reply can be read first:
   * announcing in begin order keeps every task's events in order for this
   * process's listeners, so none has to be read back from the table.
   */
  private readonly announcing: Turn[] = [];
  private stuckTimer: NodeJS.Timeout | null = null;
  private stuckHead: Turn | null = null;

  constructor(
    private readonly pool: pg.Pool,
    private readonly announce: Announce,
    private readonly maxInFlight: number,
    private readonly beforeFlush: () => Promise<void> | null,
    private readonly afterCommit: (touchedQueues: ReadonlySet<string>, events: readonly StoredEvent[]) => void,
    /** Last in every transaction, before its COMMIT: what its writes leave to do (settling parents, waits.ts). */
    private readonly beforeCommit: (tx: Tx) => Promise<void> = async () => {},
  ) {}

  /** Queue a write; it resolves once its transaction committed. */
  write<T>(run: (tx: Tx) => Promise<T>, durability: Durability = DURABLE): Promise<T> {
    return new Promise<T>((resolve, reject) => this.enqueue({ run, durability, resolve: resolve as (v: unknown) => void, reject }));
  }

  /** Queue one argument of a set-based write. */
  bulk<A, R>(bulk: BulkWrite<A, R>, key: string, arg: A): Promise<R> {
    return new Promise<R>((resolve, reject) =>
      this.enqueue({ bulk: bulk as BulkWrite<unknown, unknown>, key, arg, resolve: resolve as (v: unknown) => void, reject }),
    );
  }

  /** Wait for every queued write to be committed (or rejected). */
  async drain(): Promise<void> {
    while (this.pending.length > 0 || this.running.size > 0) {
      if (this.running.size > 0) await Promise.all(this.running);
      else this.start();
    }
  }

  close(): void {
    this.closed = true;
    this.clearStuckTimer();
  }

  private enqueue(job: Job): void {
    if (this.closed) {
      job.reject(unavailable(new Error("the store is closed")));
      return;
    }
    this.pending.push(job);
    if (!this.scheduled && this.running.size < this.maxInFlight) {
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        this.start();
      });
    }
  }

  private start(): void {
    if (this.running.size >= this.maxInFlight || this.pending.length === 0) return;
    const jobs = this.pending;
    this.pending = [];
    const flush: Promise<void> = this.flush(jobs).finally(() => {
      this.running.delete(flush);
      if (this.pending.length > 0) this.start();
    });
    this.running.add(flush);
  }

  private async flush(jobs: Job[]): Promise<void> {
    const gate = this.beforeFlush();
    if (gate) await gate;
    let outcomes: Outcome[] | null = null;
    for (let attempt = 0; ; attempt++) {
      try {
        outcomes = await this.transaction(jobs);
        break;
      } catch (error) {
        if ((isRetryable(error) || error instanceof StaleConnection) && attempt < MAX_RETRIES) continue;
        if (error instanceof StaleConnection) {
          for (const job of jobs) job.reject(unavailable(error.cause));
          return;
        }
        if (isConnectionError(error) || isOutlastError(error, "unavailable")) {
          for (const job of jobs) job.reject(isOutlastError(error) ? error : unavailable(error));
          return;
        }
        if (jobs.length === 1) {
          jobs[0]!.reject(error);
          return;
        }
        // Find the culprit: every write again in a transaction of its own.
        for (const job of jobs) await this.flush([job]);
        return;
      }
    }
    jobs.forEach((job, i) => {
      const outcome = outcomes![i]!;
      if (outcome.ok) job.resolve(outcome.value);
      else job.reject(outcome.error);
    });
  }

  private async transaction(jobs: Job[]): Promise<Outcome[]> {
    const client = await this.connect();
    const onError = () => {}; // surfaced through the failing query instead
    client.on("error", onError);
    const events: StoredEvent[] = [];
    const touched = new Set<string>();
    const turn: Turn = { done: false, detached: false, touched, events, waiters: [] };
    this.announcing.push(turn);
    const tx = makeTx(
      client,
      (event) => void events.push(event),
      (queue) => void touched.add(queue),
    );
    let broken: unknown = undefined;
    // Not awaited: the client sends it first and queues the statements
    // behind it; if it failed, so do they, and the catch below tells why.
    let beginFailed: unknown = null;
    const begin = client.query("BEGIN").catch((error: unknown) => {
      beginFailed = error;
    });
    try {
      const outcomes: Outcome[] = new Array(jobs.length);
      let i = 0;
      while (i < jobs.length) {
        const job = jobs[i]!;
        if (!job.bulk) {
          try {
            outcomes[i] = { ok: true, value: await job.run(tx) };
          } catch (error) {
            // See refusal.ts: only a refusal leaves the rest of the batch to commit.
            if (!isRefusal(error)) throw error;
            outcomes[i] = { ok: false, error };
          }
          i++;
          continue;
        }
        // A run of the same bulk write with distinct keys becomes one statement.
        const keys = new Set<string>();
        let end = i;
        while (end < jobs.length) {
          const next = jobs[end]!;
          if (next.bulk !== job.bulk || keys.has(next.key)) break;
          keys.add(next.key);
          end++;
        }
        const segment = jobs.slice(i, end) as Extract<Job, { bulk: BulkWrite<unknown, unknown> }>[];
        const results = await job.bulk.run(
          tx,
          segment.map((j) => j.arg),
        );
        segment.forEach((_, k) => (outcomes[i + k] = results[k] ?? { ok: false, error: new Error("bulk write gave no result") }));
        i = end;
      }
      // Parents whose children changed: settled in this transaction, so a wake is never lost between commits.
      if (tx.dirtyParents.size > 0) await this.beforeCommit(tx);
      await begin;
      if (beginFailed) throw beginFailed;
      const lazy = jobs.every((job) => (job.bulk ? job.bulk.durability : job.durability) === LAZY);
      await client.query(`${lazy ? "SET LOCAL synchronous_commit TO off;" : ""}${this.notifications(client, events, touched)}COMMIT`);
      this.announceInOrder(turn);
      return outcomes;
    } catch (error) {
      // Nothing to announce, but later transactions must not wait for it.
      events.length = 0;
      touched.clear();
      this.announceInOrder(turn);
      await begin;
      broken = isConnectionError(error) ? error : undefined;
      if (!broken) await client.query("ROLLBACK").catch((e: unknown) => (broken = e));
      // A pooled connection the server closed while idle: the transaction
      // never began, so the batch can safely run again on a fresh one.
      if (beginFailed !== null && isConnectionError(beginFailed)) throw new StaleConnection(beginFailed);
      throw error;
    } finally {
      client.off("error", onError);
      client.release(broken instanceof Error ? broken : broken === undefined ? undefined : true);
    }
  }

  /** Settles once every transaction begun so far has committed and been announced, or failed. */
  announced(): Promise<void> {
    const last = this.announcing.at(-1);
    if (!last) return Promise.resolve();
    return new Promise((resolve) => last.waiters.push(resolve));
  }

  private announceInOrder(turn: Turn): void {
    turn.done = true;
    if (turn.detached) this.publish(turn);
    while (this.announcing[0]?.done) this.publish(this.announcing.shift()!);
    if (this.announcing.some((t) => t.done)) this.detachStuckHead();
    else this.clearStuckTimer();
  }

  private publish(turn: Turn): void {
    if (turn.events.length > 0 || turn.touched.size > 0) this.afterCommit(turn.touched, turn.events);
    for (const resolve of turn.waiters) resolve();
  }

  /**
   * A transaction that hangs (a lock wait, a slow server) must not hold back
   * the announcements of those after it for long: past STUCK_MS it leaves
   * the line and is announced whenever it ends. Its events then reach this
   * process's listeners through the feed's notifications, still in order.
   */
  private detachStuckHead(): void {
    const head = this.announcing[0];
    if (!head || this.stuckHead === head) return;
    this.clearStuckTimer();
    this.stuckHead = head;
    this.stuckTimer = setTimeout(() => {
      this.stuckTimer = null;
      this.stuckHead = null;
      if (this.announcing[0] !== head || head.done) return;
      head.detached = true;
      this.announcing.shift();
      while (this.announcing[0]?.done) this.publish(this.announcing.shift()!);
      if (this.announcing.some((t) => t.done)) this.detachStuckHead();
    }, STUCK_MS);
    this.stuckTimer.unref();
  }

  private clearStuckTimer(): void {
    if (this.stuckTimer) clearTimeout(this.stuckTimer);
    this.stuckTimer = null;
    this.stuckHead = null;
  }

  private notifications(client: pg.PoolClient, events: readonly StoredEvent[], touched: ReadonlySet<string>): string {
    let sql = "";
    // "<xid> <json>": the writing transaction lets a listener that starts
    // later tell commits from before its start (see PgEventFeed).
    const notify = (channel: string, payload: string) => {
      sql += `SELECT pg_notify(${client.escapeLiteral(channel)}, pg_current_xact_id()::text || ' ' || ${client.escapeLiteral(payload)});`;
    };
    if (touched.size > 0) notify(this.announce.wakeChannel, JSON.stringify({ n: this.announce.nodeId, q: [...touched] }));
    let chunk: [string, number, number][] = [];
    let size = 0;
    for (const [taskId, [first, last]] of seqRanges(events)) {
      const entry: [string, number, number] = [taskId, first, last];
      const length = taskId.length + 30;
      if (size + length > MAX_PAYLOAD && chunk.length > 0) {
        notify(this.announce.eventsChannel, JSON.stringify({ n: this.announce.nodeId, e: chunk }));
        chunk = [];
        size = 0;
      }
      chunk.push(entry);
      size += length;
    }
    if (chunk.length > 0) notify(this.announce.eventsChannel, JSON.stringify({ n: this.announce.nodeId, e: chunk }));
    return sql;
  }

  /** A pooled client, retrying briefly while the server restarts. */
  private async connect(): Promise<pg.PoolClient> {
    let delay = 50;
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.pool.connect();
      } catch (error) {
        if (attempt >= 4 || this.closed) throw unavailable(error);
        await new Promise((resolve) => setTimeout(resolve, delay));
        delay *= 3;
      }
    }
  }
}

/** A transaction's place in the order its commit is announced in. */
interface Turn {
  done: boolean;
  /** Left the line after hanging past STUCK_MS: announced on its own when it ends. */
  detached: boolean;
  touched: ReadonlySet<string>;
  events: readonly StoredEvent[];
  waiters: (() => void)[];
}

/** The connection failed before the transaction began. */
class StaleConnection extends Error {
  constructor(cause: unknown) {
    super("the pooled connection was closed", { cause });
  }
}

/** Per task, the first and last seq among `events`. */
export function seqRanges(events: readonly StoredEvent[]): Map<string, [number, number]> {
  const ranges = new Map<string, [number, number]>();
  for (const { taskId, seq } of events) {
    const seen = ranges.get(taskId);
    ranges.set(taskId, seen ? [Math.min(seen[0], seq), Math.max(seen[1], seq)] : [seq, seq]);
  }
  return ranges;
}
