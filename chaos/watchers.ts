// SSE readers that follow one task each over HTTP and drop their own
// connection every few hundred milliseconds, coming back with Last-Event-ID,
// the way a browser on a bad network would. They keep what they received so
// the run can hold it against the store's event log afterwards.
import { SseReader } from "../test/server/sse-reader.js";

const FINAL = new Set(["succeeded", "failed", "canceled"]);
const MAX_CONNECTS = 400;

export interface Received {
  seq: number;
  type: string;
}

export class TaskWatcher {
  /** The seq of the first snapshot: events after it are the ones this watcher must see. */
  baseline: number | null = null;
  readonly received: Received[] = [];
  /** Cursors the server could not serve (a `reset`): each restarts the check from its seq. */
  resets = 0;
  connects = 0;
  failedConnects = 0;
  finished = false;
  private lastId: string | null = null;

  constructor(
    readonly taskId: string,
    private readonly url: string,
    private readonly token: string,
  ) {}

  /** Follows the task to its final state, or until `deadline`; bounded in connects. */
  async follow(deadline: number, dropMs: { min: number; max: number }): Promise<void> {
    while (!this.finished && Date.now() < deadline && this.connects < MAX_CONNECTS) {
      this.connects++;
      const controller = new AbortController();
      const dropAfter = dropMs.min + Math.random() * (dropMs.max - dropMs.min);
      const timer = setTimeout(() => controller.abort(), Math.min(dropAfter, Math.max(0, deadline - Date.now())));
      try {
        const headers: Record<string, string> = { authorization: `Bearer ${this.token}` };
        if (this.lastId !== null) headers["last-event-id"] = this.lastId;
        const response = await fetch(`${this.url}/api/v1/tasks/${this.taskId}/events`, { headers, signal: controller.signal });
        // 204: the final state was already seen, so there is nothing to resume.
        if (response.status === 204) this.finished = this.baseline !== null;
        if (!response.ok || response.status === 204) {
          this.failedConnects++;
          await response.body?.cancel().catch(() => {});
          await new Promise((resolve) => setTimeout(resolve, 100));
          continue;
        }
        const reader = new SseReader(response);
        try {
          for (let event = await reader.next(); event !== null; event = await reader.next()) {
            if (event.id !== undefined) this.lastId = event.id;
            this.take(event.event, event.data);
          }
        } finally {
          await reader.cancel();
        }
      } catch {
        // dropped on purpose or the server is away: come back with the last id
        if (!controller.signal.aborted) await new Promise((resolve) => setTimeout(resolve, 100));
      } finally {
        clearTimeout(timer);
      }
    }
  }

  private take(type: string, data: Record<string, unknown>): void {
    const seq = typeof data.seq === "number" ? data.seq : NaN;
    const task = data.task as { state?: string; lastSeq?: number } | undefined;
    if (type === "snapshot") {
      if (this.baseline === null) this.baseline = seq;
      if (task?.state !== undefined && FINAL.has(task.state) && this.baseline === seq) this.finished = true;
      return;
    }
    if (type === "reset") {
      this.resets++;
      this.baseline = seq;
      this.received.length = 0;
      if (task?.state !== undefined && FINAL.has(task.state)) this.finished = true;
      return;
    }
    this.received.push({ seq, type });
    if (type === "state" && typeof data.state === "string" && FINAL.has(data.state)) this.finished = true;
  }
}

export interface WatcherCheck {
  watchers: number;
  /** Non-progress events in the store after a watcher's baseline that it never received. */
  gaps: number;
  /** Events received twice, or out of seq order. */
  repeats: number;
  /** Events received that the store does not hold (other than progress, which is compacted). */
  unknown: number;
  /** Non-progress events held against the store: what the gap check covered. */
  checked: number;
  resets: number;
  connects: number;
  unfinished: number;
  examples: string[];
}

/** Holds each watcher's events against the store's non-progress log of its task. */
export function checkWatchers(watchers: readonly TaskWatcher[], logOf: (taskId: string) => Received[]): WatcherCheck {
  const check: WatcherCheck = { watchers: watchers.length, gaps: 0, repeats: 0, unknown: 0, checked: 0, resets: 0, connects: 0, unfinished: 0, examples: [] };
  for (const w of watchers) {
    check.resets += w.resets;
    check.connects += w.connects;
    if (!w.finished || w.baseline === null) {
      check.unfinished++;
      continue;
    }
    let last = w.baseline;
    for (const e of w.received) {
      if (!(e.seq > last)) {
        check.repeats++;
        check.examples.push(`${w.taskId}: seq ${e.seq} (${e.type}) after ${last}`);
      }
      last = Math.max(last, e.seq);
    }
    const got = new Set(w.received.filter((e) => e.type !== "progress").map((e) => e.seq));
    const stored = logOf(w.taskId).filter((e) => e.type !== "progress" && e.seq > w.baseline!);
    const storedSeqs = new Set(stored.map((e) => e.seq));
    check.checked += stored.length;
    for (const e of stored) {
      if (got.has(e.seq)) continue;
      check.gaps++;
      check.examples.push(`${w.taskId}: missed seq ${e.seq} (${e.type}) after baseline ${w.baseline}`);
    }
    for (const seq of got) if (!storedSeqs.has(seq)) check.unknown++;
  }
  check.examples = check.examples.slice(0, 10);
  return check;
}
