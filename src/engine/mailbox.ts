import type { StoredEvent } from "../core/events.js";

// A pending promise alone does not keep Node running, and the stores' feeds
// are unref'd so an app can exit: while any watch awaits its next event, one
// ref'd timer keeps the process alive, as an open socket would. Counted, so
// ten thousand waiting watchers cost one timer, not one each per event.
let waitingWatches = 0;
let keepAlive: NodeJS.Timeout | null = null;

function holdProcess(): void {
  if (waitingWatches++ === 0) keepAlive = setInterval(() => {}, 2 ** 30);
}

function releaseProcess(): void {
  if (--waitingWatches === 0 && keepAlive) {
    clearInterval(keepAlive);
    keepAlive = null;
  }
}

interface Slot {
  event: StoredEvent;
  prev: Slot | null;
  next: Slot | null;
}

/** Events a watch holds for a consumer that is not taking them, superseded progress aside. */
export const DEFAULT_BACKLOG = 1000;

/**
 * The live events of one watch, waiting for its consumer, in order. Only the
 * latest progress waits: a newer one unlinks it and goes to the back. Past
 * `limit` events the mailbox lets go of all it holds and says it
 * overflowed: they are in the task's log, which the consumer re-reads when
 * it takes again. So a consumer that never takes costs the feed O(1) per
 * event and at most `limit` slots (the events themselves are shared by
 * every watcher of the task, so the slots are what one watcher adds).
 *
 * A linked list, not an array: replacing the waiting progress was a scan
 * and a splice, and taking a shift, both growing with the backlog of a
 * stuck consumer (issue #12: 19 stuck readers took one task's feed from
 * 2,892 to 1,258 events/s in 30 s).
 */
export class Mailbox {
  private head: Slot | null = null;
  private tail: Slot | null = null;
  private progress: Slot | null = null;
  private count = 0;
  private lost = false;
  private notify: (() => void) | null = null;
  /** The engine closed: no event will come, so waiting ends. */
  closed = false;

  constructor(
    readonly limit: number = DEFAULT_BACKLOG,
    private readonly onOverflow?: () => void,
  ) {
    if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError(`A mailbox holds at least one event, not ${limit}`);
  }

  /** Events waiting. */
  get size(): number {
    return this.count;
  }

  /** Events were let go since the last {@link reopen}: the consumer must re-read the log after what it last took. */
  get overflowed(): boolean {
    return this.lost;
  }

  close(): void {
    this.closed = true;
    this.notify?.();
  }

  push(event: StoredEvent): void {
    if (this.lost) return;
    if (event.data.type === "progress" && this.progress) this.unlink(this.progress);
    if (this.count >= this.limit) {
      this.head = this.tail = this.progress = null;
      this.count = 0;
      this.lost = true;
      this.onOverflow?.();
    } else {
      const slot: Slot = { event, prev: this.tail, next: null };
      if (this.tail) this.tail.next = slot;
      else this.head = slot;
      this.tail = slot;
      this.count++;
      if (event.data.type === "progress") this.progress = slot;
    }
    this.notify?.();
  }

  take(): StoredEvent | undefined {
    const slot = this.head;
    if (!slot) return undefined;
    this.unlink(slot);
    return slot.event;
  }

  /** Collect again, after an overflow; call it before re-reading the log, so nothing committed meanwhile is missed. */
  reopen(): void {
    this.lost = false;
  }

  wait(signal: AbortSignal | undefined): Promise<void> {
    if (this.count > 0 || this.lost || this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      holdProcess();
      const done = () => {
        releaseProcess();
        this.notify = null;
        signal?.removeEventListener("abort", done);
        resolve();
      };
      this.notify = done;
      signal?.addEventListener("abort", done, { once: true });
    });
  }

  private unlink(slot: Slot): void {
    if (slot.prev) slot.prev.next = slot.next;
    else this.head = slot.next;
    if (slot.next) slot.next.prev = slot.prev;
    else this.tail = slot.prev;
    slot.prev = slot.next = null;
    if (slot === this.progress) this.progress = null;
    this.count--;
  }
}
