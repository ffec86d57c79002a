import assert from "node:assert/strict";
import { test } from "node:test";
import type { StoredEvent } from "../../core/events.js";
import type { Store, StoreListener } from "../store.js";
import type { ContractHarness } from "./store-contract.js";
import type { ClaimedTask } from "../store.js";
import { allEvents, assertFoldMatches, claimOne, eventually, mustGet, QUEUE, running, seqs, settle, stateOf, submitNew, subscriptionsLive, T0 } from "./support.js";

/** A listener that keeps what it is given, for assertions. */
function recorder(store: Store) {
  const events: StoredEvent[] = [];
  const wakes: (ReadonlySet<string> | null)[] = [];
  const listener: StoreListener = {
    events: (batch) => void events.push(...batch),
    wake: (queues) => void wakes.push(queues),
  };
  const unsubscribe = store.subscribe(listener);
  return {
    events,
    wakes,
    unsubscribe,
    of: (taskId: string) => events.filter((e) => e.taskId === taskId),
  };
}

/** The received events of every task come in seq order and never twice. */
function assertOrderedOnce(events: readonly StoredEvent[]): void {
  const last = new Map<string, number>();
  for (const event of events) {
    const before = last.get(event.taskId) ?? 0;
    assert.ok(event.seq > before, `task ${event.taskId}: seq ${event.seq} came after ${before}`);
    last.set(event.taskId, event.seq);
  }
}

/** Every event still in the log was delivered exactly once, as stored. */
async function assertDelivered(store: Store, received: readonly StoredEvent[], taskId: string): Promise<void> {
  const stored = await allEvents(store, taskId);
  const mine = received.filter((e) => e.taskId === taskId);
  for (const event of stored) {
    const copies = mine.filter((e) => e.seq === event.seq);
    assert.equal(copies.length, 1, `event seq ${event.seq} of ${taskId} delivered ${copies.length} times`);
    assert.deepEqual(copies[0], event);
  }
  // Only superseded progress may be missing from the log, never delivered twice.
  for (const event of mine) {
    if (!stored.some((e) => e.seq === event.seq)) assert.equal(event.data.type, "progress");
  }
}

/** The event log, its compaction and bounds, and live delivery to subscribers. */
export function eventsAndFeed(harness: ContractHarness): void {
  test("readEvents returns events in seq order and pages with afterSeq and limit", async (t) => {
    const store = await harness.make(t);
    const { task, lease } = await running(store, T0);
    await store.appendLog(lease, "one", T0 + 1);
    await store.recordStep(lease, "step-a", "A", T0 + 2);
    await store.appendLog(lease, "two", T0 + 3);
    await store.finish(lease, { state: "succeeded", result: null }, T0 + 4);
    const events = await allEvents(store, task.id);
    assert.deepEqual(seqs(events), [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(
      events.map((e) => e.data.type),
      ["state", "state", "log", "step", "log", "state"],
    );
    assert.deepEqual(events[2]!.data, { type: "log", message: "one" });
    assert.deepEqual(events[3]!.data, { type: "step", name: "step-a" });
    assert.deepEqual(
      events.map((e) => e.attempt),
      [0, 1, 1, 1, 1, 1],
    );
    assert.deepEqual(
      events.map((e) => e.at),
      [T0, T0, T0 + 1, T0 + 2, T0 + 3, T0 + 4],
    );
    assert.deepEqual(seqs(await store.readEvents(task.id, 2, 3)), [3, 4, 5]);
    assert.deepEqual(seqs(await store.readEvents(task.id, 5, 100)), [6]);
    assert.deepEqual(await store.readEvents(task.id, 6, 100), []);
    assert.equal((await mustGet(store, task.id)).lastSeq, 6);
  });

  test("progress is compacted: only the latest progress event remains, other events keep their seqs", async (t) => {
    const store = await harness.make(t);
    const { task, lease } = await running(store, T0);
    // Writes in order; each takes the next seq (1 = queued, 2 = running).
    const expected: { seq: number; type: string }[] = [
      { seq: 1, type: "state" },
      { seq: 2, type: "state" },
    ];
    let seq = 2;
    let now = T0;
    const progress = async (n: number) => {
      for (let i = 0; i < n; i++) {
        assert.equal(await store.recordProgress(lease, { current: ++seq, total: 100 }, ++now), true);
      }
    };
    await progress(20);
    await store.appendLog(lease, "log", ++now);
    expected.push({ seq: ++seq, type: "log" });
    await progress(15);
    await store.recordStep(lease, "step", null, ++now);
    expected.push({ seq: ++seq, type: "step" });
    await progress(7);
    const lastProgressSeq = seq;
    await store.finish(lease, { state: "succeeded", result: null }, ++now);
    expected.push({ seq: ++seq, type: "state" });

    const events = await allEvents(store, task.id);
    const progressEvents = events.filter((e) => e.data.type === "progress");
    assert.equal(progressEvents.length, 1, "only the latest progress is kept");
    assert.equal(progressEvents[0]!.seq, lastProgressSeq);
    assert.deepEqual(progressEvents[0]!.data, { type: "progress", progress: { current: lastProgressSeq, total: 100 } });
    assert.deepEqual(
      events.filter((e) => e.data.type !== "progress").map((e) => ({ seq: e.seq, type: e.data.type })),
      expected,
    );
    const done = await mustGet(store, task.id);
    assert.equal(done.lastSeq, seq);
    assert.deepEqual(done.progress, { current: lastProgressSeq, total: 100 });
  });

  test("progress is kept per task", async (t) => {
    const store = await harness.make(t);
    const one = await running(store, T0);
    const two = await running(store, T0);
    await store.recordProgress(one.lease, { percent: 10 }, T0 + 1);
    await store.recordProgress(two.lease, { percent: 20 }, T0 + 2);
    await store.recordProgress(one.lease, { percent: 30 }, T0 + 3);
    const progressOf = async (id: string) => (await allEvents(store, id)).filter((e) => e.data.type === "progress").map((e) => e.data);
    assert.deepEqual(await progressOf(one.task.id), [{ type: "progress", progress: { percent: 30 } }]);
    assert.deepEqual(await progressOf(two.task.id), [{ type: "progress", progress: { percent: 20 } }]);
  });

  test("log lines past the per-task bound are dropped, still reporting true", async (t) => {
    const store = await harness.make(t);
    const { task, lease } = await running(store, T0);
    const calls = 1_100;
    const chunk = 100;
    for (let i = 0; i < calls; i += chunk) {
      const results = await Promise.all(Array.from({ length: chunk }, (_, j) => store.appendLog(lease, `line ${i + j}`, T0 + 1)));
      assert.ok(results.every((ok) => ok === true));
    }
    const logs = (await allEvents(store, task.id)).filter((e) => e.data.type === "log");
    assert.ok(logs.length < calls, "some lines were dropped");
    assert.ok(logs.length <= 1_000, `at most 1000 lines are kept, found ${logs.length}`);
    // Dropped lines take no seq: the log stays gapless and later events still land.
    assert.equal(await store.finish(lease, { state: "succeeded", result: null }, T0 + 2), true);
    const events = await allEvents(store, task.id);
    assert.deepEqual(
      seqs(events),
      events.map((_, i) => i + 1),
    );
    assert.equal(stateOf(events.at(-1)!), "succeeded");
  });

  test("a subscriber gets every later event once, in seq order, and none from before", async (t) => {
    const store = await harness.make(t);
    const before = await submitNew(store, T0, { queue: "elsewhere" });
    const feed = recorder(store);
    t.after(feed.unsubscribe);
    const { task, lease } = await running(store, T0 + 1);
    for (let i = 0; i < 5; i++) await store.recordProgress(lease, { percent: i * 10 }, T0 + 2 + i);
    await store.appendLog(lease, "hello", T0 + 10);
    await store.finish(lease, { state: "succeeded", result: 1 }, T0 + 11);
    await eventually(() => feed.of(task.id).some((e) => stateOf(e) === "succeeded"), "the final event arrives");
    assertOrderedOnce(feed.events);
    await assertDelivered(store, feed.events, task.id);
    assert.deepEqual(feed.of(before.id), [], "events from before subscribing are not replayed");
  });

  test("a subscriber added after a wake-only listener gets no earlier events", async (t) => {
    const store = await harness.make(t);
    const wakeOnly = store.subscribe({ wake: () => {} });
    t.after(wakeOnly);
    const early = await submitNew(store, T0);
    const feed = recorder(store);
    t.after(feed.unsubscribe);
    const late = await submitNew(store, T0 + 1);
    await eventually(() => feed.of(late.id).length === 1, "the later submit arrives");
    assert.deepEqual(feed.of(early.id), []);
  });

  test("events written through the other connection reach a subscriber once, in order", async (t) => {
    const [a, b] = await harness.makePair(t);
    const feed = recorder(b);
    t.after(feed.unsubscribe);
    // "Later" starts once b's subscription listens (on a loaded machine, a's first commit could beat it).
    await subscriptionsLive(b);
    // The task moves between connections: every write is a different process's commit.
    const task = await submitNew(a, T0);
    const claimed = await claimOne(b, T0 + 1);
    assert.equal(claimed.task.id, task.id);
    await a.appendLog(claimed.lease, "from a", T0 + 2);
    await b.appendLog(claimed.lease, "from b", T0 + 3);
    await a.recordProgress(claimed.lease, { percent: 50 }, T0 + 4);
    await a.recordStep(claimed.lease, "s1", true, T0 + 5);
    await b.recordProgress(claimed.lease, { percent: 90 }, T0 + 6);
    await a.finish(claimed.lease, { state: "succeeded", result: null }, T0 + 7);
    const many = await Promise.all(Array.from({ length: 20 }, (_, i) => submitNew(a, T0 + 8 + i)));
    await eventually(
      () => feed.of(claimed.task.id).some((e) => stateOf(e) === "succeeded") && many.every((m) => feed.of(m.id).length === 1),
      "events from the other connection arrive",
    );
    assertOrderedOnce(feed.events);
    await assertDelivered(b, feed.events, claimed.task.id);
    for (const m of many) await assertDelivered(b, feed.events, m.id);
  });

  test("a history through retries, a release, a wait, a rerun and a success reads back as both connections were handed it", async (t) => {
    const [a, b] = await harness.makePair(t);
    const feeds = [recorder(a), recorder(b)];
    for (const feed of feeds) t.after(feed.unsubscribe);
    await subscriptionsLive(b);
    const plain = await submitNew(a, T0);
    const winding = await submitNew(a, T0);
    let now = T0 + 10;
    const next = async (store: Store, id: string): Promise<ClaimedTask> => {
      const claimed = await claimOne(store, (now += 10));
      assert.equal(claimed.task.id, id);
      return claimed;
    };
    const first = await next(b, plain.id);
    assert.equal(await a.finish(first.lease, { state: "succeeded", result: { n: 1 } }, (now += 10)), true);
    // The winding task: released, retried, waits on a timer, fails for good, is run again and succeeds.
    let run = await next(a, winding.id);
    assert.equal(await b.release(run.lease, (now += 10)), true);
    run = await next(b, winding.id);
    await a.appendLog(run.lease, "first try", (now += 10));
    assert.equal(await a.finish(run.lease, { state: "retry", error: { message: "again" }, runAt: now }, (now += 10)), true);
    run = await next(a, winding.id);
    await b.recordStep(run.lease, "before", 1, (now += 10));
    assert.equal(await b.finish(run.lease, { state: "waiting", wait: { kind: "sleep", step: "nap", until: now + 1_000 } }, (now += 10)), true);
    now += 1_000;
    assert.ok((await a.wakeDue(now)) >= 1);
    run = await next(b, winding.id);
    assert.equal(await a.finish(run.lease, { state: "failed", error: { message: "no" } }, (now += 10)), true);
    assert.equal((await b.retry(winding.id, (now += 10))).kind, "retried");
    run = await next(a, winding.id);
    assert.equal(await b.finish(run.lease, { state: "succeeded", result: undefined }, (now += 10)), true);
    for (const id of [plain.id, winding.id]) {
      const { lastSeq } = await mustGet(a, id);
      for (const feed of feeds) await eventually(() => feed.of(id).some((e) => e.seq === lastSeq), "each connection is handed the last event");
    }
    for (const feed of feeds) {
      assertOrderedOnce(feed.events);
      for (const store of [a, b]) for (const id of [plain.id, winding.id]) await assertDelivered(store, feed.events, id);
    }
    const history = await allEvents(a, winding.id);
    assert.deepEqual(seqs(history), Array.from({ length: history.length }, (_, i) => i + 1), "no seq lost or repeated");
    assert.deepEqual(
      history.filter((e) => e.data.type === "state").map((e) => [stateOf(e), e.attempt]),
      [["queued", 0], ["running", 1], ["queued", 0], ["running", 1], ["queued", 1], ["running", 2], ["waiting", 2], ["queued", 1], ["running", 2], ["failed", 2], ["queued", 2], ["running", 3], ["succeeded", 3]],
    );
    await assertFoldMatches(a, winding.id);
    await assertFoldMatches(b, plain.id);
  });

  test("while both connections write at once, each subscriber gets every event once", async (t) => {
    const [a, b] = await harness.makePair(t);
    const feeds = [recorder(a), recorder(b)];
    for (const feed of feeds) t.after(feed.unsubscribe);
    const made = await Promise.all(Array.from({ length: 40 }, (_, i) => submitNew(i % 2 ? a : b, T0 + i)));
    const claimed = (await Promise.all([a, b, a, b].map((s) => s.claim({ queue: QUEUE, workerId: "w", limit: 5, leaseMs: 60_000, names: [made[0]!.name] }, T0 + 50))))
      .flatMap((r) => r.tasks);
    await Promise.all(claimed.flatMap((c, i) => [(i % 2 ? a : b).appendLog(c.lease, "x", T0 + 51), (i % 2 ? b : a).recordProgress(c.lease, { percent: i }, T0 + 51)]));
    const expected = new Map<string, number>();
    for (const task of made) expected.set(task.id, (await mustGet(a, task.id)).lastSeq);
    for (const feed of feeds) {
      await eventually(
        () => [...expected].every(([id, lastSeq]) => feed.of(id).some((e) => e.seq === lastSeq)),
        "every task's latest event reaches both subscribers",
      );
      assertOrderedOnce(feed.events);
      for (const task of made) await assertDelivered(a, feed.events, task.id);
    }
  });

  test("wake fires after a submit, on this connection and on the other", async (t) => {
    const [a, b] = await harness.makePair(t);
    const local = recorder(a);
    const remote = recorder(b);
    t.after(local.unsubscribe);
    t.after(remote.unsubscribe);
    await subscriptionsLive(b);
    await submitNew(a, T0);
    const woken = (wakes: (ReadonlySet<string> | null)[]) => wakes.some((q) => q === null || q.has(QUEUE));
    await eventually(() => woken(local.wakes), "the submitting connection wakes");
    await eventually(() => woken(remote.wakes), "the other connection wakes");
  });

  test("after unsubscribe, nothing more is delivered", async (t) => {
    const [a, b] = await harness.makePair(t);
    const gone = recorder(b);
    const stays = recorder(b);
    t.after(stays.unsubscribe);
    await subscriptionsLive(b);
    const first = await submitNew(a, T0);
    await eventually(() => gone.of(first.id).length === 1 && stays.of(first.id).length === 1, "both listeners get the first");
    gone.unsubscribe();
    const wakesBefore = gone.wakes.length;
    const second = await submitNew(a, T0 + 1);
    const third = await submitNew(b, T0 + 2);
    await eventually(() => stays.of(second.id).length === 1 && stays.of(third.id).length === 1, "the remaining listener gets later events");
    await settle(100);
    assert.equal(gone.events.length, 1);
    assert.equal(gone.wakes.length, wakesBefore);
  });
}
