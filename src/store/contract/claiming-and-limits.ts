import assert from "node:assert/strict";
import { test } from "node:test";
import { isOutlastError, QueueFullError } from "../../core/errors.js";
import type { StoredEvent } from "../../core/events.js";
import type { Store } from "../store.js";
import type { ContractHarness } from "./store-contract.js";
import { allEvents, claim, claimOne, eventually, mustGet, QUEUE, stateOf, submitNew, submitRequest, subscriptionsLive, T0 } from "./support.js";

function limits(store: Store, config: { concurrency?: number; maxQueued?: number; ownerConcurrency?: number; ownerMaxQueued?: number }) {
  return store.declareQueue(
    QUEUE,
    {
      concurrency: config.concurrency ?? null,
      maxQueued: config.maxQueued ?? null,
      ownerConcurrency: config.ownerConcurrency ?? null,
      ownerMaxQueued: config.ownerMaxQueued ?? null,
    },
    T0,
  );
}

function assertQueueFull(error: unknown, scope: "queue" | "owner"): true {
  assert.ok(error instanceof QueueFullError, `expected QueueFullError, got ${String(error)}`);
  assert.equal(error.code, "queue_full");
  assert.equal(error.scope, scope);
  assert.equal(error.queue, QUEUE);
  assert.ok(error.retryAfterMs > 0, "retryAfterMs tells the client when to come back");
  return true;
}

/** Queue limits at submit time, and which task a claim takes. */
export function claimingAndLimits(harness: ContractHarness): void {
  test("a waiting claim takes work in the commit that makes it runnable, at that write's time; an abort answers empty", async (t) => {
    const store = await harness.make(t);
    if (store.capabilities.waitingClaims !== true) {
      // Such a store answers at once: the wait is only a hint.
      assert.deepEqual((await claim(store, T0, { wait: { ms: 60_000 } })).tasks, []);
      return;
    }
    const waiting = claim(store, T0, { wait: { ms: 60_000 } });
    const submitted = await submitNew(store, T0 + 500);
    const { tasks } = await waiting;
    assert.deepEqual(
      tasks.map((c) => [c.task.id, c.task.startedAt]),
      [[submitted.id, T0 + 500]],
      "claimed at the submit's time, not the claim's",
    );
    const aborter = new AbortController();
    const aborted = claim(store, T0 + 600, { wait: { ms: 60_000, signal: aborter.signal } });
    aborter.abort();
    assert.deepEqual((await aborted).tasks, []);
  });

  test("submitMany stores every task in order, or none when they would not all fit", async (t) => {
    const [store, other] = await harness.makePair(t);
    const seen: StoredEvent[] = [];
    const stop = other.subscribe({ events: (events) => void seen.push(...events) });
    t.after(stop);
    await limits(store, { maxQueued: 5, ownerMaxQueued: 4 });
    await subscriptionsLive(other);
    const batch = [1, 2, 3].map((n) => submitRequest({ input: { n }, runAt: T0 }));
    const stored = await store.submitMany(batch, T0);
    assert.deepEqual(
      stored.map((task) => [task.id, task.state, task.input]),
      batch.map((request) => [request.id, "queued", request.input]),
    );
    for (const request of batch) assert.deepEqual((await allEvents(store, request.id)).map(stateOf), ["queued"]);
    await eventually(() => batch.every((request) => seen.some((e) => e.taskId === request.id && e.seq === 1)), "the other connection hears of each");

    // Two more would pass the queue's 5 but not alice's 4: nothing of them is stored.
    const tooMany = [submitRequest({ runAt: T0 }), submitRequest({ runAt: T0 })];
    await assert.rejects(store.submitMany(tooMany, T0), (error) => assertQueueFull(error, "owner"));
    await assert.rejects(store.submitMany([submitRequest({ owner: "bob" }), ...[1, 2].map(() => submitRequest({ owner: "carol" }))], T0), (error) =>
      assertQueueFull(error, "queue"),
    );
    for (const request of tooMany) assert.equal(await store.getTask(request.id), null);
    assert.equal((await store.listTasks({ limit: 100 })).tasks.length, 3);
    assert.deepEqual(await store.submitMany([], T0), []);
    await assert.rejects(store.submitMany([submitRequest({ idempotencyKey: "k" })], T0), (error) => isOutlastError(error, "bad_request"));

    // Claimed in the order given.
    const order: string[] = [];
    for (let i = 0; i < 3; i++) order.push((await claimOne(store, T0 + 1)).task.id);
    assert.deepEqual(order, batch.map((request) => request.id));
  });

  test("maxQueued: the submit past the limit throws QueueFullError and stores nothing", async (t) => {
    const store = await harness.make(t);
    await limits(store, { maxQueued: 2 });
    await submitNew(store, T0);
    await submitNew(store, T0);
    const rejected = submitRequest();
    await assert.rejects(store.submit(rejected, T0), (error) => assertQueueFull(error, "queue"));
    assert.equal(await store.getTask(rejected.id), null);
    assert.deepEqual(await store.readEvents(rejected.id, 0, 100), []);
    assert.equal((await store.listTasks({ limit: 100 })).tasks.length, 2);

    // Only waiting tasks count: once one runs there is room again.
    await claimOne(store, T0 + 1);
    await submitNew(store, T0 + 2);
    await assert.rejects(store.submit(submitRequest(), T0 + 3), QueueFullError);
  });

  test("ownerMaxQueued limits one owner and not the others", async (t) => {
    const store = await harness.make(t);
    await limits(store, { ownerMaxQueued: 1 });
    await submitNew(store, T0, { owner: "alice" });
    const rejected = submitRequest({ owner: "alice" });
    await assert.rejects(store.submit(rejected, T0), (error) => assertQueueFull(error, "owner"));
    assert.equal(await store.getTask(rejected.id), null);
    await submitNew(store, T0, { owner: "bob" });
    assert.equal((await store.listTasks({ limit: 100 })).tasks.length, 2);
  });

  test("resuming by idempotency key into a full queue throws and leaves the task as it was", async (t) => {
    const store = await harness.make(t);
    const failed = await submitNew(store, T0, { idempotencyKey: "k", maxAttempts: 1 });
    const claimed = await claimOne(store, T0);
    await store.finish(claimed.lease, { state: "failed", error: { message: "boom" } }, T0 + 1);
    await limits(store, { maxQueued: 1 });
    await submitNew(store, T0 + 2);
    const before = await mustGet(store, failed.id);
    await assert.rejects(store.submit(submitRequest({ idempotencyKey: "k" }), T0 + 3), QueueFullError);
    assert.deepEqual(await mustGet(store, failed.id), before);
  });

  test("a burst of 50 concurrent submits against maxQueued 10 stores exactly 10", async (t) => {
    const store = await harness.make(t);
    await limits(store, { maxQueued: 10 });
    const results = await Promise.allSettled(Array.from({ length: 50 }, () => store.submit(submitRequest(), T0)));
    const stored = results.filter((r) => r.status === "fulfilled");
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
    assert.equal(stored.length, 10);
    for (const r of refused) assertQueueFull(r.reason, "queue");
    assert.equal((await store.listTasks({ limit: 100 })).tasks.length, 10);
  });

  test("the maxQueued limit holds across two connections submitting at once", async (t) => {
    const [a, b] = await harness.makePair(t);
    await limits(a, { maxQueued: 10 });
    const results = await Promise.allSettled(Array.from({ length: 50 }, (_, i) => (i % 2 ? a : b).submit(submitRequest(), T0)));
    assert.equal(results.filter((r) => r.status === "fulfilled").length, 10);
    for (const r of results) if (r.status === "rejected") assertQueueFull(r.reason, "queue");
    assert.equal((await b.listTasks({ limit: 100 })).tasks.length, 10);
  });

  test("higher priority is claimed first, then first in first out", async (t) => {
    const store = await harness.make(t);
    const a = await submitNew(store, T0, { priority: 0 });
    const b = await submitNew(store, T0 + 1, { priority: 5 });
    const c = await submitNew(store, T0 + 2, { priority: 0 });
    const d = await submitNew(store, T0 + 3, { priority: 5 });
    const e = await submitNew(store, T0 + 4, { priority: -1 });
    const order: string[] = [];
    for (let i = 0; i < 5; i++) order.push((await claimOne(store, T0 + 10)).task.id);
    assert.deepEqual(order, [b.id, d.id, a.id, c.id, e.id]);
    assert.equal((await claim(store, T0 + 10)).tasks.length, 0);
  });

  test("claims take turns across owners: one owner's backlog delays another's task by one claim round", async (t) => {
    const store = await harness.make(t);
    await store.submitMany(Array.from({ length: 300 }, (_, i) => submitRequest({ owner: "alice", input: { i } })), T0);
    const bob = await submitNew(store, T0 + 1, { owner: "bob" });
    const first = (await claim(store, T0 + 2, { limit: 2 })).tasks.map((c) => c.task.owner);
    assert.deepEqual(first, ["alice", "bob"], "bob's one task is in the first round, not behind alice's 300");
    assert.equal((await mustGet(store, bob.id)).state, "running");

    // Owners who keep submitting alternate; a higher priority still comes first.
    for (let i = 0; i < 3; i++) {
      await submitNew(store, T0 + 3, { owner: "carol", input: { i } });
      await submitNew(store, T0 + 3, { owner: "bob", input: { i } });
    }
    const urgent = await submitNew(store, T0 + 4, { owner: "alice", priority: 5 });
    const next = (await claim(store, T0 + 5, { limit: 7 })).tasks;
    assert.equal(next[0]!.task.id, urgent.id);
    assert.deepEqual(
      next.slice(1).map((c) => c.task.owner),
      ["alice", "carol", "bob", "alice", "carol", "bob"],
      "each owner with work gets a task a round",
    );
  });

  test("a delayed task that becomes due is taken in the current round, not behind the backlog that arrived meanwhile", async (t) => {
    const store = await harness.make(t);
    const delayed = await submitNew(store, T0, { owner: "bob", runAt: T0 + 1_000 });
    await store.submitMany(Array.from({ length: 50 }, () => submitRequest({ owner: "alice" })), T0 + 10);
    assert.equal((await store.queuePosition(delayed.id, T0 + 10)), null, "not yet due: no place");
    assert.equal((await claim(store, T0 + 20, { limit: 1 })).tasks[0]!.task.owner, "alice");
    assert.equal(await store.queuePosition(delayed.id, T0 + 1_000), 1, "due: at the front of its round");
    const due = (await claim(store, T0 + 1_000, { limit: 2 })).tasks.map((c) => c.task.id);
    assert.ok(due.includes(delayed.id), "the due task is claimed in the first claim after its runAt");
  });

  test("a delayed task is not claimed before its runAt, and nextRunAt says when", async (t) => {
    const store = await harness.make(t);
    const later = await submitNew(store, T0, { runAt: T0 + 5_000 });
    const latest = await submitNew(store, T0, { runAt: T0 + 9_000 });
    assert.equal(later.runAt, T0 + 5_000);
    const early = await claim(store, T0 + 4_999, { limit: 5 });
    assert.deepEqual(early.tasks, []);
    assert.equal(early.nextRunAt, T0 + 5_000);
    // A claim that takes some and comes up short says when the next one is due.
    const due = await claim(store, T0 + 5_000, { limit: 5 });
    assert.deepEqual(
      due.tasks.map((c) => c.task.id),
      [later.id],
    );
    assert.equal(due.nextRunAt, T0 + 9_000);
    const last = await claim(store, T0 + 9_000, { limit: 5 });
    assert.deepEqual(
      last.tasks.map((c) => c.task.id),
      [latest.id],
    );
    assert.equal(last.nextRunAt, null);
    // Its first event says when it may run, so wait-time figures leave the delay out.
    const [queued] = await store.readEvents(later.id, 0, 1);
    assert.deepEqual(queued?.data, { type: "state", state: "queued", runAt: new Date(T0 + 5_000).toISOString() });
    const now = await submitNew(store, T0);
    assert.deepEqual((await store.readEvents(now.id, 0, 1))[0]?.data, { type: "state", state: "queued" });
  });

  test("only the names the claimer knows are claimed", async (t) => {
    const store = await harness.make(t);
    const x = await submitNew(store, T0, { name: "task.x" });
    const y = await submitNew(store, T0, { name: "task.y" });
    assert.deepEqual((await claim(store, T0, { names: [], limit: 5 })).tasks, []);
    const got = await claim(store, T0, { names: ["task.y", "task.z"], limit: 5 });
    assert.deepEqual(
      got.tasks.map((c) => c.task.id),
      [y.id],
    );
    assert.equal((await mustGet(store, x.id)).state, "queued");
  });

  test("only the named queue is claimed from", async (t) => {
    const store = await harness.make(t);
    const other = await submitNew(store, T0, { queue: "other" });
    assert.deepEqual((await claim(store, T0, { limit: 5 })).tasks, []);
    assert.equal((await claimOne(store, T0, { queue: "other" })).task.id, other.id);
  });

  test("a paused queue gives nothing; resumed, it gives again", async (t) => {
    const [a, b] = await harness.makePair(t);
    const task = await submitNew(a, T0);
    assert.equal(await a.setQueuePaused(QUEUE, true, T0), true);
    assert.equal(await b.setQueuePaused(QUEUE, true, T0), false, "pausing a paused queue changes nothing");
    assert.deepEqual((await claim(a, T0, { limit: 5 })).tasks, []);
    assert.deepEqual((await claim(b, T0, { limit: 5 })).tasks, [], "the pause holds for every connection");
    assert.equal((await a.listQueues()).find((q) => q.name === QUEUE)?.paused, true);
    assert.equal(await b.setQueuePaused(QUEUE, false, T0 + 1), true);
    assert.equal(await a.setQueuePaused(QUEUE, false, T0 + 1), false, "resuming a running queue changes nothing");
    assert.equal((await claimOne(a, T0 + 1)).task.id, task.id);
  });

  test("a claim returns the claimed record: running, attempt counted, lease held by the worker", async (t) => {
    const store = await harness.make(t);
    const task = await submitNew(store, T0);
    const claimed = await claimOne(store, T0 + 100, { workerId: "worker-7", leaseMs: 2_000 });
    assert.equal(claimed.lease.taskId, task.id);
    assert.equal(claimed.task.state, "running");
    assert.equal(claimed.task.attempt, 1);
    assert.equal(claimed.task.startedAt, T0 + 100);
    assert.equal(claimed.task.workerId, "worker-7");
    assert.equal(claimed.task.leaseExpiresAt, T0 + 2_100);
    assert.equal(claimed.task.lastSeq, 2);
    assert.deepEqual(await mustGet(store, task.id), claimed.task);

    // A retry costs an attempt; the next claim counts it and gets a new lease.
    await store.finish(claimed.lease, { state: "retry", error: { message: "try again" }, runAt: T0 + 200 }, T0 + 150);
    const second = await claimOne(store, T0 + 200);
    assert.equal(second.task.attempt, 2);
    assert.notDeepEqual(second.lease, claimed.lease);
  });

  test("steps recorded in an earlier attempt come with the claim", async (t) => {
    const store = await harness.make(t);
    await submitNew(store, T0);
    const first = await claimOne(store, T0);
    assert.equal(first.steps.size, 0);
    assert.equal(await store.recordStep(first.lease, "split", ["a", "b"], T0 + 1), true);
    assert.equal(await store.recordStep(first.lease, "chapter-0", { ok: true }, T0 + 2), true);
    await store.finish(first.lease, { state: "retry", error: { message: "later" }, runAt: T0 + 3 }, T0 + 2);
    const second = await claimOne(store, T0 + 3);
    assert.deepEqual(
      [...second.steps].sort(([x], [y]) => x.localeCompare(y)),
      [
        ["chapter-0", { ok: true }],
        ["split", ["a", "b"]],
      ],
    );
    assert.deepEqual(await store.getSteps(second.task.id), second.steps);
  });

  test("global concurrency holds when two connections claim at once", async (t) => {
    const [a, b] = await harness.makePair(t);
    await limits(a, { concurrency: 3 });
    for (let i = 0; i < 10; i++) await submitNew(a, T0);
    const rounds = await Promise.all([claim(a, T0, { limit: 5 }), claim(b, T0, { limit: 5 }), claim(a, T0, { limit: 2 }), claim(b, T0, { limit: 2 })]);
    const got = rounds.flatMap((r) => r.tasks);
    assert.equal(got.length, 3);
    assert.equal(new Set(got.map((c) => c.task.id)).size, 3);
    assert.deepEqual((await claim(b, T0 + 1, { limit: 5 })).tasks, []);

    // A finished task frees exactly one slot.
    assert.equal(await a.finish(got[0]!.lease, { state: "succeeded", result: null }, T0 + 2), true);
    const refill = await Promise.all([claim(a, T0 + 3, { limit: 5 }), claim(b, T0 + 3, { limit: 5 })]);
    assert.equal(refill.flatMap((r) => r.tasks).length, 1);
  });

  test("a limit lowered below what is running gives nothing until enough finish, with and without per-owner limits", async (t) => {
    const store = await harness.make(t);
    await limits(store, { concurrency: 4 });
    for (let i = 0; i < 6; i++) await submitNew(store, T0);
    const running = (await claim(store, T0, { limit: 4 })).tasks;
    assert.equal(running.length, 4);
    for (const ownerConcurrency of [undefined, 10]) {
      await store.setQueueLimits(QUEUE, { concurrency: 2, ownerConcurrency: ownerConcurrency ?? null }, false, T0 + 1);
      assert.deepEqual((await claim(store, T0 + 2, { limit: 5 })).tasks, [], `4 running over a limit of 2 (ownerConcurrency ${ownerConcurrency})`);
    }
    for (const claimed of running.slice(0, 3)) assert.equal(await store.finish(claimed.lease, { state: "succeeded", result: null }, T0 + 3), true);
    assert.equal((await claim(store, T0 + 4, { limit: 5 })).tasks.length, 1, "one running, one place free");
  });

  test("per-owner concurrency lets other owners run", async (t) => {
    const store = await harness.make(t);
    await limits(store, { ownerConcurrency: 1 });
    for (let i = 0; i < 3; i++) await submitNew(store, T0 + i, { owner: "alice" });
    for (let i = 0; i < 2; i++) await submitNew(store, T0 + 10 + i, { owner: "bob" });
    const got = (await claim(store, T0 + 20, { limit: 10 })).tasks;
    assert.deepEqual(got.map((c) => c.task.owner).sort(), ["alice", "bob"]);
    assert.deepEqual((await claim(store, T0 + 21, { limit: 10 })).tasks, []);
    const alices = got.find((c) => c.task.owner === "alice")!;
    await store.finish(alices.lease, { state: "succeeded", result: null }, T0 + 22);
    const next = (await claim(store, T0 + 23, { limit: 10 })).tasks;
    assert.deepEqual(
      next.map((c) => c.task.owner),
      ["alice"],
    );
  });

  test("an owner at its limit with a long backlog does not block another owner's task", async (t) => {
    const store = await harness.make(t);
    await limits(store, { ownerConcurrency: 1 });
    await submitNew(store, T0, { owner: "alice" });
    await claimOne(store, T0);
    await Promise.all(Array.from({ length: 120 }, () => store.submit(submitRequest({ owner: "alice", runAt: T0 + 1 }), T0 + 1)));
    const bobs = await submitNew(store, T0 + 2, { owner: "bob" });
    const got = await claim(store, T0 + 3, { limit: 1 });
    assert.deepEqual(
      got.tasks.map((c) => c.task.id),
      [bobs.id],
    );
  });

  test("two connections claiming concurrently never get the same task", async (t) => {
    const [a, b] = await harness.makePair(t);
    const total = 60;
    await Promise.all(Array.from({ length: total }, (_, i) => (i % 2 ? a : b).submit(submitRequest(), T0)));
    const seen: string[] = [];
    for (let round = 0; round < total; round++) {
      const results = await Promise.all([claim(a, T0, { limit: 3 }), claim(b, T0, { limit: 3 }), claim(a, T0, { limit: 1 }), claim(b, T0, { limit: 2 })]);
      results.forEach((r, i) => assert.ok(r.tasks.length <= [3, 3, 1, 2][i]!, "a claim takes at most its limit"));
      const got = results.flatMap((r) => r.tasks);
      if (got.length === 0) break;
      seen.push(...got.map((c) => c.task.id));
    }
    assert.equal(seen.length, total);
    assert.equal(new Set(seen).size, total, "no task was handed out twice");
  });
}
