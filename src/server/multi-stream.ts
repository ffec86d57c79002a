import { setMaxListeners } from "node:events";
import type { StoredEvent } from "../core/events.js";
import { isFinal } from "../core/states.js";
import type { Outlast } from "../engine/outlast.js";
import type { SseStream } from "./sse.js";
import { eventJson, isEndEvent } from "./task-stream.js";

/**
 * Cursors of the multi-task stream: `m1.<db>.<taskId>~<seq>.…` — the last
 * seq this stream sent for each task it follows. Resuming replays each task
 * after its own seq, so a reconnect (even with a different task list) has no
 * gap and no repeat. Tasks the stream saw finish are left out of owner-wide
 * cursors to keep them short: a finished task has nothing more to send.
 */
export interface MultiCursor {
  positions: Map<string, number>;
}

const ENTRY = /^([A-Za-z0-9_:-]{1,128})~(\d{1,15})$/;
/** Most tasks a cursor may name; more is not a cursor of ours. */
export const MAX_CURSOR_TASKS = 1000;

export function encodeMultiCursor(db: string, positions: Iterable<[string, number]>): string {
  let out = `m1.${db}`;
  for (const [id, seq] of positions) out += `.${id}~${seq}`;
  return out;
}

/** The positions in a cursor, or null when it is not one of ours (foreign database, garbled). */
export function decodeMultiCursor(db: string, cursor: string): MultiCursor | null {
  const parts = cursor.split(".");
  if (parts[0] !== "m1" || parts[1] !== db || parts.length - 2 > MAX_CURSOR_TASKS) return null;
  const positions = new Map<string, number>();
  for (const part of parts.slice(2)) {
    const match = ENTRY.exec(part);
    if (!match) return null;
    const seq = Number(match[2]);
    if (!Number.isSafeInteger(seq)) return null;
    positions.set(match[1]!, seq);
  }
  return { positions };
}

export interface MultiScope {
  /** Only this owner's tasks; null for every owner (admin). */
  owner: string | null;
  /** Only these tasks; null for every task of the scope, including later ones. */
  tasks: readonly string[] | null;
}

interface Followed {
  /** Last seq sent on this stream; null before its first event. */
  seq: number | null;
  final: boolean;
  pumping: boolean;
  /** Highest seq heard while pumping, to catch an event that lands as a pump ends. */
  heard: number;
}

/** Tasks an owner-wide stream remembers before forgetting finished ones. */
const MAX_FOLLOWED = 2000;
/** Most active tasks an owner-wide stream starts with. */
const ACTIVE_LIMIT = 500;

/**
 * Several tasks on one connection. It subscribes first, then lists the
 * tasks, so a task submitted in between is still seen; any event of a task
 * the stream is not pumping (new, or retried after it finished) starts a pump.
 */
export class MultiStream {
  private readonly followed = new Map<string, Followed>();
  private stopListening: (() => void)[] = [];
  private readonly abort = new AbortController();
  private db = "";

  constructor(
    private readonly outlast: Outlast,
    private readonly sse: SseStream,
    private readonly scope: MultiScope,
    private readonly onError: (error: unknown) => void,
  ) {
    // Every followed task's watch waits on this one signal: thousands of listeners are expected.
    setMaxListeners(0, this.abort.signal);
    sse.onClose(() => this.stop());
  }

  async start(cursor: string | undefined): Promise<void> {
    const codec = await this.outlast.cursors();
    this.db = codec.encode(0).slice(0, -2);
    const resumed = cursor === undefined ? null : decodeMultiCursor(this.db, cursor);
    const reset = cursor !== undefined && resumed === null;
    if (resumed) {
      for (const [id, seq] of resumed.positions) {
        if (this.scope.tasks && !this.scope.tasks.includes(id)) continue;
        this.followed.set(id, { seq, final: false, pumping: false, heard: 0 });
      }
    }

    const listener = (event: StoredEvent) => this.onEvent(event);
    if (this.scope.tasks) {
      for (const id of this.scope.tasks) this.stopListening.push(this.outlast.onTaskEvents({ taskId: id }, listener));
    } else {
      this.stopListening.push(this.outlast.onTaskEvents(this.scope.owner !== null ? { owner: this.scope.owner } : {}, listener));
    }
    if (this.sse.closed) return this.stop();

    const ids = new Set<string>();
    if (this.scope.tasks) for (const id of this.scope.tasks) ids.add(id);
    else {
      for (const id of await this.outlast.unfinishedTaskIds(this.scope.owner === null ? {} : { owner: this.scope.owner }, ACTIVE_LIMIT)) ids.add(id);
    }
    // Tasks the client was following when it dropped: replay what they missed, even if they ended since.
    for (const id of this.followed.keys()) ids.add(id);
    for (const id of ids) {
      const known = this.followed.get(id)?.seq ?? null;
      this.pump(id, known !== null ? "resume" : reset ? "reset" : "snapshot");
    }
  }

  stop(): void {
    this.abort.abort();
    for (const stop of this.stopListening) stop();
    this.stopListening = [];
  }

  private onEvent(event: StoredEvent): void {
    const followed = this.followed.get(event.taskId);
    if (followed?.pumping) {
      followed.heard = Math.max(followed.heard, event.seq);
      return;
    }
    if (followed && followed.seq !== null && event.seq <= followed.seq) return;
    this.pump(event.taskId, followed && followed.seq !== null ? "resume" : "snapshot");
  }

  private pump(id: string, mode: "snapshot" | "reset" | "resume"): void {
    let followed = this.followed.get(id);
    if (!followed) this.followed.set(id, (followed = { seq: null, final: false, pumping: false, heard: 0 }));
    if (followed.pumping || this.abort.signal.aborted) return;
    followed.pumping = true;
    this.run(id, followed, mode)
      .catch((error: unknown) => {
        if (!this.abort.signal.aborted) this.onError(error);
      })
      .finally(() => {
        followed.pumping = false;
        if (this.abort.signal.aborted) return;
        if (followed.seq !== null && followed.heard > followed.seq) this.pump(id, "resume");
        else if (followed.final) this.forgetOldFinished();
      });
  }

  private async run(id: string, followed: Followed, mode: "snapshot" | "reset" | "resume"): Promise<void> {
    const signal = this.abort.signal;
    const codec = await this.outlast.cursors();
    if (mode !== "resume" || followed.seq === null) {
      const task = await this.outlast.get(id);
      // Gone, or (for a cursor naming it) someone else's: nothing to send.
      if (!task || !this.inScope(task.owner) || signal.aborted) return;
      await this.sse.ready();
      if (this.sse.closed) return;
      followed.seq = task.lastSeq;
      followed.final = isFinal(task.state);
      this.sse.send(mode === "reset" ? "reset" : "snapshot", { taskId: id, seq: task.lastSeq, task }, this.cursor());
      if (followed.final) return;
    } else {
      const record = await this.outlast.getRecord(id);
      if (!record || !this.inScope(record.owner)) {
        this.followed.delete(id);
        return;
      }
    }
    for await (const event of this.outlast.watch(id, { after: codec.encode(followed.seq ?? 0), signal, ...this.sse.watchLimits() })) {
      await this.sse.ready();
      if (this.sse.closed) return;
      followed.seq = event.seq;
      followed.final = isEndEvent(event);
      const { event: name, json } = eventJson(event);
      this.sse.sendJson(name, json, this.cursor());
      if (followed.final) return;
    }
  }

  /**
   * Finished tasks are remembered so a late copy of their last event is
   * recognised as seen; past a bound the oldest are forgotten (a retry of one
   * of those then starts with a fresh snapshot).
   */
  private forgetOldFinished(): void {
    if (this.scope.tasks !== null || this.followed.size <= MAX_FOLLOWED) return;
    for (const [id, f] of this.followed) {
      if (this.followed.size <= MAX_FOLLOWED / 2) break;
      if (f.final && !f.pumping) this.followed.delete(id);
    }
  }

  private inScope(owner: string): boolean {
    return this.scope.owner === null || this.scope.owner === owner;
  }

  private cursor(): string {
    const positions: [string, number][] = [];
    for (const [id, f] of this.followed) {
      if (f.seq === null) continue;
      if (f.final && this.scope.tasks === null) continue;
      positions.push([id, f.seq]);
    }
    return encodeMultiCursor(this.db, positions);
  }
}
