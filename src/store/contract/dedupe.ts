import assert from "node:assert/strict";
import { test } from "node:test";
import type { DedupeSpec } from "../../core/dedupe.js";
import type { Store, SubmitOutcome } from "../store.js";
import type { ContractHarness } from "./store-contract.js";
import { allEvents, claimOne, mustGet, NAME, submitRequest, T0, assertFoldMatches } from "./support.js";

const DEBOUNCE: DedupeSpec = { key: "doc-1", mode: "debounce", delayMs: 1_000, maxDelayMs: 5_000 };

function submitKeyed(store: Store, dedupe: DedupeSpec, input: unknown, now: number, owner = "alice"): Promise<SubmitOutcome> {
  return store.submit(submitRequest({ input, runAt: now, owner, dedupe }), now);
}

async function queuedOf(store: Store): Promise<string[]> {
  return (await store.listTasks({ name: NAME, state: "queued", limit: 1_000 })).tasks.map((task) => task.id);
}


/** Submits that collapse by a key (core/dedupe.ts): the same on every store. */
export function dedupe(harness: ContractHarness): void {
  test("debounce: a burst of 100 submits is one task with the last input, due delayMs after the latest but no later than maxDelayMs after the first", async (t) => {
    const store = await harness.make(t);
    const first = await submitKeyed(store, DEBOUNCE, { n: 0 }, T0);
    assert.equal(first.kind, "created");
    assert.equal(first.task.runAt, T0 + 1_000);
    const second = await submitKeyed(store, DEBOUNCE, { n: 1 }, T0 + 300);
    assert.deepEqual([second.kind, second.task.id, second.task.runAt], ["replaced", first.task.id, T0 + 1_300]);
    // 98 more, 100 ms apart: the cap (first + maxDelayMs) wins from 4 s on.
    for (let n = 2; n < 100; n++) {
      const outcome = await submitKeyed(store, DEBOUNCE, { n }, T0 + 300 + (n - 1) * 100);
      assert.deepEqual([outcome.kind, outcome.task.id], ["replaced", first.task.id]);
      assert.equal(outcome.task.runAt, Math.min(T0 + 300 + (n - 1) * 100 + 1_000, T0 + 5_000));
    }
    assert.deepEqual(await queuedOf(store), [first.task.id]);
    const task = await mustGet(store, first.task.id);
    assert.deepEqual(task.input, { n: 99 });
    assert.equal(task.runAt, T0 + 5_000);
    assert.equal(task.state, "queued");
    await assertFoldMatches(store, task.id);
    const replaced = (await allEvents(store, task.id)).filter((e) => e.data.type === "state" && e.data.reason === "replaced");
    assert.equal(replaced.length, 99, "one replaced event per later submit");

    // Not runnable before its runAt; once it started, the next submit starts a new burst.
    await assert.rejects(claimOne(store, T0 + 4_999));
    const claimed = await claimOne(store, T0 + 5_000);
    assert.equal(claimed.task.id, task.id);
    assert.deepEqual(claimed.task.input, { n: 99 });
    const next = await submitKeyed(store, DEBOUNCE, { n: 100 }, T0 + 5_001);
    assert.equal(next.kind, "created");
    assert.notEqual(next.task.id, task.id);
    assert.equal(next.task.runAt, T0 + 6_001);
  });

  test("debounce: 100 submits of one key at once (one group commit) are one task with the last input", async (t) => {
    const store = await harness.make(t);
    const outcomes = await Promise.all(Array.from({ length: 100 }, (_, n) => submitKeyed(store, DEBOUNCE, { n }, T0)));
    const ids = new Set(outcomes.map((o) => o.task.id));
    assert.equal(ids.size, 1);
    assert.deepEqual(outcomes.map((o) => o.kind).filter((k) => k === "created"), ["created"]);
    assert.deepEqual(await queuedOf(store), [...ids]);
    assert.deepEqual((await mustGet(store, [...ids][0]!)).input, { n: 99 });
    await assertFoldMatches(store, [...ids][0]!);
  });

  test("the scope of a key is owner + task name + key", async (t) => {
    const store = await harness.make(t);
    const a = await submitKeyed(store, DEBOUNCE, 1, T0, "alice");
    const b = await submitKeyed(store, DEBOUNCE, 2, T0, "bob");
    const other = await store.submit(submitRequest({ name: "contract.other", input: 3, runAt: T0, dedupe: DEBOUNCE }), T0);
    const c = await submitKeyed(store, { ...DEBOUNCE, key: "doc-2" }, 4, T0, "alice");
    assert.deepEqual([a.kind, b.kind, other.kind, c.kind], ["created", "created", "created", "created"]);
    assert.equal(new Set([a.task.id, b.task.id, other.task.id, c.task.id]).size, 4);
  });

  test("replace-queued: a newer submit gives its input to the queued task (runAt kept); once it started, a new task is queued", async (t) => {
    const store = await harness.make(t);
    const spec: DedupeSpec = { key: "k", mode: "replace-queued", delayMs: 0, maxDelayMs: null };
    const first = await store.submit(submitRequest({ input: "a", runAt: T0 + 2_000, dedupe: spec }), T0);
    assert.equal(first.kind, "created");
    const second = await store.submit(submitRequest({ input: "b", runAt: T0 + 9_000, dedupe: spec }), T0 + 500);
    assert.deepEqual([second.kind, second.task.id, second.task.runAt, second.task.input], ["replaced", first.task.id, T0 + 2_000, "b"]);
    assert.deepEqual(await queuedOf(store), [first.task.id]);
    await assertFoldMatches(store, first.task.id);

    const claimed = await claimOne(store, T0 + 2_000);
    assert.deepEqual([claimed.task.id, claimed.task.input], [first.task.id, "b"]);
    const third = await store.submit(submitRequest({ input: "c", runAt: T0 + 2_001, dedupe: spec }), T0 + 2_001);
    assert.equal(third.kind, "created");
    assert.equal((await mustGet(store, first.task.id)).state, "running", "the running one is left alone");
    assert.equal("canceled" in third ? third.canceled : undefined, undefined);
    const fourth = await store.submit(submitRequest({ input: "d", runAt: T0 + 2_002, dedupe: spec }), T0 + 2_002);
    assert.deepEqual([fourth.kind, fourth.task.id, (await mustGet(store, third.task.id)).input], ["replaced", third.task.id, "d"]);
    await assertFoldMatches(store, third.task.id);
  });

  test("cancel-running: a newer submit asks the running task to cancel and queues a new one with its input", async (t) => {
    const store = await harness.make(t);
    const spec: DedupeSpec = { key: "k", mode: "cancel-running", delayMs: 0, maxDelayMs: null };
    const first = await store.submit(submitRequest({ input: "a", runAt: T0, dedupe: spec }), T0);
    assert.equal(first.kind, "created");
    // Queued and not started: replaced, nothing canceled.
    const again = await store.submit(submitRequest({ input: "a2", runAt: T0, dedupe: spec }), T0 + 1);
    assert.deepEqual([again.kind, again.task.id, "canceled" in again ? again.canceled : undefined], ["replaced", first.task.id, undefined]);
    const claimed = await claimOne(store, T0 + 2);
    assert.deepEqual(claimed.task.input, "a2");

    const second = await store.submit(submitRequest({ input: "b", runAt: T0 + 3, dedupe: spec }), T0 + 3);
    assert.equal(second.kind, "created");
    assert.deepEqual(second.kind === "created" ? second.canceled : null, [first.task.id]);
    const runningOne = await mustGet(store, first.task.id);
    assert.deepEqual([runningOne.state, runningOne.cancelRequested], ["running", true], "its worker carries the cancel out");
    const [status] = await store.heartbeat([claimed.lease], T0 + 4, 10_000);
    assert.deepEqual(status, { held: true, cancelRequested: true });
    assert.deepEqual((await mustGet(store, second.task.id)).input, "b");
    assert.deepEqual(await queuedOf(store), [second.task.id]);

    // The worker ends it canceled; a third submit replaces the queued one's input.
    assert.equal(await store.finish(claimed.lease, { state: "canceled", error: { message: "Canceled", code: "canceled" } }, T0 + 5), true);
    const third = await store.submit(submitRequest({ input: "c", runAt: T0 + 6, dedupe: spec }), T0 + 6);
    assert.deepEqual([third.kind, third.task.id, third.task.input], ["replaced", second.task.id, "c"]);
    assert.equal("canceled" in third ? third.canceled : undefined, undefined, "an ended task is not canceled again");
    await assertFoldMatches(store, second.task.id);

    // A task queued again for a retry has started: canceled at once by the next submit, not given the new input.
    const retried = await claimOne(store, T0 + 7);
    assert.equal(retried.task.id, second.task.id);
    await store.finish(retried.lease, { state: "retry", error: { message: "flaky" }, runAt: T0 + 60_000 }, T0 + 8);
    const fourth = await store.submit(submitRequest({ input: "d", runAt: T0 + 9, dedupe: spec }), T0 + 9);
    assert.equal(fourth.kind, "created");
    assert.deepEqual(fourth.kind === "created" ? fourth.canceled : null, [second.task.id]);
    assert.equal((await mustGet(store, second.task.id)).state, "canceled");
    assert.deepEqual((await mustGet(store, second.task.id)).input, "c");
    await assertFoldMatches(store, second.task.id);
  });

  test("two stores on one database submitting one key at once leave one queued task", async (t) => {
    const [a, b] = await harness.makePair(t);
    for (const mode of ["debounce", "replace-queued", "cancel-running"] as const) {
      const spec: DedupeSpec = mode === "debounce" ? { ...DEBOUNCE, key: mode } : { key: mode, mode, delayMs: 0, maxDelayMs: null };
      const outcomes = await Promise.all(
        Array.from({ length: 40 }, (_, n) => submitKeyed(n % 2 === 0 ? a : b, spec, { n }, T0 + n)),
      );
      const ids = new Set(outcomes.map((o) => o.task.id));
      assert.equal(ids.size, 1, `${mode}: one task for every submit`);
      assert.equal(outcomes.filter((o) => o.kind === "created").length, 1, `${mode}: created once`);
      const id = [...ids][0]!;
      const task = await mustGet(a, id);
      assert.equal(task.state, "queued");
      // The last writer's input is the one kept: whichever submit committed last.
      const events = await allEvents(a, id);
      assert.equal(events.length, 40, `${mode}: a first event and 39 replacements`);
      await assertFoldMatches(b, id);
    }
    const queued = (await a.listTasks({ name: NAME, state: "queued", limit: 100 })).tasks;
    assert.equal(queued.length, 3);
  });
}
