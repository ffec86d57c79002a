import assert from "node:assert/strict";
import { test } from "node:test";
import { POISON_PILL } from "../../core/dead-letters.js";
import { newId } from "../../core/ids.js";
import { LEASE_EXPIRED } from "../../core/transitions.js";
import type { Store } from "../store.js";
import type { ContractHarness } from "./store-contract.js";
import { claimOne, LEASE_MS, mustGet, running, submitNew, submitRequest, T0 } from "./support.js";

/** A task that ended failed with `code` at `at` (one attempt, so the failure is its last). */
async function deadLetter(store: Store, at: number, overrides: { queue?: string; name?: string; code?: string } = {}): Promise<string> {
  const { code, ...rest } = overrides;
  const task = await submitNew(store, at, { maxAttempts: 1, ...rest });
  const claimed = await claimOne(store, at, { queue: task.queue, names: [task.name] });
  assert.equal(claimed.task.id, task.id);
  assert.equal(await store.finish(claimed.lease, { state: "failed", error: { message: "boom", ...(code === undefined ? {} : { code }) } }, at), true);
  return claimed.task.id;
}

async function deadIds(store: Store, filter: Parameters<Store["listDeadLetters"]>[0] = { limit: 100 }): Promise<string[]> {
  return (await store.listDeadLetters(filter)).tasks.map((task) => task.id);
}

export function deadLetters(harness: ContractHarness): void {
  test("a task failing its last attempt is a dead letter; a retried, succeeded or canceled one is not", async (t) => {
    const store = await harness.make(t);
    const claimed = await running(store, T0, { maxAttempts: 2 });
    await store.finish(claimed.lease, { state: "retry", error: { message: "again" }, runAt: T0 + 1 }, T0);
    assert.equal((await mustGet(store, claimed.task.id)).deadLetter, false, "a retry is not a dead letter");
    const again = await claimOne(store, T0 + 1);
    await store.finish(again.lease, { state: "failed", error: { message: "boom", code: "nope" } }, T0 + 2);
    const dead = await mustGet(store, claimed.task.id);
    assert.equal(dead.state, "failed");
    assert.equal(dead.deadLetter, true);

    const ok = await running(store, T0 + 3);
    await store.finish(ok.lease, { state: "succeeded", result: 1 }, T0 + 3);
    assert.equal((await mustGet(store, ok.task.id)).deadLetter, false);
    const queued = await submitNew(store, T0 + 4);
    await store.cancel(queued.id, T0 + 4);
    assert.equal((await mustGet(store, queued.id)).deadLetter, false);
    assert.deepEqual(await deadIds(store), [claimed.task.id]);
  });

  test("a lease lost on the last attempt makes a dead letter (lease_expired)", async (t) => {
    const store = await harness.make(t);
    const claimed = await running(store, T0, { maxAttempts: 1 });
    assert.equal(await store.recoverExpired(T0 + LEASE_MS + 1, "lost"), 1);
    const dead = await mustGet(store, claimed.task.id);
    assert.equal(dead.error?.code, LEASE_EXPIRED);
    assert.equal(dead.deadLetter, true);
  });

  test("a parent that failed with child_failed is not a dead letter; its child is", async (t) => {
    const store = await harness.make(t);
    const groupId = newId("grp");
    const group = submitRequest({ id: groupId, name: "contract.group", wait: { kind: "group", failure: "fail-fast", then: null } });
    const kid = submitRequest({ name: "contract.child", maxAttempts: 1, parent: { id: groupId, key: "a", weight: 1 } });
    await store.submitGroup(group, [kid], T0);
    const child = await claimOne(store, T0 + 1, { names: ["contract.child"] });
    await store.finish(child.lease, { state: "failed", error: { message: "boom" } }, T0 + 2);
    const parent = await mustGet(store, groupId);
    assert.equal(parent.state, "failed");
    assert.equal(parent.error?.code, "child_failed");
    assert.equal(parent.deadLetter, false);
    assert.equal((await mustGet(store, kid.id)).deadLetter, true);
    assert.deepEqual(await deadIds(store), [kid.id]);
  });

  test("retention skips dead letters", async (t) => {
    const store = await harness.make(t);
    const dead = await deadLetter(store, T0);
    const parentFailed = newId("grp");
    await store.submitGroup(
      submitRequest({ id: parentFailed, name: "contract.group", wait: { kind: "group", failure: "fail-fast", then: null } }),
      [submitRequest({ name: "contract.child", maxAttempts: 1, parent: { id: parentFailed, key: "a", weight: 1 } })],
      T0,
    );
    const child = await claimOne(store, T0 + 1, { names: ["contract.child"] });
    await store.finish(child.lease, { state: "failed", error: { message: "boom" } }, T0 + 1);
    // Only the group (failed, but no dead letter) may go; the two dead letters stay.
    assert.equal(await store.purgeFinished({ failed: T0 + 1_000 }, 100), 1);
    assert.equal(await store.getTask(parentFailed), null);
    assert.ok(await store.getTask(dead));
    assert.ok(await store.getTask(child.task.id));
  });

  test("a task whose lease expires maxLeaseExpiries times in a row is quarantined as a poison pill, attempts left or not", async (t) => {
    const store = await harness.make(t);
    const task = await submitNew(store, T0, { maxAttempts: 10, maxLeaseExpiries: 3 });
    let now = T0;
    for (let i = 1; i <= 3; i++) {
      await claimOne(store, now);
      now += LEASE_MS + 1;
      assert.equal(await store.recoverExpired(now, "lost"), 1);
      const after = await mustGet(store, task.id);
      if (i < 3) assert.equal(after.state, "queued", `expiry ${i} requeues`);
    }
    const dead = await mustGet(store, task.id);
    assert.equal(dead.state, "failed");
    assert.equal(dead.deadLetter, true);
    assert.equal(dead.error?.code, POISON_PILL);
    assert.match(dead.error?.message ?? "", /3 times/);
    assert.equal(dead.attempt, 3, "attempts were left");
  });

  test("an attempt that ends otherwise resets the count of lease expiries in a row", async (t) => {
    const store = await harness.make(t);
    const task = await submitNew(store, T0, { maxAttempts: 10, maxLeaseExpiries: 2 });
    let now = T0;
    const expire = async () => {
      await claimOne(store, now);
      now += LEASE_MS + 1;
      await store.recoverExpired(now, "lost");
    };
    await expire();
    // A normal end of an attempt (a retry after backoff) between two expiries.
    const retried = await claimOne(store, now);
    await store.finish(retried.lease, { state: "retry", error: { message: "again" }, runAt: now }, now);
    await expire();
    assert.equal((await mustGet(store, task.id)).state, "queued", "the count started again after the retry");
    // A release by a stopping worker resets it too.
    const released = await claimOne(store, now);
    await store.release(released.lease, now);
    await expire();
    assert.equal((await mustGet(store, task.id)).state, "queued", "the count started again after the release");
    await expire();
    const dead = await mustGet(store, task.id);
    assert.equal(dead.error?.code, POISON_PILL);
  });

  test("redrive by ids resumes a dead letter from its steps: queued, steps kept, no longer a dead letter, its count reset", async (t) => {
    const store = await harness.make(t);
    const claimed = await running(store, T0, { maxAttempts: 5, maxLeaseExpiries: 1 });
    await store.recordStep(claimed.lease, "fetch", { got: 1 }, T0);
    await store.recoverExpired(T0 + LEASE_MS + 1, "lost");
    assert.equal((await mustGet(store, claimed.task.id)).error?.code, POISON_PILL);
    const ok = await running(store, T0 + 20_000);
    await store.finish(ok.lease, { state: "succeeded", result: 1 }, T0 + 20_000);

    assert.equal(await store.redriveDead({ ids: [claimed.task.id, ok.task.id, "tsk_missing"] }, T0 + 30_000), 1, "only dead letters count");
    const back = await mustGet(store, claimed.task.id);
    assert.equal(back.state, "queued");
    assert.equal(back.deadLetter, false);
    assert.equal(back.error, null);
    assert.deepEqual([...(await store.getSteps(claimed.task.id))], [["fetch", { got: 1 }]]);
    assert.deepEqual(await deadIds(store), []);
    // Its expiries in a row start again from 0: the next loss (limit 1) quarantines it again, and no sooner.
    const rerun = await claimOne(store, T0 + 30_000);
    assert.deepEqual([...rerun.steps], [["fetch", { got: 1 }]]);
    await store.recoverExpired(T0 + 30_000 + LEASE_MS + 1, "lost");
    assert.equal((await mustGet(store, claimed.task.id)).deadLetter, true);
    assert.equal(await store.redriveDead({ ids: [claimed.task.id] }, T0 + 50_000), 1);
  });

  test("redrive by filter runs every matching dead letter again, and only those", async (t) => {
    const store = await harness.make(t);
    const a = await deadLetter(store, T0, { queue: "main", code: "x" });
    const b = await deadLetter(store, T0 + 1, { queue: "main", code: "y" });
    const c = await deadLetter(store, T0 + 2, { queue: "other", name: "contract.other", code: "x" });
    assert.equal(await store.redriveDead({ filter: { code: "x", queue: "main" } }, T0 + 10), 1);
    assert.equal((await mustGet(store, a)).state, "queued");
    assert.equal((await mustGet(store, b)).state, "failed");
    assert.equal((await mustGet(store, c)).state, "failed");
    assert.equal(await store.redriveDead({ filter: {} }, T0 + 11), 2);
    assert.deepEqual(await deadIds(store), []);
  });

  test("purge by filter deletes only dead letters, with their events and steps", async (t) => {
    const store = await harness.make(t);
    const claimed = await running(store, T0, { maxAttempts: 1 });
    await store.recordStep(claimed.lease, "s", 1, T0);
    await store.finish(claimed.lease, { state: "failed", error: { message: "boom" } }, T0);
    const late = await deadLetter(store, T0 + 100);
    const ok = await running(store, T0);
    await store.finish(ok.lease, { state: "succeeded", result: 1 }, T0);
    const queued = await submitNew(store, T0);

    assert.equal(await store.purgeDead({ filter: { until: T0 + 100 } }), 1);
    assert.equal(await store.getTask(claimed.task.id), null);
    assert.deepEqual(await store.readEvents(claimed.task.id, 0, 100), []);
    assert.equal((await store.getSteps(claimed.task.id)).size, 0);
    assert.ok(await store.getTask(late));
    assert.equal(await store.purgeDead({ filter: {} }), 1);
    assert.ok(await store.getTask(ok.task.id), "a succeeded task is no dead letter");
    assert.ok(await store.getTask(queued.id));
    assert.equal(await store.purgeDead({ ids: [ok.task.id, queued.id] }), 0);
  });

  test("dead letters list newest first, filtered by queue, name, code and time, a page at a time", async (t) => {
    const store = await harness.make(t);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await deadLetter(store, T0 + i * 10, { code: i % 2 === 0 ? "even" : "odd" }));
    const other = await deadLetter(store, T0 + 100, { queue: "other", name: "contract.other" });
    // Two that died at the same moment keep an order (submit order, newest first).
    const same = [await deadLetter(store, T0 + 200), await deadLetter(store, T0 + 200)];

    assert.deepEqual(await deadIds(store), [same[1], same[0], other, ...[...ids].reverse()]);
    assert.deepEqual(await deadIds(store, { limit: 100, queue: "other" }), [other]);
    assert.deepEqual(await deadIds(store, { limit: 100, name: "contract.other" }), [other]);
    assert.deepEqual(await deadIds(store, { limit: 100, code: "even" }), [ids[4], ids[2], ids[0]]);
    assert.deepEqual(await deadIds(store, { limit: 100, since: T0 + 20, until: T0 + 100 }), [ids[4], ids[3], ids[2]]);

    const seen: string[] = [];
    let cursor: string | undefined;
    for (let pages = 0; pages < 10; pages++) {
      const page = await store.listDeadLetters({ limit: 3, ...(cursor === undefined ? {} : { cursor }) });
      seen.push(...page.tasks.map((task) => task.id));
      if (page.nextCursor === null) break;
      cursor = page.nextCursor;
    }
    assert.deepEqual(seen, await deadIds(store));
  });
}
