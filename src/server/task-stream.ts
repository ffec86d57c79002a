import { OutlastError } from "../core/errors.js";
import { isFinal } from "../core/states.js";
import type { Outlast } from "../engine/outlast.js";
import type { StoredEvent } from "../core/events.js";
import type { Task } from "../core/task.js";
import { published, type WatchEvent } from "../engine/watch.js";
import type { TaskFanouts } from "./task-fanout.js";
import { sseFrame, type SseStream } from "./sse.js";

/** The SSE `data` of an engine event: everything but routing fields the frame already carries. */
export function eventData(event: WatchEvent): { event: string; data: Record<string, unknown> } {
  if (event.type === "reset") return { event: "reset", data: { taskId: event.taskId, seq: event.seq, task: event.task } };
  const { cursor: _cursor, type, ...data } = event;
  return { event: type, data };
}

// Watchers of one task share the engine's event objects, so the JSON is made once per event.
const serialized = new WeakMap<WatchEvent, { event: string; json: string }>();
// And so is a task stream's frame (its id is the event's cursor): ten thousand watchers get the same bytes.
const frames = new WeakMap<WatchEvent, Uint8Array>();

/** The frame a task stream sends for an event, made once however many streams send it. */
export function eventFrame(event: WatchEvent): Uint8Array {
  let frame = frames.get(event);
  if (!frame) {
    const { event: name, json } = eventJson(event);
    frame = sseFrame(name, json, event.cursor);
    frames.set(event, frame);
  }
  return frame;
}

/** `eventData` as JSON text, computed once per event however many streams send it. */
export function eventJson(event: WatchEvent): { event: string; json: string } {
  let out = serialized.get(event);
  if (!out) {
    const { event: name, data } = eventData(event);
    out = { event: name, json: JSON.stringify(data) };
    serialized.set(event, out);
  }
  return out;
}

export function isEndEvent(event: WatchEvent): boolean {
  if (event.type === "reset") return isFinal(event.task.state);
  return event.type === "state" && isFinal(event.state);
}

const PAGE = 500;

const isEnd = (event: StoredEvent) => event.data.type === "state" && isFinal(event.data.state);

/**
 * Feeds one task to a stream: a snapshot (unless resuming), then its log
 * after the cursor, then hands the stream to the task's fan-out, which
 * writes live events to every caught-up stream of the task at once. While
 * it catches up, the live events wait in the stream's own mailbox (which
 * compacts progress, and past its backlog sends it back to the log), and it
 * waits for the reader between events. The stream is closed after the final state.
 */
export async function pumpTask(outlast: Outlast, fanouts: TaskFanouts, sse: SseStream, taskId: string, after: string | undefined): Promise<void> {
  const codec = await outlast.cursors();
  if (sse.closed) return;
  // Joined before anything is read, so what is committed meanwhile waits in the mailbox.
  const { fanout, member } = fanouts.join(taskId, sse, codec);
  const send = (event: WatchEvent, seq: number) => {
    member.lastSeq = seq;
    sse.sendFrame(eventFrame(event));
  };
  const reset = (task: Task) => send({ type: "reset", taskId, seq: task.lastSeq, task, cursor: codec.encode(task.lastSeq) }, task.lastSeq);

  // Whether the log after the snapshot must be read. Not after a shared one: no event of the task has come
  // since it was read, and any that comes (or was committed and is still on its way) waits in the mailbox.
  let readLog = true;
  if (after === undefined) {
    // Streams that connect together share one read of the task (the fan-out lets go of it at the task's next event).
    let snapshot = fanout.sharedSnapshot();
    readLog = snapshot === null;
    if (snapshot === null) {
      const mark = fanout.mark();
      const task = await outlast.get(taskId);
      if (!task) throw new OutlastError("not_found", `No task ${taskId}`);
      snapshot = { task, frame: sseFrame("snapshot", JSON.stringify({ taskId, seq: task.lastSeq, task }), codec.encode(task.lastSeq)) };
      fanout.share(mark, task, snapshot.frame);
    }
    if (sse.closed) return;
    sse.sendFrame(snapshot.frame);
    member.lastSeq = snapshot.task.lastSeq;
    if (isFinal(snapshot.task.state)) return sse.close();
  } else {
    const record = await outlast.store.getTask(taskId);
    if (!record) throw new OutlastError("not_found", `No task ${taskId}`);
    const seq = codec.decode(after);
    if (seq === null || seq > record.lastSeq) {
      const task = await outlast.get(taskId);
      if (!task) throw new OutlastError("not_found", `No task ${taskId}`);
      reset(task);
      if (isFinal(task.state)) return sse.close();
    } else {
      member.lastSeq = seq;
      if (isFinal(record.state) && seq >= record.lastSeq) return sse.close();
    }
  }

  // The log after what was sent, page by page; true when the stream is done
  // (the task ended, or the reader left). A final state that more events
  // follow belongs to a run that is over (resumed, restarted or retried
  // since): the task as it is now (`reset`) replaces it and the rest.
  const replay = async (): Promise<boolean> => {
    for (;;) {
      const page = await outlast.store.readEvents(taskId, member.lastSeq, PAGE);
      for (const event of page) {
        if (event.seq <= member.lastSeq) continue;
        await sse.ready();
        if (sse.closed) return true;
        if (isEnd(event)) {
          const task = await outlast.get(taskId);
          if (task && task.lastSeq > event.seq) {
            reset(task);
            if (isFinal(task.state)) return true;
            break;
          }
          send(published(event, codec), event.seq);
          return true;
        }
        send(published(event, codec), event.seq);
      }
      if (page.length < PAGE && member.lastSeq >= (page.at(-1)?.seq ?? member.lastSeq)) return false;
    }
  };

  for (;;) {
    if (readLog && (await replay())) return sse.close();
    readLog = true;
    const mailbox = member.mailbox;
    if (!mailbox || sse.closed) return;
    if (mailbox.overflowed) {
      mailbox.reopen();
      continue;
    }
    let gap = false;
    let event: StoredEvent | undefined;
    while ((event = mailbox.take()) !== undefined) {
      if (event.seq <= member.lastSeq) continue;
      // Something other than superseded progress is missing: the log has it (and this one).
      if (event.seq > member.lastSeq + 1 && event.data.type !== "progress") {
        gap = true;
        break;
      }
      await sse.ready();
      if (sse.closed) return;
      send(published(event, codec), event.seq);
      if (isEnd(event)) return sse.close();
    }
    if (gap || mailbox.overflowed) continue;
    // Caught up, with nothing waiting: in the same turn, so no event falls between the mailbox and the fan-out.
    fanout.goLive(member);
    return;
  }
}
