import type pg from "pg";
import type { StoredEvent } from "../../core/events.js";
import type { StoreListener } from "../store.js";
import { rowToEvent, type EventRow } from "./rows.js";
import { rows } from "./sql.js";
import { DERIVED_EVENT_COLUMNS, derivedEventsSql } from "./derived-events.js";

export interface FeedOptions {
  pool: pg.Pool;
  /** Quoted schema name. */
  schema: string;
  eventsChannel: string;
  wakeChannel: string;
  nodeId: string;
  /** How often the feed records how far it got (see `poll`). */
  pollIntervalMs: number;
  /** Settles once this process's commits so far were handed to `committed`. */
  ownCommits: () => Promise<void>;
  onError: (error: unknown) => void;
}

/** Longest a write waits for a new events subscription's starting point. */
const BASELINE_WAIT_MS = 5_000;

/** How old a snapshot must be before catch-up may start from it. */
const SAFE_AGE_MS = 2_000;

/** Longest the feed waits for this process's own commits to be handed over before reading their events. */
const OWN_COMMIT_WAIT_MS = 1_000;

/**
 * The 64-bit id of the transaction that wrote a task row's version (`xmin` is its low 32 bits): the
 * epoch of the current snapshot's, one less when the low bits are above the current ones (it wrapped since).
 */
const FULL_XMIN = `((((pg_snapshot_xmax(pg_current_snapshot())::text::bigint >> 32)
    - CASE WHEN t.xmin::text::bigint > (pg_snapshot_xmax(pg_current_snapshot())::text::bigint & 4294967295) THEN 1 ELSE 0 END) << 32)
    | t.xmin::text::bigint)`;

/** Tasks whose last delivered seq we remember, to deliver each event once. */
const MAX_TRACKED = 200_000;

/**
 * Delivers events committed by any node, each once, in per-task seq order.
 *
 * Writers NOTIFY a small payload after their events — `[taskId, firstSeq,
 * lastSeq]` per task, never the event body — and this feed, LISTENing on a
 * dedicated connection, reads exactly those rows. The per-task seq is
 * assigned under the task's row lock, so a task's notifications arrive in
 * seq order; the feed remembers the last seq it delivered per task and reads
 * `seq > last`. (A global event id would not do: PostgreSQL hands out ids
 * in insert order, not commit order.)
 *
 * If the connection drops, the feed reconnects with backoff and catches up:
 * it keeps a transaction snapshot a couple of seconds old — every event of a
 * transaction visible in it has been delivered — and after reconnecting
 * reads every event of transactions not visible in it (`task_events.txid`),
 * skipping what it already delivered. A NOTIFY is never the only copy of
 * anything: the rows are the truth, the notification only says where to look.
 *
 * Events this process commits itself are handed over at commit (see
 * `committed`), so a single node never reads its own events back.
 */
export class PgEventFeed {
  private readonly listeners = new Set<StoreListener>();
  private client: pg.PoolClient | null = null;
  private connecting: Promise<void> | null = null;
  private stopped = false;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private pollTimer: NodeJS.Timeout | null = null;
  private backoffMs = 100;

  /**
   * Everything of transactions visible in `safe` was delivered. Snapshots
   * taken by the polls wait in `recent` until they are SAFE_AGE_MS old: a
   * commit's notification can reach us a moment after a snapshot that
   * already shows the commit, so a fresh snapshot is not yet safe.
   */
  private safe: string | null = null;
  private recent: { at: number; snap: string }[] = [];
  /** Commits visible in this snapshot happened before the events subscription started: never delivered. */
  private baseline: Snapshot | null = null;
  /** Pending from an events subscription's start until its baseline snapshot is taken. */
  private starting: Promise<void> | null = null;
  private started: (() => void) | null = null;
  private readonly lastSeq = new Map<string, number>();
  private notes: { xid: bigint; own: boolean; e: [string, number, number][] }[] = [];
  private catchUp = false;
  private pollDue = false;
  private working: Promise<void> | null = null;

  constructor(private readonly options: FeedOptions) {}

  subscribe(listener: StoreListener): () => void {
    const hadEvents = this.wantsEvents();
    this.listeners.add(listener);
    if (!hadEvents && this.wantsEvents()) {
      // Starting over: what was committed before this moment is not "new".
      this.lastSeq.clear();
      this.notes = [];
      this.safe = null;
      this.recent = [];
      this.baseline = null;
      this.started?.();
      // Writes wait for the baseline (bounded, in case the database is down).
      let timer: NodeJS.Timeout | undefined;
      this.starting = new Promise<void>((resolve) => {
        this.started = resolve;
        timer = setTimeout(resolve, BASELINE_WAIT_MS);
      }).finally(() => clearTimeout(timer));
      if (this.client) void this.kick(true);
    }
    if (!this.client && !this.connecting && !this.reconnectTimer) this.connect();
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** Pending while the first connection is being made, so writes made after `subscribe` are seen. */
  ready(): Promise<void> | null {
    return this.connecting ?? this.starting;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.listeners.clear();
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.reconnectTimer = this.pollTimer = null;
    this.started?.();
    await this.connecting?.catch(() => {});
    await this.working?.catch(() => {});
    this.drop(this.client, true);
  }

  private wantsEvents(): boolean {
    for (const listener of this.listeners) if (listener.events) return true;
    return false;
  }

  private connect(): void {
    this.connecting = this.open()
      .then(() => {
        this.backoffMs = 100;
      })
      .catch((error: unknown) => {
        this.options.onError(error);
        this.scheduleReconnect();
      })
      .finally(() => {
        this.connecting = null;
      });
  }

  private async open(): Promise<void> {
    const client = await this.options.pool.connect();
    if (this.stopped) {
      client.release();
      return;
    }
    client.on("error", (error) => this.lost(client, error));
    client.on("end", () => this.lost(client, new Error("the listening connection ended")));
    client.on("notification", (message) => this.notified(message.channel, message.payload));
    try {
      await client.query(`LISTEN "${this.options.eventsChannel}"; LISTEN "${this.options.wakeChannel}"`);
    } catch (error) {
      client.release(true);
      throw error;
    }
    this.client = client;
    const reconnected = this.safe !== null;
    if (!this.pollTimer) {
      this.pollTimer = setInterval(() => {
        this.pollDue = true;
        void this.kick(false);
      }, this.options.pollIntervalMs);
      this.pollTimer.unref();
    }
    if (reconnected) {
      // Work may have been queued while we could not hear about it.
      this.wake(null);
    }
    await this.kick(reconnected);
  }

  private lost(client: pg.PoolClient, error: unknown): void {
    if (client !== this.client) return;
    this.options.onError(error);
    this.drop(client, true);
    if (!this.stopped) this.scheduleReconnect();
  }

  private drop(client: pg.PoolClient | null, destroy: boolean): void {
    if (!client) return;
    if (client === this.client) this.client = null;
    client.removeAllListeners("notification");
    client.removeAllListeners("end");
    client.on("error", () => {}); // a late socket error of a dropped client is expected
    try {
      client.release(destroy);
    } catch {
      // already released
    }
  }

  private scheduleReconnect(): void {
    if (this.stopped || this.reconnectTimer) return;
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, 5_000);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (!this.stopped && !this.client) this.connect();
    }, delay);
    this.reconnectTimer.unref();
  }

  private notified(channel: string, payload: string | undefined): void {
    const space = payload?.indexOf(" ") ?? -1;
    if (!payload || space < 0) return;
    let message: { n?: string; q?: string[]; e?: [string, number, number][] };
    let xid: bigint;
    try {
      xid = BigInt(payload.slice(0, space));
      message = JSON.parse(payload.slice(space + 1)) as typeof message;
    } catch {
      return; // not ours
    }
    if (channel === this.options.wakeChannel) {
      // Our own commits woke this process's workers already.
      if (message.n !== this.options.nodeId && Array.isArray(message.q)) this.wake(new Set(message.q));
      return;
    }
    if (!Array.isArray(message.e) || !this.wantsEvents()) return;
    this.notes.push({ xid, own: message.n === this.options.nodeId, e: message.e });
    void this.kick(false);
  }

  /** Run the reader: one read at a time, so a task's events go out in order. */
  private kick(catchUp: boolean): Promise<void> {
    if (catchUp) this.catchUp = true;
    if (this.working) return this.working;
    this.working = this.work()
      .catch((error: unknown) => {
        this.options.onError(error);
        // Whatever was not read is found again by the catch-up after reconnecting.
        if (this.client) this.lost(this.client, error);
      })
      .finally(() => {
        this.working = null;
        if ((this.notes.length > 0 || this.catchUp) && this.client) void this.kick(false);
      });
    return this.working;
  }

  private async work(): Promise<void> {
    const client = this.client;
    if (!client) return;
    if (this.catchUp || this.safe === null) {
      this.catchUp = false;
      await this.readSince(client);
      return;
    }
    if (this.notes.some((note) => note.own)) {
      // Our own commit's notice can come in before its writer has handed
      // the events over (`committed`): waiting for that (briefly, should a
      // commit hang) spares reading them back from the table.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.options.ownCommits(), new Promise((resolve) => (timer = setTimeout(resolve, OWN_COMMIT_WAIT_MS)))]);
      clearTimeout(timer);
    }
    if (this.notes.length > 0) {
      const ranges = new Map<string, [number, number]>();
      for (const note of this.notes) {
        if (this.baseline && visible(note.xid, this.baseline)) continue; // committed before the start
        for (const [taskId, first, last] of note.e) {
          const seen = ranges.get(taskId);
          ranges.set(taskId, seen ? [Math.min(seen[0], first), Math.max(seen[1], last)] : [first, last]);
        }
      }
      this.notes = [];
      await this.readRanges(client, ranges);
    }
    if (this.pollDue) {
      // Move the safe point on.
      this.pollDue = false;
      const [row] = await rows<{ snap: string }>(client, "SELECT pg_current_snapshot()::text AS snap");
      this.remember(row!.snap);
    }
  }

  private async readRanges(client: pg.PoolClient, ranges: Map<string, [number, number]>): Promise<void> {
    const ids: string[] = [];
    const after: number[] = [];
    const upto: number[] = [];
    for (const [taskId, [first, last]] of ranges) {
      const from = this.lastSeq.get(taskId) ?? first - 1;
      if (from >= last) continue;
      ids.push(taskId);
      after.push(from);
      upto.push(last);
    }
    if (ids.length === 0) return;
    const found = await rows<EventRow>(
      client,
      `WITH r AS MATERIALIZED (SELECT * FROM unnest($1::text[], $2::int[], $3::int[]) AS r(task_id, after, upto))
       SELECT e.task_id, e.owner, e.queue, e.seq, e.attempt, e.at, e.data
       FROM r JOIN ${this.options.schema}.task_events e ON e.task_id = r.task_id AND e.seq > r.after AND e.seq <= r.upto
       UNION ALL
       SELECT ${DERIVED_EVENT_COLUMNS} FROM r JOIN ${this.options.schema}.tasks t ON t.id = r.task_id CROSS JOIN ${derivedEventsSql("t")}
       WHERE t.derived <> 0 AND d.bit <> 0 AND d.seq > r.after AND d.seq <= r.upto
       ORDER BY task_id, seq`,
      [ids, after, upto],
    );
    this.deliver(found);
  }

  /** Every event of a transaction not visible in the safe snapshot (all of them on the first call: none). */
  private async readSince(client: pg.PoolClient): Promise<void> {
    await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    try {
      const [row] = await rows<{ snap: string }>(client, "SELECT pg_current_snapshot()::text AS snap");
      let found: EventRow[] = [];
      if (this.safe !== null && this.wantsEvents()) {
        found = await rows<EventRow>(
          client,
          `SELECT task_id, owner, queue, seq, attempt, at, data FROM ${this.options.schema}.task_events
           WHERE txid >= pg_snapshot_xmin($1::pg_snapshot)::text::bigint AND NOT pg_visible_in_snapshot(txid::text::xid8, $1::pg_snapshot)
           UNION ALL
           -- Derived events (derived-events.ts) of rows a missed transaction wrote last; delivered ones are skipped by seq.
           SELECT ${DERIVED_EVENT_COLUMNS} FROM ${this.options.schema}.tasks t CROSS JOIN ${derivedEventsSql("t")}
           WHERE t.derived <> 0 AND d.bit <> 0 AND ${FULL_XMIN} >= pg_snapshot_xmin($1::pg_snapshot)::text::bigint
             AND NOT pg_visible_in_snapshot(${FULL_XMIN}::text::xid8, $1::pg_snapshot)
           ORDER BY task_id, seq`,
          [this.safe],
        );
      }
      await client.query("COMMIT");
      // Notifications that came in meanwhile are re-read from lastSeq; nothing repeats.
      this.deliver(found);
      if (this.safe === null) {
        this.safe = row!.snap;
        this.baseline = parseSnapshot(row!.snap);
        this.started?.();
        this.started = null;
        this.starting = null;
      }
      this.remember(row!.snap);
    } catch (error) {
      await client.query("ROLLBACK").catch(() => {});
      throw error;
    }
  }

  private remember(snap: string): void {
    const now = Date.now();
    this.recent.push({ at: now, snap });
    const age = Math.max(SAFE_AGE_MS, 2 * this.options.pollIntervalMs);
    while (this.recent.length > 1 && this.recent[0]!.at <= now - age && this.recent[1]!.at <= now - age) this.recent.shift();
    if (this.recent[0]!.at <= now - age) this.safe = this.recent.shift()!.snap;
  }

  private deliver(found: readonly EventRow[]): void {
    const events: StoredEvent[] = [];
    for (const row of found) {
      const last = this.lastSeq.get(row.task_id);
      if (last !== undefined && row.seq <= last) continue;
      this.track(row.task_id, row.seq);
      events.push(rowToEvent(row));
    }
    this.emit(events);
  }

  private emit(events: readonly StoredEvent[]): void {
    if (events.length === 0) return;
    for (const listener of [...this.listeners]) {
      try {
        listener.events?.(events);
      } catch (error) {
        this.options.onError(error);
      }
    }
  }

  private track(taskId: string, seq: number): void {
    this.lastSeq.delete(taskId);
    this.lastSeq.set(taskId, seq);
    if (this.lastSeq.size > MAX_TRACKED) {
      const oldest = this.lastSeq.keys().next().value;
      if (oldest !== undefined) this.lastSeq.delete(oldest);
    }
  }

  private wake(queues: ReadonlySet<string> | null): void {
    for (const listener of [...this.listeners]) {
      try {
        listener.wake?.(queues);
      } catch (error) {
        this.options.onError(error);
      }
    }
  }

  /**
   * After a commit of this process: wake local workers, and deliver its
   * events at once — without reading them back — where that keeps each
   * task's order: an event goes out here only when it directly follows the
   * last one delivered for its task (or is a new task's first). Any other is
   * left to its notification, which reads it from the table.
   */
  committed(queues: ReadonlySet<string>, events: readonly StoredEvent[]): void {
    if (this.wantsEvents() && this.baseline !== null && events.length > 0) {
      const ready: StoredEvent[] = [];
      for (const event of events) {
        const last = this.lastSeq.get(event.taskId);
        if (last === undefined ? event.seq !== 1 : event.seq !== last + 1) continue;
        this.track(event.taskId, event.seq);
        ready.push(event);
      }
      this.emit(ready);
    }
    if (queues.size > 0) this.wake(queues);
  }
}

interface Snapshot {
  xmin: bigint;
  xmax: bigint;
  running: Set<bigint>;
}

/** `pg_snapshot` text form: `xmin:xmax:xip,xip,…`. */
function parseSnapshot(text: string): Snapshot {
  const [xmin = "0", xmax = "0", xip = ""] = text.split(":");
  return { xmin: BigInt(xmin), xmax: BigInt(xmax), running: new Set(xip ? xip.split(",").map((x) => BigInt(x)) : []) };
}

/** Whether a transaction had committed when the snapshot was taken (pg_visible_in_snapshot). */
function visible(xid: bigint, snapshot: Snapshot): boolean {
  if (xid < snapshot.xmin) return true;
  if (xid >= snapshot.xmax) return false;
  return !snapshot.running.has(xid);
}
