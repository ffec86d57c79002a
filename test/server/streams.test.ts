import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { guardLeaks } from "../support/leaks.js";
import { harness, json, listen, until, ADMIN_KEY, SECRET } from "./harness.js";
import { SseReader, type ParsedEvent } from "./sse-reader.js";
import { mintOwnerToken } from "../../src/server/index.js";
import type { Outlast } from "../../src/engine/outlast.js";

guardLeaks();

async function connect(url: string, options: { token?: string; lastEventId?: string; signal?: AbortSignal } = {}): Promise<Response> {
  const headers: Record<string, string> = { authorization: `Bearer ${options.token ?? ADMIN_KEY}` };
  if (options.lastEventId !== undefined) headers["last-event-id"] = options.lastEventId;
  return fetch(url, { headers, ...(options.signal ? { signal: options.signal } : {}) });
}

async function submit(base: string, input: Record<string, unknown>, token = ADMIN_KEY): Promise<string> {
  const res = await fetch(`${base}/api/v1/tasks`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ name: "demo.count", input }),
  });
  assert.equal(res.status, 202);
  return ((await res.json()) as { task: { id: string } }).task.id;
}

async function readAll(reader: SseReader): Promise<ParsedEvent[]> {
  const out: ParsedEvent[] = [];
  for (let e = await reader.next(); e; e = await reader.next()) out.push(e);
  return out;
}

/** The stored log of a finished task, without superseded progress. */
async function storedLog(outlast: Outlast, id: string) {
  return outlast.store.readEvents(id, 0, 100_000);
}

function isFinalState(e: ParsedEvent): boolean {
  return e.event === "state" && ["succeeded", "failed", "canceled"].includes(e.data.state as string);
}

describe("single-task stream", () => {
  test("retry first, a snapshot, live events with ids, closed after the final state; a reconnect after the end is 204", async (t) => {
    const h = await harness(t, { start: true });
    const base = await listen(t, h.handler);
    const id = await submit(base, { to: 5, everyMs: 10 });
    const res = await connect(`${base}/api/v1/tasks/${id}/events`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "text/event-stream; charset=utf-8");
    assert.equal(res.headers.get("cache-control"), "no-cache, no-transform");
    assert.equal(res.headers.get("x-accel-buffering"), "no");
    assert.equal(res.headers.get("content-encoding"), null);
    const reader = new SseReader(res);
    const events = await readAll(reader);
    assert.equal(reader.retry, 2000);
    assert.equal(events[0]!.event, "snapshot");
    assert.equal((events[0]!.data.task as { id: string }).id, id);
    const last = events.at(-1)!;
    assert.ok(isFinalState(last));
    assert.deepEqual(last.data.result, { counted: 5, ranSteps: 5 });
    for (const e of events) assert.ok(e.id && !/[\r\n]/.test(e.id));
    const seqs = events.map((e) => e.data.seq as number);
    assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b));
    assert.equal(new Set(seqs).size, seqs.length);

    const again = await connect(`${base}/api/v1/tasks/${id}/events`, { lastEventId: last.id! });
    assert.equal(again.status, 204);
    const viaQuery = await fetch(`${base}/api/v1/tasks/${id}/events?after=${encodeURIComponent(last.id!)}&token=${ADMIN_KEY}`);
    assert.equal(viaQuery.status, 204);
  });

  test("a cursor the server cannot serve gets a reset carrying the whole task", async (t) => {
    const h = await harness(t, { start: true });
    const base = await listen(t, h.handler);
    const id = await submit(base, { to: 2, everyMs: 0 });
    const events = await readAll(new SseReader(await connect(`${base}/api/v1/tasks/${id}/events`, { lastEventId: "elsewhere.17" })));
    assert.equal(events[0]!.event, "reset");
    assert.equal((events[0]!.data.task as { id: string }).id, id);
  });

  test("pings arrive at the configured interval", async (t) => {
    const h = await harness(t, { pingMs: 30 });
    const base = await listen(t, h.handler);
    const id = await submit(base, { to: 1 });
    const abort = new AbortController();
    const reader = new SseReader(await connect(`${base}/api/v1/tasks/${id}/events`, { signal: abort.signal }));
    await reader.next();
    const pending = reader.next().catch(() => null);
    await until(() => reader.comments >= 3, "three pings");
    abort.abort();
    await pending;
    await until(() => h.handler.openStreams === 0, "the stream to close");
  });

  test("dropped and resumed at 200 random points, the watcher sees the whole log once, in order, and the final state", async (t) => {
    const h = await harness(t, { start: true });
    const base = await listen(t, h.handler);
    const id = await submit(base, { to: 150, everyMs: 3 });
    const seen: ParsedEvent[] = [];
    let cursor: string | undefined;
    let snapshotSeq = -1;
    let drops = 0;
    let random = 12345;
    const rand = (n: number) => {
      random = (random * 1103515245 + 12345) % 2 ** 31;
      return random % n;
    };
    let done = false;
    while (!done) {
      const abort = new AbortController();
      const res = await connect(`${base}/api/v1/tasks/${id}/events`, { signal: abort.signal, ...(cursor ? { lastEventId: cursor } : {}) });
      if (res.status === 204) break;
      assert.equal(res.status, 200);
      const reader = new SseReader(res);
      // Drop after a few events, or after a random few milliseconds, until 200 drops were made.
      const take = drops < 200 ? rand(4) : Infinity;
      const timer = drops < 200 && rand(2) === 0 ? setTimeout(() => abort.abort(), rand(15)) : null;
      try {
        for (let n = 0; n < take; n++) {
          const e = await reader.next();
          if (!e) break;
          if (e.event === "snapshot") snapshotSeq = e.data.seq as number;
          else seen.push(e);
          cursor = e.id;
          if (isFinalState(e)) done = true;
        }
      } catch {
        // Aborted mid-read: what was parsed before counts, the rest is re-sent.
      } finally {
        if (timer) clearTimeout(timer);
        abort.abort();
      }
      drops++;
    }
    assert.ok(drops >= 200, `only ${drops} drops`);
    assert.ok(snapshotSeq >= 0);
    const log = (await storedLog(h.outlast, id)).filter((e) => e.seq > snapshotSeq);
    const seqs = seen.map((e) => e.data.seq as number);
    assert.equal(new Set(seqs).size, seqs.length, "no event twice");
    assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), "in order");
    const nonProgress = (xs: { seq: number; type: string }[]) => xs.filter((e) => e.type !== "progress").map((e) => e.seq);
    assert.deepEqual(
      nonProgress(seen.map((e) => ({ seq: e.data.seq as number, type: e.event }))),
      nonProgress(log.map((e) => ({ seq: e.seq, type: e.data.type }))),
      "every state, log and step event, no gap",
    );
    assert.ok(isFinalState(seen.at(-1)!));
    const again = await connect(`${base}/api/v1/tasks/${id}/events`, { lastEventId: cursor! });
    assert.equal(again.status, 204);
    await until(() => h.handler.openStreams === 0, "streams to close");
  });
});

describe("multi-task stream", () => {
  test("an owner's stream has a snapshot per active task, then tasks submitted later, and none of another owner's", async (t) => {
    const h = await harness(t, { start: true });
    const base = await listen(t, h.handler);
    const alice = (await mintOwnerToken(h.outlast, { owner: "alice", secret: SECRET })).token;
    const bob = (await mintOwnerToken(h.outlast, { owner: "bob", secret: SECRET })).token;
    const first = await submit(base, { to: 30, everyMs: 10 }, alice);
    const abort = new AbortController();
    t.after(() => abort.abort());
    const reader = new SseReader(await connect(`${base}/api/v1/events`, { token: alice, signal: abort.signal }));
    const e0 = (await reader.next())!;
    assert.equal(e0.event, "snapshot");
    assert.equal(e0.data.taskId, first);
    const bobs = await submit(base, { to: 2, everyMs: 0 }, bob);
    const later = await submit(base, { to: 2, everyMs: 0 }, alice);
    const ended = new Set<string>();
    const seenTasks = new Set<string>();
    while (ended.size < 2) {
      const e = (await reader.next())!;
      seenTasks.add(e.data.taskId as string);
      if (isFinalState(e)) ended.add(e.data.taskId as string);
    }
    assert.deepEqual([...ended].sort(), [first, later].sort());
    assert.ok(!seenTasks.has(bobs));
    abort.abort();
    await reader.cancel();
    await until(() => h.handler.openStreams === 0, "the stream to close");
  });

  test("?tasks= streams exactly those tasks; resumed at random points with no gap and no repeat", async (t) => {
    const h = await harness(t, { start: true });
    const base = await listen(t, h.handler);
    const ids = [await submit(base, { to: 40, everyMs: 4 }), await submit(base, { to: 30, everyMs: 5 }), await submit(base, { to: 1, everyMs: 0 })];
    await submit(base, { to: 5, everyMs: 1 }); // not asked for
    const seen = new Map<string, ParsedEvent[]>(ids.map((id) => [id, []]));
    const snapshotSeq = new Map<string, number>();
    const finals = new Set<string>();
    let cursor: string | undefined;
    let random = 99;
    const rand = (n: number) => {
      random = (random * 1103515245 + 12345) % 2 ** 31;
      return random % n;
    };
    for (let round = 0; finals.size < ids.length; round++) {
      assert.ok(round < 2000, "the stream never finished");
      const abort = new AbortController();
      const res = await connect(`${base}/api/v1/events?tasks=${ids.join(",")}`, { signal: abort.signal, ...(cursor ? { lastEventId: cursor } : {}) });
      assert.equal(res.status, 200);
      const reader = new SseReader(res);
      const take = round < 60 ? 1 + rand(4) : Infinity;
      try {
        for (let n = 0; n < take && finals.size < ids.length; n++) {
          const e = (await reader.next())!;
          const taskId = e.data.taskId as string;
          assert.ok(seen.has(taskId), `unexpected task ${taskId}`);
          if (e.event === "snapshot") {
            assert.ok(!snapshotSeq.has(taskId), "one snapshot per task");
            snapshotSeq.set(taskId, e.data.seq as number);
            if (["succeeded", "failed", "canceled"].includes((e.data.task as { state: string }).state)) finals.add(taskId);
          } else seen.get(taskId)!.push(e);
          if (isFinalState(e)) finals.add(taskId);
          cursor = e.id;
        }
      } finally {
        abort.abort();
      }
    }
    for (const id of ids) {
      const from = snapshotSeq.get(id)!;
      const got = seen.get(id)!.map((e) => e.data.seq as number);
      assert.equal(new Set(got).size, got.length, "no repeat");
      assert.deepEqual(got, [...got].sort((a, b) => a - b));
      const log = (await storedLog(h.outlast, id)).filter((e) => e.seq > from && e.data.type !== "progress").map((e) => e.seq);
      assert.deepEqual(
        seen.get(id)!.filter((e) => e.event !== "progress").map((e) => e.data.seq),
        log,
      );
    }
    await until(() => h.handler.openStreams === 0, "streams to close");
  });
});

test("a multi-task stream answers a cursor it cannot serve with a reset per task, then live events", async (t) => {
  const h = await harness(t, { start: true });
  const base = await listen(t, h.handler);
  const id = await submit(base, { to: 3, everyMs: 20 });
  const events = await (async () => {
    const abort = new AbortController();
    const reader = new SseReader(await connect(`${base}/api/v1/events?tasks=${id}`, { lastEventId: "m1.otherdb.x~3", signal: abort.signal }));
    const out: ParsedEvent[] = [];
    for (let e = await reader.next(); e; e = await reader.next()) {
      out.push(e);
      if (isFinalState(e) || (e.event === "reset" && (e.data.task as { state: string }).state === "succeeded")) break;
    }
    abort.abort();
    return out;
  })();
  assert.equal(events[0]!.event, "reset");
  assert.equal(events[0]!.data.taskId, id);
  await until(() => h.handler.openStreams === 0, "the stream to close");
});

describe("stream limits and lifecycle", () => {
  test("a slow reader gets every state, log and step event but not every progress update, and a stuck one is closed", async (t) => {
    const h = await harness(t, { start: true, streamBufferBytes: 512, stuckMs: 400, pingMs: 100 });
    const baseline = h.outlast.hub.watcherCount;
    const base = await listen(t, h.handler);
    const id = await submit(base, { to: 300, everyMs: 1 });
    // A fast reader, for comparison, and a slow one that reads nothing for a while.
    const fast = readAll(new SseReader(await connect(`${base}/api/v1/tasks/${id}/events`)));
    const slowRes = await h.handler.app.request(`/api/v1/tasks/${id}/events`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } });
    const slowReader = new SseReader(slowRes);
    const first = await slowReader.next();
    assert.equal(first?.event, "snapshot");
    await new Promise((resolve) => setTimeout(resolve, 250));
    const slow = await readAll(slowReader);
    const fastEvents = await fast;
    const kinds = (xs: ParsedEvent[], kind: string) => xs.filter((e) => e.event === kind).length;
    const progressFast = kinds(fastEvents, "progress");
    assert.ok(kinds(slow, "progress") < progressFast, `slow ${kinds(slow, "progress")} vs fast ${progressFast}`);
    const from = first.data.seq as number;
    const steps = (await storedLog(h.outlast, id)).filter((e) => e.seq > from && e.data.type !== "progress").map((e) => e.seq);
    assert.deepEqual(slow.filter((e) => e.event !== "progress").map((e) => e.data.seq), steps);
    assert.ok(isFinalState(slow.at(-1)!));

    // Stuck: never read at all.
    const id2 = await submit(base, { to: 2000, everyMs: 0 });
    const stuck = await h.handler.app.request(`/api/v1/tasks/${id2}/events`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } });
    assert.equal(stuck.status, 200);
    await until(() => h.handler.openStreams === 0, "the stuck stream to be closed");
    await until(() => h.outlast.hub.watcherCount === baseline, "listeners released");
    await stuck.body?.cancel().catch(() => {});
  });

  test("per-owner stream cap answers 429 rate_limited", async (t) => {
    const h = await harness(t, { maxStreamsPerOwner: 2 });
    const base = await listen(t, h.handler);
    const token = (await mintOwnerToken(h.outlast, { owner: "alice", secret: SECRET })).token;
    const abort = new AbortController();
    const a = await connect(`${base}/api/v1/events`, { token, signal: abort.signal });
    const b = await connect(`${base}/api/v1/events`, { token, signal: abort.signal });
    assert.equal(a.status, 200);
    assert.equal(b.status, 200);
    const c = await connect(`${base}/api/v1/events`, { token });
    assert.equal(c.status, 429);
    assert.ok(Number(c.headers.get("retry-after")) >= 1);
    assert.equal(((await c.json()) as { error: { code: string } }).error.code, "rate_limited");
    abort.abort();
    await until(() => h.handler.openStreams === 0, "streams to close");
    const d = await connect(`${base}/api/v1/events`, { token });
    assert.equal(d.status, 200);
    await d.body?.cancel();
    await until(() => h.handler.openStreams === 0, "streams to close");
  });

  test("2,000 streams opened and closed leave no listener behind", async (t) => {
    const h = await harness(t, { maxStreamsPerOwner: 100 });
    const base = await listen(t, h.handler);
    const token = (await mintOwnerToken(h.outlast, { owner: "alice", secret: SECRET })).token;
    const id = await submit(base, { to: 5 }, token);
    const baseline = h.outlast.hub.watcherCount;
    let opened = 0;
    const one = async (i: number) => {
      const abort = new AbortController();
      const url = i % 2 === 0 ? `${base}/api/v1/tasks/${id}/events` : i % 4 === 1 ? `${base}/api/v1/events` : `${base}/api/v1/events?tasks=${id}`;
      const res = await connect(url, { token, signal: abort.signal });
      assert.equal(res.status, 200);
      const reader = new SseReader(res);
      const e = await reader.next();
      assert.ok(e?.event === "snapshot");
      opened++;
      abort.abort();
      await reader.cancel();
    };
    for (let batch = 0; batch < 100; batch++) await Promise.all(Array.from({ length: 20 }, (_, i) => one(batch * 20 + i)));
    assert.equal(opened, 2000);
    await until(() => h.handler.openStreams === 0, "every stream to close");
    await until(() => h.outlast.hub.watcherCount === baseline, `listeners back to ${baseline}`);
  });

  test("closing the handler ends streams with a retry hint", async (t) => {
    const h = await harness(t);
    const base = await listen(t, h.handler);
    const id = await submit(base, { to: 5 });
    const reader = new SseReader(await connect(`${base}/api/v1/tasks/${id}/events`));
    await reader.next();
    await h.handler.close({ retryMs: 1234 });
    assert.equal(await reader.next(), null);
    assert.equal(reader.retry, 1234);
    const after = await connect(`${base}/api/v1/tasks/${id}/events`);
    assert.equal(after.status, 503);
    await after.body?.cancel();
  });
});

void json;

test("streams that connect together share the snapshot, and each still gets every state, log and step event after it, in order, and the end", async (t) => {
  const h = await harness(t, { start: true });
  const base = await listen(t, h.handler);
  await h.outlast.pauseQueue("default");
  const id = await submit(base, { to: 5, everyMs: 5 });
  const readers = await Promise.all([0, 1, 2].map(async () => new SseReader(await connect(`${base}/api/v1/tasks/${id}/events`))));
  const snapshots = await Promise.all(readers.map((r) => r.next()));
  for (const s of snapshots) assert.equal(s?.event, "snapshot");
  assert.equal(new Set(snapshots.map((s) => s?.id)).size, 1, "one snapshot, one cursor");
  await h.outlast.resumeQueue("default");
  const logs = await Promise.all(readers.map(readAll));
  const stored = (await storedLog(h.outlast, id)).filter((e) => e.data.type !== "progress").map((e) => e.seq);
  for (const got of logs) {
    const seqs = got.map((e) => e.data.seq as number);
    assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b));
    assert.deepEqual(got.filter((e) => e.event !== "progress").map((e) => e.data.seq), stored.filter((seq) => seq > (snapshots[0]!.data.seq as number)));
    assert.ok(isFinalState(got.at(-1)!));
  }
});
