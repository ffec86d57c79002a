import type { TaskState } from "../../core/states.js";
import assert from "node:assert/strict";
import { test } from "node:test";
import type { TaskRecord } from "../../core/task.js";
import type { Store, TaskFilter, WorkerHeartbeat } from "../store.js";
import type { ContractHarness } from "./store-contract.js";
import { allEvents, claim, claimOne, heartbeatHeld, mustGet, QUEUE, running, stateOf, submitNew, submitRequest, T0 } from "./support.js";

/** Every task the filter lists, following cursors page by page. */
async function listAll(store: Store, filter: Omit<TaskFilter, "cursor">): Promise<TaskRecord[]> {
  const out: TaskRecord[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < 1_000; page++) {
    const result = await store.listTasks(cursor === null ? filter : { ...filter, cursor });
    assert.ok(result.tasks.length <= filter.limit, "a page holds at most `limit` tasks");
    out.push(...result.tasks);
    cursor = result.nextCursor;
    if (cursor === null) return out;
  }
  assert.fail("listTasks never ended");
}

/** Operator actions, listing, schedules, retention, secrets and workers. */
export function operations(harness: ContractHarness): void {
  test("cancel: queued is canceled at once; running is asked; finished is final; unknown is missing", async (t) => {
    const store = await harness.make(t);
    const queued = await submitNew(store, T0);
    const canceled = await store.cancel(queued.id, T0 + 1);
    assert.equal(canceled.kind, "canceled");
    assert.equal(canceled.kind === "canceled" && canceled.task.state, "canceled");
    const record = await mustGet(store, queued.id);
    assert.equal(record.state, "canceled");
    assert.equal(record.finishedAt, T0 + 1);
    assert.equal(stateOf((await allEvents(store, queued.id)).at(-1)!), "canceled");

    const { task, lease } = await running(store, T0 + 2);
    const asked = await store.cancel(task.id, T0 + 3);
    assert.equal(asked.kind, "requested");
    assert.equal(asked.kind === "requested" && asked.task.cancelRequested, true);
    const stillRunning = await mustGet(store, task.id);
    assert.equal(stillRunning.state, "running");
    assert.equal(stillRunning.cancelRequested, true);
    assert.deepEqual(await store.heartbeat([lease], T0 + 4, 10_000), [{ held: true, cancelRequested: true }]);
    assert.equal((await store.cancel(task.id, T0 + 4)).kind, "requested", "asking twice is fine");
    assert.equal(await store.finish(lease, { state: "canceled" }, T0 + 5), true);
    assert.equal((await mustGet(store, task.id)).state, "canceled");

    assert.equal((await store.cancel(task.id, T0 + 6)).kind, "final");
    const done = await running(store, T0 + 7);
    await store.finish(done.lease, { state: "succeeded", result: null }, T0 + 8);
    const final = await store.cancel(done.task.id, T0 + 9);
    assert.equal(final.kind, "final");
    assert.equal(final.kind === "final" && final.task.state, "succeeded");
    assert.deepEqual(await store.cancel("task_unknown", T0), { kind: "missing" });
  });

  test("a canceled queued task is never claimed", async (t) => {
    const store = await harness.make(t);
    const task = await submitNew(store, T0);
    await store.cancel(task.id, T0);
    assert.deepEqual((await store.claim({ queue: QUEUE, workerId: "w", limit: 5, leaseMs: 1_000, names: [task.name] }, T0 + 1)).tasks, []);
  });

  test("retry: failed or canceled goes back to queued with a fresh budget; anything else is a conflict", async (t) => {
    const store = await harness.make(t);
    const failing = await running(store, T0, { maxAttempts: 1 });
    await store.finish(failing.lease, { state: "failed", error: { message: "x" } }, T0 + 1);
    const retried = await store.retry(failing.task.id, T0 + 2);
    assert.equal(retried.kind, "retried");
    const back = await mustGet(store, failing.task.id);
    assert.equal(back.state, "queued");
    assert.equal(back.error, null);
    assert.equal(back.maxAttempts - back.attempt, 1, "a fresh budget");
    assert.equal(stateOf((await allEvents(store, back.id)).at(-1)!), "queued");
    assert.equal((await claimOne(store, T0 + 2)).task.attempt, 2);

    const canceled = await submitNew(store, T0 + 3);
    await store.cancel(canceled.id, T0 + 3);
    assert.equal((await store.retry(canceled.id, T0 + 4)).kind, "retried");
    assert.equal((await mustGet(store, canceled.id)).state, "queued");

    const queued = await store.retry(canceled.id, T0 + 5);
    assert.equal(queued.kind, "conflict");
    assert.equal(queued.kind === "conflict" && queued.task.state, "queued");
    assert.equal((await store.retry(back.id, T0 + 5)).kind, "conflict", "running");
    const ok = await running(store, T0 + 6, { name: "n.other" });
    await store.finish(ok.lease, { state: "succeeded", result: null }, T0 + 7);
    assert.equal((await store.retry(ok.task.id, T0 + 8)).kind, "conflict", "succeeded");
    assert.deepEqual(await store.retry("task_unknown", T0), { kind: "missing" });
  });

  test("listTasks: newest first, with owner, state, queue and name filters", async (t) => {
    const store = await harness.make(t);
    const a = await submitNew(store, T0, { owner: "alice", name: "n.one" });
    const b = await submitNew(store, T0 + 1, { owner: "bob", name: "n.one" });
    const c = await submitNew(store, T0 + 2, { owner: "alice", name: "n.two", queue: "side" });
    const d = await submitNew(store, T0 + 3, { owner: "alice", name: "n.one" });
    await claimOne(store, T0 + 4, { names: ["n.one"] }); // a runs
    const ids = (tasks: TaskRecord[]) => tasks.map((x) => x.id);
    assert.deepEqual(ids((await store.listTasks({ limit: 50 })).tasks), [d.id, c.id, b.id, a.id]);
    assert.deepEqual(ids((await store.listTasks({ limit: 50, owner: "alice" })).tasks), [d.id, c.id, a.id]);
    assert.deepEqual(ids((await store.listTasks({ limit: 50, state: "running" })).tasks), [a.id]);
    assert.deepEqual(ids((await store.listTasks({ limit: 50, queue: "side" })).tasks), [c.id]);
    assert.deepEqual(ids((await store.listTasks({ limit: 50, name: "n.one", owner: "alice" })).tasks), [d.id, a.id]);
    assert.deepEqual(ids((await store.listTasks({ limit: 50, owner: "nobody" })).tasks), []);
    assert.equal((await store.listTasks({ limit: 50 })).nextCursor, null);
  });

  test("listTasks cursors return every task exactly once, newest first", async (t) => {
    const store = await harness.make(t);
    const made: string[] = [];
    for (let i = 0; i < 23; i++) made.push((await submitNew(store, T0 + i, { owner: i % 3 === 0 ? "bob" : "alice" })).id);
    const all = await listAll(store, { limit: 5 });
    assert.deepEqual(
      all.map((x) => x.id),
      [...made].reverse(),
    );
    const bobs = await listAll(store, { limit: 2, owner: "bob" });
    assert.deepEqual(
      bobs.map((x) => x.id),
      made.filter((_, i) => i % 3 === 0).reverse(),
    );
    // A task submitted while paging is not shown on later (older) pages and nothing repeats.
    const first = await store.listTasks({ limit: 10 });
    await submitNew(store, T0 + 100);
    const rest = await listAll(store, { limit: 10, ...(first.nextCursor ? { cursor: first.nextCursor } : {}) });
    const seen = [...first.tasks, ...rest].map((x) => x.id);
    assert.deepEqual(seen, [...made].reverse());
  });

  test("queuePosition is the 1-based place among runnable tasks of the queue", async (t) => {
    const store = await harness.make(t);
    const a = await submitNew(store, T0);
    const b = await submitNew(store, T0 + 1);
    const c = await submitNew(store, T0 + 2);
    const elsewhere = await submitNew(store, T0 + 3, { queue: "other" });
    assert.equal(await store.queuePosition(a.id, T0 + 10), 1);
    assert.equal(await store.queuePosition(b.id, T0 + 10), 2);
    assert.equal(await store.queuePosition(c.id, T0 + 10), 3);
    assert.equal(await store.queuePosition(elsewhere.id, T0 + 10), 1);
    const urgent = await submitNew(store, T0 + 4, { priority: 10 });
    assert.equal(await store.queuePosition(urgent.id, T0 + 10), 1);
    assert.equal(await store.queuePosition(a.id, T0 + 10), 2);
    const claimed = await claimOne(store, T0 + 10);
    assert.equal(claimed.task.id, urgent.id);
    assert.equal(await store.queuePosition(urgent.id, T0 + 10), null, "running: not queued");
    assert.equal(await store.queuePosition(c.id, T0 + 10), 3);
    assert.equal(await store.queuePosition("task_unknown", T0), null);
  });

  test("recentDurationMs is the mean run time of recent successes, null without any", async (t) => {
    const store = await harness.make(t);
    assert.equal(await store.recentDurationMs(QUEUE), null);
    const one = await running(store, T0);
    await store.finish(one.lease, { state: "succeeded", result: null }, T0 + 1_000);
    const two = await running(store, T0 + 2_000);
    await store.finish(two.lease, { state: "succeeded", result: null }, T0 + 5_000);
    const failed = await running(store, T0 + 6_000);
    await store.finish(failed.lease, { state: "failed", error: { message: "x" } }, T0 + 60_000);
    assert.equal(await store.recentDurationMs(QUEUE), 2_000);
    assert.equal(await store.recentDurationMs("other"), null);
  });

  test("listQueues shows configured limits, pause and counts by state", async (t) => {
    const store = await harness.make(t);
    await store.declareQueue(QUEUE, { concurrency: 4, maxQueued: 100, ownerConcurrency: 2, ownerMaxQueued: 10 }, T0);
    await running(store, T0);
    await submitNew(store, T0);
    await submitNew(store, T0);
    await submitNew(store, T0, { queue: "unconfigured" });
    const queues = await store.listQueues();
    const main = queues.find((q) => q.name === QUEUE);
    assert.ok(main);
    assert.equal(main.concurrency, 4);
    assert.equal(main.maxQueued, 100);
    assert.equal(main.ownerConcurrency, 2);
    assert.equal(main.ownerMaxQueued, 10);
    assert.equal(main.paused, false);
    assert.deepEqual(main.counts, { queued: 2, running: 1, waiting: 0, succeeded: 0, failed: 0, canceled: 0 });
    const other = queues.find((q) => q.name === "unconfigured");
    assert.equal(other?.counts.queued, 1);
    // Declaring again replaces the fields it names.
    await store.declareQueue(QUEUE, { concurrency: null, maxQueued: null }, T0 + 1);
    const again = (await store.listQueues()).find((q) => q.name === QUEUE);
    assert.equal(again?.concurrency, null);
    assert.equal(again?.maxQueued, null);
    assert.equal(again?.ownerConcurrency, 2, "a field the declaration left out is kept");
  });

  test("a queue's limits under differing declarations and an operator's change: declared fields only, the change holds until reset", async (t) => {
    const [a, b] = await harness.makePair(t);
    // Process A declares two limits; B, whose code names the queue but no limits, changes nothing.
    let result = await a.declareQueue(QUEUE, { concurrency: 2, maxQueued: 100 }, T0);
    assert.deepEqual(result.conflicts, []);
    result = await b.declareQueue(QUEUE, {}, T0 + 1);
    assert.deepEqual(result.settings.limits, { concurrency: 2, maxQueued: 100, ownerConcurrency: null, ownerMaxQueued: null, rateLimit: null, keyConcurrency: null, keyLimits: null });
    // C declares another concurrency: it applies, and the conflict is told.
    result = await b.declareQueue(QUEUE, { concurrency: 5 }, T0 + 2);
    assert.deepEqual(result.conflicts, [{ field: "concurrency", stored: 2, declared: 5 }]);
    assert.equal(result.settings.limits.concurrency, 5);
    assert.equal(result.settings.limits.maxQueued, 100);
    // An operator's change holds over every later declaration, until reset.
    const changed = await a.setQueueLimits(QUEUE, { concurrency: 1, ownerMaxQueued: 3 }, false, T0 + 3);
    assert.deepEqual(changed?.limits, { concurrency: 1, maxQueued: 100, ownerConcurrency: null, ownerMaxQueued: 3, rateLimit: null, keyConcurrency: null, keyLimits: null });
    assert.deepEqual(changed?.overrides, { concurrency: 1, ownerMaxQueued: 3 });
    result = await b.declareQueue(QUEUE, { concurrency: 5 }, T0 + 4);
    assert.deepEqual(result.conflicts, []);
    assert.equal(result.settings.limits.concurrency, 1, "a restart does not undo the operator's change");
    const listed = (await b.listQueues()).find((q) => q.name === QUEUE);
    assert.equal(listed?.concurrency, 1);
    assert.deepEqual(listed?.overrides, { concurrency: 1, ownerMaxQueued: 3 });
    const reset = await b.setQueueLimits(QUEUE, {}, true, T0 + 5);
    assert.deepEqual(reset?.limits, { concurrency: 5, maxQueued: 100, ownerConcurrency: null, ownerMaxQueued: null, rateLimit: null, keyConcurrency: null, keyLimits: null });
    assert.deepEqual(reset?.overrides, {});
    const [settings] = await a.queueSettings();
    assert.deepEqual(settings, { name: QUEUE, paused: false, limits: reset!.limits, declared: { concurrency: 5, maxQueued: 100 }, overrides: {} });
    // A queue nobody declared gets the default; an unknown one cannot be changed.
    assert.deepEqual((await a.declareQueue("fresh", {}, T0)).settings.limits, { concurrency: 10, maxQueued: null, ownerConcurrency: null, ownerMaxQueued: null, rateLimit: null, keyConcurrency: null, keyLimits: null });
    // A queue known only from its tasks gets a row of its own for the change.
    await submitNew(a, T0, { queue: "rowless" });
    assert.equal((await a.setQueueLimits("rowless", { concurrency: 1 }, false, T0)).limits.concurrency, 1);
  });

  test("an operator's lower limit holds for the next claim on another connection", async (t) => {
    const [a, b] = await harness.makePair(t);
    await a.declareQueue(QUEUE, { concurrency: 5 }, T0);
    for (let i = 0; i < 4; i++) await submitNew(a, T0);
    await b.queueSettings(); // a worker's periodic read
    await a.setQueueLimits(QUEUE, { concurrency: 1 }, false, T0);
    await b.queueSettings();
    const first = await claim(b, T0, { limit: 4 });
    assert.equal(first.tasks.length, 1);
    assert.equal((await claim(a, T0, { limit: 4 })).tasks.length, 0);
  });

  test("queues are listed in one order on every store: by name, code unit by code unit", async (t) => {
    const store = await harness.make(t);
    for (const name of ["b", "B", "a", "_x", "Z"]) await submitNew(store, T0, { queue: name });
    assert.deepEqual((await store.listQueues()).map((q) => q.name), ["B", "Z", "_x", "a", "b"]);
  });

  test("fireSchedule fires a tick once, even from two connections at once; a later tick fires again", async (t) => {
    const [a, b] = await harness.makePair(t);
    const tick = T0 + 60_000;
    const fired = await Promise.all([
      a.fireSchedule("nightly", tick, submitRequest({ name: "n.cron" }), tick),
      b.fireSchedule("nightly", tick, submitRequest({ name: "n.cron" }), tick),
      a.fireSchedule("nightly", tick, submitRequest({ name: "n.cron" }), tick),
    ]);
    assert.equal(fired.filter(Boolean).length, 1);
    assert.equal((await a.listTasks({ limit: 50, name: "n.cron" })).tasks.length, 1);
    assert.equal(await b.fireSchedule("nightly", tick - 1, submitRequest({ name: "n.cron" }), tick + 1), false, "an older tick");
    assert.equal(await b.fireSchedule("nightly", tick + 60_000, submitRequest({ name: "n.cron" }), tick + 60_000), true);
    assert.equal(await a.fireSchedule("hourly", tick, submitRequest({ name: "n.cron" }), tick), true, "schedules are separate");
    assert.equal((await a.listTasks({ limit: 50, name: "n.cron" })).tasks.length, 3);
  });

  test("purgeFinished removes old finished tasks with their events and steps, and nothing else", async (t) => {
    const store = await harness.make(t);
    const oldDone = await running(store, T0);
    await store.recordStep(oldDone.lease, "s", 1, T0);
    await store.finish(oldDone.lease, { state: "succeeded", result: null }, T0 + 100);
    const oldFailed = await running(store, T0);
    await store.finish(oldFailed.lease, { state: "failed", error: { message: "x" } }, T0 + 100);
    const newDone = await running(store, T0);
    await store.finish(newDone.lease, { state: "succeeded", result: null }, T0 + 5_000);
    const oldCanceled = await submitNew(store, T0);
    await store.cancel(oldCanceled.id, T0 + 100);
    const stillRunning = await running(store, T0);
    const stillQueued = await submitNew(store, T0);

    const removed = await store.purgeFinished({ succeeded: T0 + 1_000, failed: T0 + 1_000 }, 100);
    // A failed task is a dead letter (contract/dead-letters.ts): kept until an operator redrives or purges it.
    assert.equal(removed, 1);
    for (const id of [oldDone.task.id]) {
      assert.equal(await store.getTask(id), null);
      assert.deepEqual(await allEvents(store, id), []);
      assert.equal((await store.getSteps(id)).size, 0);
    }
    for (const id of [oldFailed.task.id, newDone.task.id, oldCanceled.id, stillRunning.task.id, stillQueued.id]) {
      assert.ok(await store.getTask(id), "kept");
    }
    assert.equal(await heartbeatHeld(store, stillRunning.lease, T0 + 1), true);
    // Far-future cutoffs still never touch unfinished tasks; `limit` caps one call.
    const later = await store.purgeFinished({ succeeded: T0 + 1e9, failed: T0 + 1e9, canceled: T0 + 1e9 }, 1);
    assert.equal(later, 1);
    assert.equal(await store.purgeFinished({ succeeded: T0 + 1e9, failed: T0 + 1e9, canceled: T0 + 1e9 }, 100), 1);
    assert.deepEqual(
      (await store.listTasks({ limit: 50 })).tasks.map((x) => x.id).sort(),
      [oldFailed.task.id, stillRunning.task.id, stillQueued.id].sort(),
    );
    // The queue's counts (kept as tasks change, not counted from rows) follow the purge.
    const counts = (await store.listQueues()).find((q) => q.name === QUEUE)?.counts;
    assert.deepEqual(counts && { ...counts }, { queued: 1, running: 1, waiting: 0, succeeded: 0, failed: 1, canceled: 0 });
  });

  test("a page of one state holds exactly that state's tasks, newest first, by owner and through the cursor", async (t) => {
    const store = await harness.make(t);
    const made: Record<string, string[]> = { queued: [], running: [], waiting: [], succeeded: [], failed: [], canceled: [] };
    for (let round = 0; round < 3; round++) {
      for (const owner of ["alice", "bob"]) {
        const done = await running(store, T0, { owner });
        await store.finish(done.lease, { state: "succeeded", result: round }, T0 + 1);
        made.succeeded!.push(done.task.id);
        const failed = await running(store, T0, { owner, maxAttempts: 1 });
        await store.finish(failed.lease, { state: "failed", error: { message: "no" } }, T0 + 1);
        made.failed!.push(failed.task.id);
        const waiting = await running(store, T0, { owner });
        await store.finish(waiting.lease, { state: "waiting", wait: { kind: "signal", step: `~signal:go:${round}`, name: "go", until: null } }, T0 + 1);
        made.waiting!.push(waiting.task.id);
        made.running!.push((await running(store, T0, { owner })).task.id);
        const canceled = await submitNew(store, T0, { owner });
        await store.cancel(canceled.id, T0 + 1);
        made.canceled!.push(canceled.id);
      }
    }
    for (const owner of ["alice", "bob"]) made.queued!.push((await submitNew(store, T0, { owner })).id);
    for (const [state, ids] of Object.entries(made) as [TaskState, string[]][]) {
      const all = await store.listTasks({ state, limit: 100 });
      assert.deepEqual(all.tasks.map((x) => x.id), [...ids].reverse(), `${state}: exactly its tasks, newest first`);
      const first = await store.listTasks({ state, owner: "bob", limit: 2 });
      const rest = first.nextCursor === null ? { tasks: [] } : await store.listTasks({ state, owner: "bob", limit: 100, cursor: first.nextCursor });
      const bobs = [...first.tasks, ...rest.tasks];
      assert.ok(bobs.every((x) => x.owner === "bob" && x.state === state), `${state}: bob's only`);
      assert.equal(bobs.length, ids.length / 2, `${state}: every one of bob's, across pages`);
    }
  });

  test("getOrCreateSecret makes a value once and every connection reads the same", async (t) => {
    const [a, b] = await harness.makePair(t);
    const made = await Promise.all([a.getOrCreateSecret("signing", () => "from-a"), b.getOrCreateSecret("signing", () => "from-b")]);
    assert.equal(made[0], made[1]);
    assert.ok(made[0] === "from-a" || made[0] === "from-b");
    assert.equal(await b.getOrCreateSecret("signing", () => "another"), made[0]);
    assert.equal(await a.getOrCreateSecret("other", () => "second secret"), "second secret");
  });

  test("recordWorker, listWorkers and removeWorker", async (t) => {
    const [a, b] = await harness.makePair(t);
    const worker = (id: string, startedAt: number): WorkerHeartbeat => ({
      id,
      host: "box-1",
      pid: 4242,
      queues: [QUEUE, "side"],
      startedAt,
      heartbeatAt: 0,
      running: [],
      streams: null,
    });
    await a.recordWorker(worker("w-old", T0 - 100_000), T0 - 60_000);
    await a.recordWorker(worker("w-1", T0), T0);
    await b.recordWorker({ ...worker("w-1", T0), running: ["task_1"], streams: 7 }, T0 + 5_000);
    await b.recordWorker(worker("w-2", T0 + 1), T0 + 1_000);
    const alive = await a.listWorkers(T0 - 30_000);
    assert.deepEqual(
      alive.map((w) => w.id).sort(),
      ["w-1", "w-2"],
    );
    const w1 = alive.find((w) => w.id === "w-1")!;
    assert.equal(w1.heartbeatAt, T0 + 5_000, "the heartbeat is the `now` of the last record");
    assert.deepEqual(w1.running, ["task_1"]);
    assert.equal(w1.streams, 7);
    assert.equal(alive.find((w) => w.id === "w-2")?.streams, null);
    assert.deepEqual(w1.queues, [QUEUE, "side"]);
    assert.equal(w1.host, "box-1");
    assert.equal(w1.pid, 4242);
    assert.equal(w1.startedAt, T0);
    assert.equal((await a.listWorkers(T0 - 100_000)).length, 3);
    await b.removeWorker("w-1");
    assert.deepEqual(
      (await a.listWorkers(T0 - 100_000)).map((w) => w.id).sort(),
      ["w-2", "w-old"],
    );
    await a.removeWorker("w-unknown");
  });
}
