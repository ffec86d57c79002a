import assert from "node:assert/strict";
import { test } from "node:test";
import { isOutlastError } from "../../core/errors.js";
import type { RateLimit } from "../../core/queue-limits.js";
import type { Store } from "../store.js";
import type { ContractHarness } from "./store-contract.js";
import { claim, QUEUE, submitNew, submitRequest, T0 } from "./support.js";

/** A queue with only a rate limit (no concurrency limit, so only the rate holds claims back). */
function rateLimited(store: Store, rateLimit: RateLimit | null) {
  return store.declareQueue(QUEUE, { concurrency: null, maxQueued: null, ownerConcurrency: null, ownerMaxQueued: null, rateLimit }, T0);
}

/** Ids of the tasks a claim of up to `limit` takes at `now`, and its nextRunAt. */
async function take(store: Store, now: number, limit = 10): Promise<{ ids: string[]; nextRunAt: number | null }> {
  const result = await claim(store, now, { limit });
  return { ids: result.tasks.map((c) => c.task.id), nextRunAt: result.nextRunAt };
}

/** Starts of a queue's tasks per window of `limit.periodMs` with an injected clock, across processes. */
export function rateLimits(harness: ContractHarness): void {
  test("the limit holds over every window, across two stores claiming in turn and at once; a claim held back sleeps until the next start is allowed", async (t) => {
    const [a, b] = await harness.makePair(t);
    const limit = { limit: 3, periodMs: 1_000, keyed: false };
    await rateLimited(a, limit);
    for (let i = 0; i < 30; i++) await submitNew(a, T0);
    const starts: number[] = [];
    // Claims at uneven moments, alternating stores; every held-back claim says when to come back.
    let now = T0;
    for (let step = 0; now < T0 + 4_000; step++) {
      const store = step % 2 === 0 ? a : b;
      const { ids, nextRunAt } = await take(store, now, 2);
      for (const _ of ids) starts.push(now);
      if (ids.length < 2) {
        const inWindow = starts.filter((at) => at > now - limit.periodMs);
        assert.equal(inWindow.length, limit.limit, "held back only when the window is full");
        assert.equal(nextRunAt, Math.min(...inWindow) + limit.periodMs, "held back: until the oldest counted start leaves the window");
      }
      now += 70 + (step % 5) * 45;
    }
    for (const at of starts) {
      const inWindow = starts.filter((s) => s > at - limit.periodMs && s <= at).length;
      assert.ok(inWindow <= limit.limit, `${inWindow} starts in the window ending at +${at - T0} ms`);
    }
    assert.ok(starts.length >= 12, `the budget is used: ${starts.length} starts in 4 windows`);

    // Two claims at once, one per store: together still within the budget.
    const later = now + 5_000;
    const [x, y] = await Promise.all([take(a, later), take(b, later)]);
    assert.equal(x.ids.length + y.ids.length, limit.limit);
    assert.equal(new Set([...x.ids, ...y.ids]).size, limit.limit);
  });

  test("a claim held back answers nextRunAt: when the next start is allowed (the oldest counted start + periodMs), or a delayed task's runAt when sooner", async (t) => {
    const store = await harness.make(t);
    await rateLimited(store, { limit: 2, periodMs: 1_000, keyed: false });
    for (let i = 0; i < 4; i++) await submitNew(store, T0);
    assert.equal((await take(store, T0, 1)).ids.length, 1);
    assert.equal((await take(store, T0 + 400, 5)).ids.length, 1, "one unit was left");
    assert.deepEqual(await take(store, T0 + 500), { ids: [], nextRunAt: T0 + 1_000 });
    assert.deepEqual(await take(store, T0 + 999), { ids: [], nextRunAt: T0 + 1_000 });
    assert.equal((await take(store, T0 + 1_000)).ids.length, 1, "the start at T0 left the window");
    assert.deepEqual(await take(store, T0 + 1_100), { ids: [], nextRunAt: T0 + 1_400 });
    // A delayed task due sooner than the limit allows: the worker wakes for it (and is told again then).
    await submitNew(store, T0 + 1_100, { runAt: T0 + 1_200 });
    assert.deepEqual(await take(store, T0 + 1_150), { ids: [], nextRunAt: T0 + 1_200 });
    assert.deepEqual(await take(store, T0 + 1_200), { ids: [], nextRunAt: T0 + 1_400 });
  });

  test("keyed: each key has its own budget; a key out of budget holds no other key's task back, even behind a long backlog", async (t) => {
    const store = await harness.make(t);
    await rateLimited(store, { limit: 1, periodMs: 1_000, keyed: true });
    const a = [1, 2, 3].map(() => submitRequest({ rateKey: "a" }));
    for (const request of a) await store.submit(request, T0);
    const b = await submitNew(store, T0, { rateKey: "b" });
    const unkeyed = await submitNew(store, T0);
    assert.deepEqual((await take(store, T0)).ids, [a[0]!.id, b.id, unkeyed.id], "one of each key, in claim order");
    assert.deepEqual(await take(store, T0 + 10), { ids: [], nextRunAt: T0 + 1_000 });

    // A backlog of key "a" longer than any look-ahead does not keep key "c" waiting.
    await store.submitMany(
      Array.from({ length: 120 }, () => submitRequest({ rateKey: "a", runAt: T0 + 20 })),
      T0 + 20,
    );
    const c = await submitNew(store, T0 + 30, { rateKey: "c" });
    assert.deepEqual((await take(store, T0 + 40, 1)).ids, [c.id]);
    const next = await take(store, T0 + 1_000, 5);
    assert.deepEqual(next.ids, [a[1]!.id], "key a's next, once its window passed");
  });

  test("cost: a task takes its cost from the budget; a task that does not fit holds its key (no smaller task overtakes it); a bad cost is refused", async (t) => {
    const store = await harness.make(t);
    await rateLimited(store, { limit: 5, periodMs: 1_000, keyed: false });
    const first = await submitNew(store, T0, { cost: 3 });
    const second = await submitNew(store, T0, { cost: 3 });
    const third = await submitNew(store, T0, { cost: 1 });
    assert.deepEqual(await take(store, T0), { ids: [first.id], nextRunAt: T0 + 1_000 });
    assert.deepEqual((await take(store, T0 + 1_000)).ids, [second.id, third.id], "3 + 1 fit in a fresh window");
    // 4 units used at T0 + 1000: a task of cost 2 waits for all of them to leave the window.
    const big = await submitNew(store, T0 + 1_500, { cost: 2 });
    assert.deepEqual(await take(store, T0 + 1_500), { ids: [], nextRunAt: T0 + 2_000 });
    assert.deepEqual((await take(store, T0 + 2_000)).ids, [big.id]);
    // A cost above a limit lowered since takes the whole budget rather than never starting.
    await rateLimited(store, { limit: 2, periodMs: 1_000, keyed: false });
    const huge = await submitNew(store, T0 + 3_000, { cost: 5 });
    assert.deepEqual((await take(store, T0 + 3_000)).ids, [huge.id]);

    for (const cost of [0, 1.5, -1, Number.NaN]) {
      const rejected = submitRequest({ cost });
      await assert.rejects(store.submit(rejected, T0), (error) => isOutlastError(error, "bad_request"));
      assert.equal(await store.getTask(rejected.id), null);
    }
    await assert.rejects(store.submit(submitRequest({ rateKey: "" }), T0), (error) => isOutlastError(error, "bad_request"));
  });

  test("an operator's change of the rate limit applies to the next claim on every process; the key rule stays what code declared", async (t) => {
    const [a, b] = await harness.makePair(t);
    await rateLimited(a, null);
    for (let i = 0; i < 10; i++) await submitNew(a, T0);
    // Claims of a queue without a rate limit (on PostgreSQL: the path that takes no lock).
    assert.equal((await take(a, T0, 1)).ids.length, 1);
    assert.equal((await b.setQueueLimits(QUEUE, { rateLimit: { limit: 2, periodMs: 1_000, keyed: false } }, false, T0)).limits.rateLimit?.limit, 2);
    assert.equal((await take(a, T0 + 1)).ids.length, 2, "the other process's change holds at once");
    assert.deepEqual(await take(a, T0 + 2), { ids: [], nextRunAt: T0 + 1_001 });
    await b.setQueueLimits(QUEUE, { rateLimit: { limit: 3, periodMs: 1_000, keyed: false } }, false, T0 + 3);
    assert.equal((await take(a, T0 + 4)).ids.length, 1, "raised: one more unit in this window");
    await b.setQueueLimits(QUEUE, { rateLimit: null }, false, T0 + 5);
    const rest = (await a.listTasks({ state: "queued", limit: 100 })).tasks.map((x) => x.id).reverse();
    assert.equal(rest.length, 6);
    assert.deepEqual(await take(a, T0 + 6), { ids: rest, nextRunAt: null }, "removed: everything left starts");

    // Declared keyed, changed by an operator: still keyed; reset: what code declared.
    await a.declareQueue("keyed", { rateLimit: { limit: 1, periodMs: 500, keyed: true } }, T0);
    const changed = await b.setQueueLimits("keyed", { rateLimit: { limit: 4, periodMs: 2_000, keyed: false } }, false, T0);
    assert.deepEqual(changed.limits.rateLimit, { limit: 4, periodMs: 2_000, keyed: true });
    assert.deepEqual(changed.declared.rateLimit, { limit: 1, periodMs: 500, keyed: true });
    const listed = (await a.listQueues()).find((q) => q.name === "keyed");
    assert.deepEqual(listed?.rateLimit, { limit: 4, periodMs: 2_000, keyed: true });
    assert.deepEqual((await b.setQueueLimits("keyed", {}, true, T0)).limits.rateLimit, { limit: 1, periodMs: 500, keyed: true });
  });

  test("queues without a rate limit claim as before: costs and keys change nothing", async (t) => {
    const store = await harness.make(t);
    await rateLimited(store, null);
    for (let i = 0; i < 5; i++) await submitNew(store, T0, { cost: 7, rateKey: "k" });
    assert.equal((await take(store, T0, 5)).ids.length, 5);
    assert.deepEqual(await take(store, T0, 5), { ids: [], nextRunAt: null });
    const settings = (await store.queueSettings()).find((q) => q.name === QUEUE);
    assert.equal(settings?.limits.rateLimit, null);
  });
}
