import type { Database, Statement } from "better-sqlite3";
import type { StoredEvent } from "../../core/events.js";
import type { StoreListener } from "../store.js";
import { rowToEvent, type EventRow } from "./rows.js";

const PAGE = 2000;

/** An event this process just appended, with its row id. */
export interface LocalEvent {
  id: number;
  event: StoredEvent;
}

/**
 * Delivers committed events to listeners in global insertion order, which on
 * SQLite is commit order (one writer at a time). Local commits are pushed at
 * once; commits of other processes are noticed by polling
 * `PRAGMA data_version`, a counter that costs microseconds to read.
 */
export class EventFeed {
  private readonly listeners = new Set<StoreListener>();
  private lastId = 0;
  /** Told when another process committed (waiting claims use it). */
  onRemoteChange: (() => void) | null = null;
  private eventListeners = 0;
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

  /** Whether anyone listens for events (writers keep what they append only then). */
  get wantsEvents(): boolean {
    return this.eventListeners > 0;
  }

  subscribe(listener: StoreListener): () => void {
    if (this.listeners.size === 0) {
      this.lastId = this.maxId.get()?.id ?? 0;
      this.dataVersion = this.readVersion();
      this.timer = setInterval(() => this.poll(), this.pollIntervalMs);
      this.timer.unref();
    } else if (listener.events && this.eventListeners === 0) {
      // Wake-only listeners do not move lastId, so it may be far behind:
      // the first events listener starts from now, not from then.
      this.lastId = this.maxId.get()?.id ?? 0;
    }
    this.listeners.add(listener);
    if (listener.events) this.eventListeners++;
    return () => {
      if (!this.listeners.delete(listener)) return;
      if (listener.events) this.eventListeners--;
      if (this.listeners.size === 0) this.stop();
    };
  }

  /**
   * After a commit in this process. `local` are the events it appended, with
   * their ids, when the writer kept them: if no other process committed
   * since we last looked, they are exactly what is new, and are handed over
   * without reading them back (reading back cost ~15% of a busy worker).
   */
  committed(touchedQueues: ReadonlySet<string>, local: readonly LocalEvent[] | null): void {
    if (this.listeners.size === 0) return;
    const version = this.readVersion();
    const remote = version !== this.dataVersion;
    this.dataVersion = version;
    if (this.eventListeners > 0) {
      if (remote || local === null) this.pull();
      else if (local.length > 0) {
        this.lastId = local[local.length - 1]!.id;
        const events = local.map((l) => l.event);
        for (const listener of this.listeners) listener.events?.(events);
      }
    }
    if (remote) {
      this.wake(null);
      this.onRemoteChange?.();
    } else if (touchedQueues.size > 0) this.wake(touchedQueues);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.listeners.clear();
    this.eventListeners = 0;
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
    this.onRemoteChange?.();
  }

  private pull(): void {
    if (this.eventListeners === 0) return;
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
