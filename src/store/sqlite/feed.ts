import type { Database, Statement } from "better-sqlite3";
import type { StoredEvent } from "../../core/events.js";
import type { StoreListener } from "../store.js";
import { rowToEvent, type EventRow } from "./rows.js";

const PAGE = 2000;

/**
 * Delivers committed events to listeners in global insertion order, which on
 * SQLite is commit order (one writer at a time). Local commits are pushed at
 * once; commits of other processes are noticed by polling
 * `PRAGMA data_version`, a counter that costs microseconds to read.
 */
export class EventFeed {
  private readonly listeners = new Set<StoreListener>();
  private lastId = 0;
  private dataVersion = 0;
  private timer: NodeJS.Timeout | null = null;
  private readonly readAfter: Statement<[number, number], EventRow>;
  private readonly maxId: Statement<[], { id: number | null }>;
  private readonly version: Statement<[], { data_version: number }>;

  constructor(
    db: Database,
    private readonly pollIntervalMs: number,
  ) {
    this.readAfter = db.prepare("SELECT * FROM task_events WHERE id > ? ORDER BY id LIMIT ?");
    this.maxId = db.prepare("SELECT max(id) AS id FROM task_events");
    this.version = db.prepare("PRAGMA data_version");
  }

  subscribe(listener: StoreListener): () => void {
    if (this.listeners.size === 0) {
      this.lastId = this.maxId.get()?.id ?? 0;
      this.dataVersion = this.readVersion();
      this.timer = setInterval(() => this.poll(), this.pollIntervalMs);
      this.timer.unref();
    } else if (listener.events && ![...this.listeners].some((l) => l.events)) {
      // Wake-only listeners do not move lastId, so it may be far behind:
      // the first events listener starts from now, not from then.
      this.lastId = this.maxId.get()?.id ?? 0;
    }
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) this.stop();
    };
  }

  /** After a commit in this process. */
  committed(touchedQueues: ReadonlySet<string>): void {
    if (this.listeners.size === 0) return;
    this.pull();
    if (touchedQueues.size > 0) this.wake(touchedQueues);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.listeners.clear();
  }

  private poll(): void {
    let version: number;
    try {
      version = this.readVersion();
    } catch {
      return; // closed under us; close() clears the timer next
    }
    if (version === this.dataVersion) return;
    this.dataVersion = version;
    this.pull();
    // Another process wrote: it may have queued work or freed a slot.
    this.wake(null);
  }

  private pull(): void {
    if (![...this.listeners].some((l) => l.events)) return;
    for (;;) {
      const rows = this.readAfter.all(this.lastId, PAGE);
      if (rows.length === 0) return;
      this.lastId = rows[rows.length - 1]!.id;
      const events: StoredEvent[] = rows.map(rowToEvent);
      for (const listener of this.listeners) listener.events?.(events);
      if (rows.length < PAGE) return;
    }
  }

  private wake(queues: ReadonlySet<string> | null): void {
    for (const listener of this.listeners) listener.wake?.(queues);
  }

  private readVersion(): number {
    return this.version.get()?.data_version ?? 0;
  }
}
