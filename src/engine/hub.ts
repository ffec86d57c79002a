import type { StoredEvent } from "../core/events.js";
import type { Store } from "../store/store.js";

export type EventListener = (event: StoredEvent) => void;

/**
 * Fans the store's single event feed out to watchers in this process, by
 * task, by owner, or all. Subscribes to the store only while someone listens.
 */
export class Hub {
  private readonly byTask = new Map<string, Set<EventListener>>();
  private readonly byOwner = new Map<string, Set<EventListener>>();
  private readonly all = new Set<EventListener>();
  private readonly wakeListeners = new Set<(queues: ReadonlySet<string> | null) => void>();
  private unsubscribe: (() => void) | null = null;
  private unsubscribeWake: (() => void) | null = null;
  private listenerCount = 0;
  private closed = false;
  private readonly closeListeners = new Set<() => void>();

  constructor(private readonly store: Store) {}

  onTask(taskId: string, listener: EventListener): () => void {
    return this.add(this.byTask, taskId, listener);
  }

  onOwner(owner: string, listener: EventListener): () => void {
    return this.add(this.byOwner, owner, listener);
  }

  onAll(listener: EventListener): () => void {
    this.all.add(listener);
    this.retain();
    return once(() => {
      this.all.delete(listener);
      this.release();
    });
  }

  /** Work may have arrived. Kept apart from events so idle workers never pay for reading them. */
  onWake(listener: (queues: ReadonlySet<string> | null) => void): () => void {
    this.wakeListeners.add(listener);
    this.unsubscribeWake ??= this.store.subscribe({
      wake: (queues) => {
        for (const wake of this.wakeListeners) wake(queues);
      },
    });
    return once(() => {
      this.wakeListeners.delete(listener);
      if (this.wakeListeners.size === 0) {
        this.unsubscribeWake?.();
        this.unsubscribeWake = null;
      }
    });
  }

  /** Watchers in this process, for metrics and the dashboard. */
  get watcherCount(): number {
    let n = this.all.size;
    for (const set of this.byTask.values()) n += set.size;
    for (const set of this.byOwner.values()) n += set.size;
    return n;
  }

  /** Told once, when the engine closes: watches end then instead of waiting for events that will not come. */
  onClose(listener: () => void): () => void {
    if (this.closed) {
      listener();
      return () => {};
    }
    this.closeListeners.add(listener);
    return () => void this.closeListeners.delete(listener);
  }

  close(): void {
    this.closed = true;
    const closing = [...this.closeListeners];
    this.closeListeners.clear();
    for (const listener of closing) listener();
    this.unsubscribe?.();
    this.unsubscribe = null;
    this.unsubscribeWake?.();
    this.unsubscribeWake = null;
    this.byTask.clear();
    this.byOwner.clear();
    this.all.clear();
    this.wakeListeners.clear();
    this.listenerCount = 0;
  }

  private add(map: Map<string, Set<EventListener>>, key: string, listener: EventListener): () => void {
    let set = map.get(key);
    if (!set) map.set(key, (set = new Set()));
    set.add(listener);
    this.retain();
    return once(() => {
      const current = map.get(key);
      if (!current?.delete(listener)) return;
      if (current.size === 0) map.delete(key);
      this.release();
    });
  }

  private retain(): void {
    this.listenerCount++;
    if (this.unsubscribe) return;
    this.unsubscribe = this.store.subscribe({ events: (events) => this.dispatch(events) });
  }

  private release(): void {
    this.listenerCount--;
    if (this.listenerCount === 0 && this.unsubscribe) {
      this.unsubscribe();
      this.unsubscribe = null;
    }
  }

  private dispatch(events: readonly StoredEvent[]): void {
    for (const event of events) {
      const forTask = this.byTask.get(event.taskId);
      if (forTask) for (const listener of forTask) safely(listener, event);
      const forOwner = this.byOwner.get(event.owner);
      if (forOwner) for (const listener of forOwner) safely(listener, event);
      for (const listener of this.all) safely(listener, event);
    }
  }
}

function safely(listener: EventListener, event: StoredEvent): void {
  try {
    listener(event);
  } catch (error) {
    // One broken watcher must not starve the others; surface it without throwing into the feed.
    queueMicrotask(() => {
      throw error;
    });
  }
}

function once(fn: () => void): () => void {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    fn();
  };
}
