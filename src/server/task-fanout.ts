import type { StoredEvent } from "../core/events.js";
import type { Task } from "../core/task.js";
import type { Outlast } from "../engine/outlast.js";
import { Mailbox } from "../engine/mailbox.js";
import { published, type CursorCodec } from "../engine/watch.js";
import type { DrainListener, SseStream, StreamCloseListener } from "./sse.js";
import { eventFrame, isEndEvent } from "./task-stream.js";
import { SLICE_WRITES, TurnBudget } from "./turn-budget.js";

/** Where a fan-out hears a task's events: the engine (`Outlast.onTaskEvents`). */
export type TaskEventFeed = Pick<Outlast, "onTaskEvents">;

/**
 * How long a snapshot read for one stream is given to the streams of the
 * task that connect after it, while no event of the task comes: ten
 * thousand watchers connecting at once cost a read, a JSON and a frame per
 * this long, not one each. Only what no event tells (a queued task's
 * position) may be this much older than the stream.
 */
export const SNAPSHOT_SHARE_MS = 250;

/** Most streams written per event loop turn (and at most SLICE_MS of writes): a broadcast to ten thousand never holds the loop for all of them. */
export const FANOUT_SLICE = SLICE_WRITES;

/**
 * One stream following a task. While it catches up from the log its live
 * events wait in its own mailbox; once caught up it is live, and the task's
 * fan-out writes to it directly.
 */
export class FanoutMember implements StreamCloseListener, DrainListener {
  /** The seq of the last event written to the stream. */
  lastSeq = 0;
  /** Live events while catching up; null once live. */
  mailbox: Mailbox | null;
  /**
   * Live events held while the reader's buffer is full, in order, superseded
   * progress let go (a mailbox); null while it keeps up. Past the backlog the
   * reader is cut and resumes from the log.
   */
  held: Mailbox | null = null;

  constructor(
    readonly sse: SseStream,
    private readonly fanout: TaskFanout,
  ) {
    this.mailbox = new Mailbox(sse.backlog);
  }

  streamClosed(): void {
    this.fanout.leave(this);
  }

  drained(): void {
    this.fanout.drained(this);
  }
}

/**
 * The live streams of one task, fed from one listener on the engine's event
 * feed. Each event's frame is made once and the same bytes are queued to
 * every stream, a slice of streams per turn. Progress is collapsed before it
 * is fanned out: a progress event that a newer one supersedes before every
 * stream got it is let go, so a queue of broadcasts stays bounded by the
 * events that are never dropped (state, log, step), which keep their order.
 */
export class TaskFanout {
  private readonly catching = new Set<FanoutMember>();
  private readonly live = new Set<FanoutMember>();
  private readonly pending: StoredEvent[] = [];
  private current: StoredEvent | null = null;
  private cursor: Iterator<FanoutMember> | null = null;
  private superseded = false;
  private scheduled = false;
  private heard = 0;
  private shared: { task: Task; frame: Uint8Array; until: number } | null = null;
  private readonly stopListening: () => void;

  constructor(
    feed: TaskEventFeed,
    readonly taskId: string,
    private readonly codec: CursorCodec,
    private readonly onEmpty: () => void,
  ) {
    this.stopListening = feed.onTaskEvents({ taskId }, (event) => this.push(event));
  }

  /** Adds a stream, catching up: live events wait in its mailbox until {@link goLive}. */
  join(sse: SseStream): FanoutMember {
    const member = new FanoutMember(sse, this);
    this.catching.add(member);
    sse.onClose(member);
    return member;
  }

  /** The member has written everything up to `member.lastSeq` and its mailbox is empty: from now on the fan-out writes to it. */
  goLive(member: FanoutMember): void {
    if (member.sse.closed || !this.catching.delete(member)) return;
    member.mailbox = null;
    member.sse.onDrain = member;
    this.live.add(member);
  }

  get size(): number {
    return this.catching.size + this.live.size;
  }

  /** The snapshot another stream read and its frame, while no event has come since (for at most {@link SNAPSHOT_SHARE_MS}). */
  sharedSnapshot(): { task: Task; frame: Uint8Array } | null {
    if (this.shared !== null && performance.now() > this.shared.until) this.shared = null;
    return this.shared;
  }

  /** Taken before a snapshot is read, and given back to {@link share}: whether an event came while it was read. */
  mark(): number {
    return this.heard;
  }

  /** Offers a snapshot read since `mark` to the streams that connect next, unless an event came meanwhile (it may be older than that event). */
  share(mark: number, task: Task, frame: Uint8Array): void {
    if (mark === this.heard) this.shared = { task, frame, until: performance.now() + SNAPSHOT_SHARE_MS };
  }

  /** @internal The member's stream closed. */
  leave(member: FanoutMember): void {
    if (!this.catching.delete(member) && !this.live.delete(member)) return;
    member.sse.onDrain = null;
    if (this.size === 0) {
      this.stopListening();
      this.pending.length = 0;
      this.current = null;
      this.cursor = null;
      this.shared = null;
      this.onEmpty();
    }
  }

  private push(event: StoredEvent): void {
    this.heard++;
    this.shared = null;
    for (const member of this.catching) member.mailbox?.push(event);
    if (this.live.size === 0) return;
    if (event.data.type === "progress") {
      if (this.current?.data.type === "progress" && this.pending.length === 0) this.superseded = true;
      const older = this.pending.findIndex((e) => e.data.type === "progress");
      if (older >= 0) this.pending.splice(older, 1);
    }
    this.pending.push(event);
    this.schedule(false);
  }

  private schedule(later: boolean): void {
    if (this.scheduled) return;
    if (!later) {
      this.deliver();
      return;
    }
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.deliver();
    });
  }

  /** Writes the current event to up to {@link FANOUT_SLICE} streams, moving on to the next event when all have it. */
  private deliver(): void {
    const budget = new TurnBudget();
    for (;;) {
      if (!this.current || this.superseded) {
        this.superseded = false;
        this.current = this.pending.shift() ?? null;
        if (!this.current) {
          this.cursor = null;
          return;
        }
        this.cursor = this.live.values();
      }
      const event = this.current;
      const shown = published(event, this.codec);
      const frame = eventFrame(shown);
      const end = isEndEvent(shown);
      for (;;) {
        if (!budget.take()) {
          this.schedule(true);
          return;
        }
        const next = this.cursor!.next();
        if (next.done) break;
        this.write(next.value, event, frame, end);
        // The last stream left (the task ended for all of them), or a newer progress took this one's place.
        if (!this.cursor) return;
        if (this.superseded) break;
      }
      this.current = null;
    }
  }

  private write(member: FanoutMember, event: StoredEvent, frame: Uint8Array, end: boolean): void {
    const sse = member.sse;
    if (sse.closed || event.seq <= member.lastSeq) return;
    if (member.held !== null || !sse.writable) {
      // The reader is behind: the event waits with the others it has not taken (a newer progress replaces an older one).
      member.held ??= new Mailbox(sse.backlog);
      member.held.push(event);
      if (member.held.overflowed) sse.cut("behind");
      return;
    }
    member.lastSeq = event.seq;
    sse.sendNow(frame);
    if (end) sse.close();
  }

  /** @internal The reader took what was queued: what it was held back from goes out while it keeps up. */
  drained(member: FanoutMember): void {
    const held = member.held;
    if (held === null) return;
    let event: StoredEvent | undefined;
    while (member.sse.writable && (event = held.take()) !== undefined) {
      if (event.seq <= member.lastSeq) continue;
      const shown = published(event, this.codec);
      member.lastSeq = event.seq;
      member.sse.sendFrame(eventFrame(shown));
      if (isEndEvent(shown)) return member.sse.close();
    }
    if (held.size === 0) member.held = null;
  }
}

/** The fan-outs of one handler, one per watched task while it has streams. */
export class TaskFanouts {
  private readonly byTask = new Map<string, TaskFanout>();

  constructor(private readonly feed: TaskEventFeed) {}

  /** Joins `sse` to the task's fan-out, made on first use and let go with its last stream. */
  join(taskId: string, sse: SseStream, codec: CursorCodec): { fanout: TaskFanout; member: FanoutMember } {
    let fanout = this.byTask.get(taskId);
    if (!fanout) {
      const made: TaskFanout = new TaskFanout(this.feed, taskId, codec, () => {
        if (this.byTask.get(taskId) === made) this.byTask.delete(taskId);
      });
      this.byTask.set(taskId, made);
      fanout = made;
    }
    return { fanout, member: fanout.join(sse) };
  }

  /** Tasks with streams, for tests. */
  get tasks(): number {
    return this.byTask.size;
  }
}
