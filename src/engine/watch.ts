import type { StoredEvent, TaskEvent } from "../core/events.js";
import { OutlastError } from "../core/errors.js";
import { isFinal } from "../core/states.js";
import type { Task } from "../core/task.js";
import { toPublicEvent } from "../core/events.js";
import type { Store } from "../store/store.js";
import type { Hub } from "./hub.js";
import { Mailbox } from "./mailbox.js";

/** An event as `watch()` yields it, with the cursor to resume after it. */
export type WatchEvent = (TaskEvent & { cursor: string }) | { type: "reset"; taskId: string; seq: number; task: Task; cursor: string };

export interface WatchOptions {
  /** Resume after this cursor (from a previous event's `cursor`), or after this `seq`. */
  after?: string | number;
  /** Stop watching when aborted. */
  signal?: AbortSignal;
  /** Watch as this owner: another owner's task is not found. */
  owner?: string;
  /**
   * Live events held while the consumer is not taking them (superseded
   * progress is never held). Past it they are let go and re-read from the
   * task's log when the consumer takes again: nothing is lost, and a stuck
   * consumer costs bounded memory. @defaultValue 1000
   */
  backlog?: number;
  /**
   * Told (from the event feed, so it must not throw or block) each time the
   * backlog overflows: a consumer that can come back later, such as an event
   * stream whose client resumes with Last-Event-ID, may rather be cut then.
   */
  onOverflow?: () => void;
}

const PAGE = 500;

// Every watcher of a task gets the same event object (read-only), so ten
// thousand watchers cost one conversion per event, not ten thousand.
const shared = new WeakMap<StoredEvent, WatchEvent>();

/** The event as watchers get it, made once and shared by all of them. */
export function published(event: StoredEvent, codec: CursorCodec): WatchEvent {
  let out = shared.get(event);
  if (!out) {
    out = Object.freeze(Object.assign(toPublicEvent(event), { cursor: codec.encode(event.seq) }));
    shared.set(event, out);
  }
  return out;
}

/** Cursors name the database so one from elsewhere is answered with a reset, not wrong events. */
export class CursorCodec {
  constructor(private readonly databaseId: string) {}

  encode(seq: number): string {
    return `${this.databaseId.slice(0, 8)}.${seq}`;
  }

  /** The seq a cursor stands for, or null when it is not one of ours. */
  decode(cursor: string | number): number | null {
    if (typeof cursor === "number") return Number.isSafeInteger(cursor) && cursor >= 0 ? cursor : null;
    const dot = cursor.indexOf(".");
    if (dot < 0 || cursor.slice(0, dot) !== this.databaseId.slice(0, 8)) return null;
    const seq = Number(cursor.slice(dot + 1));
    return Number.isSafeInteger(seq) && seq >= 0 ? seq : null;
  }
}

export interface WatchDeps {
  store: Store;
  hub: Hub;
  cursors: () => Promise<CursorCodec>;
  snapshot: (id: string) => Promise<Task | null>;
}

/**
 * Replays a task's log after a cursor, then follows it live, ending after
 * the final state (an old run's end is replaced by a `reset` to the task as it is). It subscribes before reading history so nothing slips
 * between the two; duplicates are dropped by seq.
 */
export async function* watchTask(deps: WatchDeps, taskId: string, options: WatchOptions = {}): AsyncGenerator<WatchEvent> {
  const mailbox = new Mailbox(options.backlog, options.onOverflow);
  const stopListening = deps.hub.onTask(taskId, (event) => mailbox.push(event));
  const stopOnClose = deps.hub.onClose(() => mailbox.close());
  try {
    const codec = await deps.cursors();
    const record = await deps.store.getTask(taskId);
    if (!record || (options.owner !== undefined && record.owner !== options.owner)) throw new OutlastError("not_found", `No task ${taskId}`);
    let lastSeq = 0;
    if (options.after !== undefined) {
      const seq = codec.decode(options.after);
      if (seq === null || seq > record.lastSeq) {
        const task = (await deps.snapshot(taskId))!;
        yield { type: "reset", taskId, seq: task.lastSeq, task, cursor: codec.encode(task.lastSeq) };
        if (isFinal(task.state)) return;
        lastSeq = task.lastSeq;
      } else {
        lastSeq = seq;
        if (isFinal(record.state) && seq >= record.lastSeq) return;
      }
    }

    const deliver = (event: StoredEvent): WatchEvent => {
      lastSeq = event.seq;
      return published(event, codec);
    };
    const isEnd = (event: StoredEvent) => event.data.type === "state" && isFinal(event.data.state);

    // The log after what was delivered, page by page; true when it ended the
    // task. A final state that more events follow belongs to a run that is
    // over (the task was resumed, restarted or retried since): instead of it
    // and the rest of the history, the task as it is now (`reset`), so a
    // reader never takes an old run's end for the task's.
    async function* replay(): AsyncGenerator<WatchEvent, boolean> {
      for (;;) {
        const page = await deps.store.readEvents(taskId, lastSeq, PAGE);
        for (const event of page) {
          if (isEnd(event)) {
            const task = await deps.snapshot(taskId);
            if (task && task.lastSeq > event.seq) {
              lastSeq = task.lastSeq;
              yield { type: "reset", taskId, seq: task.lastSeq, task, cursor: codec.encode(task.lastSeq) };
              if (isFinal(task.state)) return true;
              break;
            }
            yield deliver(event);
            return true;
          }
          yield deliver(event);
        }
        if (page.length < PAGE && lastSeq >= (page.at(-1)?.seq ?? lastSeq)) return false;
      }
    }

    if (yield* replay()) return;

    // Live, until the task ends, the caller aborts, or the engine closes.
    while (!options.signal?.aborted && !mailbox.closed) {
      await mailbox.wait(options.signal);
      if (mailbox.overflowed) {
        // Reopened first, so what is committed while the log is read lands in the mailbox (duplicates go by seq).
        mailbox.reopen();
        if (yield* replay()) return;
        continue;
      }
      let event: StoredEvent | undefined;
      while ((event = mailbox.take()) !== undefined) {
        if (event.seq <= lastSeq) continue;
        if (event.seq > lastSeq + 1 && event.data.type !== "progress") {
          // A gap of something other than superseded progress: fill it from the log.
          for (const missed of await deps.store.readEvents(taskId, lastSeq, event.seq - lastSeq - 1)) {
            if (missed.seq >= event.seq) break;
            // Not the end even if final: `event` comes after it.
            yield deliver(missed);
          }
        }
        yield deliver(event);
        if (isEnd(event)) return;
      }
    }
    // Ended before the task did: say so, rather than end as if it had finished.
    if (mailbox.closed && !options.signal?.aborted) throw new OutlastError("unavailable", `The engine closed while task ${taskId} was being watched`);
  } finally {
    stopOnClose();
    stopListening();
  }
}
