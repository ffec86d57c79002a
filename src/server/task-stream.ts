import { OutlastError } from "../core/errors.js";
import { isFinal } from "../core/states.js";
import type { Outlast } from "../engine/outlast.js";
import type { WatchEvent } from "../engine/watch.js";
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

/**
 * Feeds one task to a stream: a snapshot (unless resuming), then its log
 * after the cursor, then live events, waiting for the reader between events
 * so the engine's mailbox compacts progress for a slow one (and the stream
 * cuts one that falls `backlog` events behind). Closes the
 * stream after the final state.
 */
export async function pumpTask(outlast: Outlast, sse: SseStream, taskId: string, after: string | undefined, signal: AbortSignal): Promise<void> {
  const codec = await outlast.cursors();
  let from = after;
  if (from === undefined) {
    const task = await outlast.get(taskId);
    if (!task) throw new OutlastError("not_found", `No task ${taskId}`);
    sse.send("snapshot", { taskId, seq: task.lastSeq, task }, codec.encode(task.lastSeq));
    if (isFinal(task.state)) return sse.close();
    from = codec.encode(task.lastSeq);
  }
  for await (const event of outlast.watch(taskId, { after: from, signal, ...sse.watchLimits() })) {
    await sse.ready();
    if (sse.closed) return;
    sse.sendFrame(eventFrame(event));
  }
  // The watch ends after the task's final state (or the caller's abort).
  sse.close();
}
