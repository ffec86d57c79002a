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

/**
 * A bounded, ordered mailbox. Only one progress event is ever waiting: a
 * newer one replaces it (moving to the back), so a slow consumer makes the
 * queue drop intermediate progress instead of growing.
 */
export class Mailbox {
  private items: StoredEvent[] = [];
  private notify: (() => void) | null = null;
  /** The engine closed: no event will come, so waiting ends. */
  closed = false;

  close(): void {
    this.closed = true;
    this.notify?.();
  }

  push(event: StoredEvent): void {
    if (event.data.type === "progress") {
      const i = this.items.findIndex((e) => e.data.type === "progress");
      if (i >= 0) this.items.splice(i, 1);
    }
    this.items.push(event);
    this.notify?.();
  }

  /** Events waiting. */
  get size(): number {
    return this.items.length;
  }

  take(): StoredEvent | undefined {
    return this.items.shift();
  }

  wait(signal: AbortSignal | undefined): Promise<void> {
    if (this.items.length > 0 || this.closed) return Promise.resolve();
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
}
