// The fan-out of a task's live events to its streams: real SSE streams (web
// ReadableStreams read as a server would), fed events by hand so the order
// and the turns can be checked exactly.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { StoredEvent, TaskEventData } from "../../src/core/events.js";
import type { Task } from "../../src/core/task.js";
import { systemTimers } from "../../src/engine/clock.js";
import { CursorCodec } from "../../src/engine/watch.js";
import { SseStream } from "../../src/server/sse.js";
import { FANOUT_SLICE, TaskFanouts, type FanoutMember, type TaskEventFeed } from "../../src/server/task-fanout.js";
import { guardLeaks } from "../support/leaks.js";

guardLeaks();

const TASK = "tsk_fan";
const codec = new CursorCodec("db0123456789");

/** The engine's feed, driven by the test: `emit` is what a commit would tell the listeners. */
function feed() {
  const listeners = new Set<(event: StoredEvent) => void>();
  let seq = 0;
  const source: TaskEventFeed = {
    onTaskEvents(_filter, listener) {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
  };
  const emit = (data: TaskEventData): StoredEvent => {
    const event: StoredEvent = { taskId: TASK, owner: "alice", queue: "default", seq: ++seq, attempt: 1, at: Date.now(), data };
    for (const listener of listeners) listener(event);
    return event;
  };
  return { source, emit, get listeners() { return listeners.size; } };
}

const progress = (current: number): TaskEventData => ({ type: "progress", progress: { current, total: 100 } });
const log = (message: string): TaskEventData => ({ type: "log", message });
const done: TaskEventData = { type: "state", state: "succeeded", result: null };

function stream(highWaterMark = 65536, backlog = 1000): SseStream {
  return new SseStream({ pingMs: 60_000, stuckMs: 60_000, highWaterMark, retryMs: 2000, backlog, clock: Date.now, timers: systemTimers });
}

interface Got {
  event: string;
  seq: number;
}

/** Reads a stream to its end, as the HTTP layer would, and parses its events. */
async function readAll(sse: SseStream): Promise<Got[]> {
  const reader = sse.body.getReader();
  const decoder = new TextDecoder();
  let text = "";
  for (;;) {
    const { done: end, value } = await reader.read().catch(() => ({ done: true, value: undefined }));
    if (end) break;
    text += decoder.decode(value, { stream: true });
  }
  return text
    .split("\n\n")
    .filter((frame) => frame.includes("event: "))
    .map((frame) => {
      const event = /event: (\w+)/.exec(frame)![1]!;
      const data = JSON.parse(/data: (.*)/.exec(frame)![1]!) as { seq: number };
      return { event, seq: data.seq };
    });
}

function joinLive(fanouts: TaskFanouts, sse: SseStream): FanoutMember {
  const { fanout, member } = fanouts.join(TASK, sse, codec);
  fanout.goLive(member);
  return member;
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

test("progress superseded before every stream got it is collapsed; state and log events are never dropped nor reordered", async () => {
  const f = feed();
  const fanouts = new TaskFanouts(f.source);
  const n = FANOUT_SLICE * 2 + 500;
  const streams = Array.from({ length: n }, () => stream());
  for (const sse of streams) joinLive(fanouts, sse);
  const reads = streams.map((sse) => readAll(sse));
  // One turn: the first progress reaches a slice of streams, then newer progress supersedes it for the rest.
  f.emit(progress(1));
  f.emit(progress(2));
  const p3 = f.emit(progress(3));
  const l4 = f.emit(log("four"));
  const p5 = f.emit(progress(5));
  const p6 = f.emit(progress(6));
  const l7 = f.emit(log("seven"));
  const end = f.emit(done);
  const all = await Promise.all(reads);
  for (const got of all) {
    const seqs = got.map((e) => e.seq);
    assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), "in order");
    assert.equal(new Set(seqs).size, seqs.length, "no repeats");
    assert.deepEqual(got.filter((e) => e.event !== "progress").map((e) => e.seq), [l4.seq, l7.seq, end.seq]);
    // Progress 2, 3 and 5 were superseded before they went out; the newest one always does.
    assert.ok(seqs.includes(p6.seq), `newest progress kept: ${seqs.join(",")}`);
    assert.ok(!seqs.includes(p3.seq) && !seqs.includes(p5.seq), `superseded progress collapsed: ${seqs.join(",")}`);
  }
  // Streams past the first slice never got the superseded progress 1 or 2.
  const skipped = all.filter((got) => !got.some((e) => e.seq === 1 || e.seq === 2)).length;
  assert.ok(skipped >= n - FANOUT_SLICE, `${skipped} streams skipped superseded progress`);
  assert.equal(fanouts.tasks, 0, "the fan-out is let go with its last stream");
  assert.equal(f.listeners, 0, "and its listener on the feed");
});

test("a broadcast to 10,000 streams yields the event loop between slices", async () => {
  const f = feed();
  const fanouts = new TaskFanouts(f.source);
  const n = 10_000;
  const streams = Array.from({ length: n }, () => stream());
  const members = streams.map((sse) => joinLive(fanouts, sse));
  const reads = streams.map((sse) => readAll(sse));
  const event = f.emit(log("to all"));
  const reached = () => members.filter((m) => m.lastSeq === event.seq).length;
  // Written in the emitting turn: one slice at most. Each later turn adds at most one slice,
  // so other work (an HTTP request's callbacks) runs between them.
  const seen = [reached()];
  while (seen.at(-1)! < n) {
    await turn();
    seen.push(reached());
  }
  assert.ok(seen[0]! > 0 && seen[0]! <= FANOUT_SLICE, `first turn: ${seen[0]}`);
  for (let i = 1; i < seen.length; i++) assert.ok(seen[i]! - seen[i - 1]! <= FANOUT_SLICE, `turn ${i}: ${seen.join(",")}`);
  assert.ok(seen.length >= n / FANOUT_SLICE, `${seen.length} turns`);
  f.emit(done);
  const all = await Promise.all(reads);
  assert.ok(all.every((got) => got.map((e) => e.seq).join() === `${event.seq},${event.seq + 1}`));
});

test("a reader whose buffer is full holds no one back, skips progress, and still gets every other event in order and the newest progress", async () => {
  const f = feed();
  const fanouts = new TaskFanouts(f.source);
  const fast = [stream(), stream(), stream()];
  const slow = stream(1); // full as soon as one frame waits
  for (const sse of [...fast, slow]) joinLive(fanouts, sse);
  const fastReads = fast.map((sse) => readAll(sse));
  const sent: StoredEvent[] = [];
  for (let i = 1; i <= 200; i++) {
    sent.push(f.emit(i % 10 === 0 ? log(`log ${i}`) : progress(i)));
    if (i % 20 === 0) await turn();
  }
  const last = f.emit(progress(201));
  // The fast ones have every event although the slow one has read nothing.
  await turn();
  const logs = sent.filter((e) => e.data.type === "log").map((e) => e.seq);
  const end = f.emit(done);
  const fastGot = await Promise.all(fastReads);
  for (const got of fastGot) assert.equal(got.length, 202);
  // Now the slow one reads: all logs, in order, the newest progress, the end; fewer progress events.
  const slowGot = await readAll(slow);
  const seqs = slowGot.map((e) => e.seq);
  assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b));
  assert.deepEqual(slowGot.filter((e) => e.event === "log").map((e) => e.seq), logs);
  assert.ok(seqs.includes(last.seq), "the newest progress");
  assert.equal(seqs.at(-1), end.seq);
  assert.ok(slowGot.filter((e) => e.event === "progress").length < 180, `${slowGot.length} events`);
});

test("a reader that falls more than its backlog behind is cut (to resume from the log), and the others go on", async () => {
  const f = feed();
  const fanouts = new TaskFanouts(f.source);
  const fast = stream();
  const slow = stream(1, 5);
  joinLive(fanouts, fast);
  const joined = fanouts.join(TASK, slow, codec);
  joined.fanout.goLive(joined.member);
  const fastRead = readAll(fast);
  for (let i = 0; i < 10; i++) f.emit(log(`log ${i}`));
  assert.equal(slow.closed, true);
  assert.equal(slow.closeReason, "behind");
  f.emit(done);
  assert.equal((await fastRead).length, 11);
  await slow.body.cancel().catch(() => {});
});

test("a snapshot read for one stream is shared with the streams that connect after it, until the task's next event", async () => {
  const f = feed();
  const fanouts = new TaskFanouts(f.source);
  const first = stream();
  const { fanout } = fanouts.join(TASK, first, codec);
  const task = { id: TASK, lastSeq: 0 } as unknown as Task;
  const frame = new Uint8Array([1]);

  // An event while the snapshot was read: it may be older than that event, so it is not shared.
  const early = fanout.mark();
  f.emit(log("while reading"));
  fanout.share(early, task, frame);
  assert.equal(fanout.sharedSnapshot(), null);

  fanout.share(fanout.mark(), task, frame);
  assert.equal(fanout.sharedSnapshot()?.frame, frame, "the next stream takes it");
  f.emit(progress(1));
  assert.equal(fanout.sharedSnapshot(), null, "the task's next event lets go of it");
  first.close();
  assert.equal(fanouts.tasks, 0);
});
