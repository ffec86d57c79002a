import assert from "node:assert/strict";
import { test } from "node:test";
import { newId } from "../../core/ids.js";
import { toPublicTask, type TaskRecord } from "../../core/task.js";
import { SIGNAL_TIMED_OUT, type FailurePolicy, type WaitSpec } from "../../core/waits.js";
import type { ClaimedTask, Store, SubmitRequest } from "../store.js";
import type { ContractHarness } from "./store-contract.js";
import { allEvents, claim, mustGet, NAME, QUEUE, running, stateOf, submitRequest, T0, assertFoldMatches } from "./support.js";

const CHILD = "contract.child";

function childRequest(parent: TaskRecord, key: string, overrides: Partial<SubmitRequest> = {}): SubmitRequest {
  return submitRequest({ name: CHILD, owner: parent.owner, parent: { id: parent.id, key, weight: 1 }, ...overrides });
}

/** A running parent that submitted `keys` children and now waits for them. */
async function waitingParent(store: Store, keys: readonly string[], failure: FailurePolicy = "fail-fast", weights: number[] = []) {
  const parent = await running(store, T0);
  const children = await store.submitChildren(
    parent.task.id,
    keys.map((key, i) => childRequest(parent.task, key, { parent: { id: parent.task.id, key, weight: weights[i] ?? 1 } })),
    T0 + 1,
  );
  assert.equal(await store.finish(parent.lease, { state: "waiting", wait: { kind: "children", keys: [...keys], failure } }, T0 + 2), true);
  return { parent, children };
}

async function claimChildren(store: Store, now: number, limit = 100): Promise<ClaimedTask[]> {
  return (await claim(store, now, { names: [CHILD], limit })).tasks;
}


/** Children, groups and durable waits (core/waits.ts): the same on every store. */
export function childrenAndWaits(harness: ContractHarness): void {
  test("children: a key already used answers the existing child; they list in submit order, paged, with their parent", async (t) => {
    const store = await harness.make(t);
    const parent = await running(store, T0);
    const first = await store.submitChildren(parent.task.id, ["a", "b"].map((k) => childRequest(parent.task, k)), T0 + 1);
    const again = await store.submitChildren(parent.task.id, ["b", "c", "a"].map((k) => childRequest(parent.task, k)), T0 + 2);
    assert.deepEqual(
      again.map((c) => c.id),
      [first[1]!.id, again[1]!.id, first[0]!.id],
    );
    assert.deepEqual(
      (await store.children(parent.task.id)).map((c) => c.childKey),
      ["a", "b", "c"],
    );
    const page1 = await store.listTasks({ parentId: parent.task.id, limit: 2 });
    assert.deepEqual(
      page1.tasks.map((c) => c.childKey),
      ["a", "b"],
    );
    assert.ok(page1.nextCursor);
    const page2 = await store.listTasks({ parentId: parent.task.id, limit: 2, cursor: page1.nextCursor });
    assert.deepEqual(
      page2.tasks.map((c) => c.childKey),
      ["c"],
    );
    assert.equal(page2.nextCursor, null);
    for (const child of again) {
      assert.equal(child.parentId, parent.task.id);
      assert.equal(child.owner, parent.task.owner);
    }
  });

  test("a waiting parent gives its slot back, rolls its children's progress up by weight, and wakes when they end", async (t) => {
    const store = await harness.make(t);
    const { parent, children } = await waitingParent(store, ["a", "b"], "fail-fast", [3, 1]);
    let record = await mustGet(store, parent.task.id);
    assert.equal(record.state, "waiting");
    assert.deepEqual(toPublicTask(record).waitingFor, { kind: "children" });
    assert.equal((await store.listQueues()).find((q) => q.name === QUEUE)?.counts.waiting, 1);

    const claimed = await claimChildren(store, T0 + 3);
    assert.equal(claimed.length, 2);
    const a = claimed.find((c) => c.task.id === children[0]!.id)!;
    const b = claimed.find((c) => c.task.id === children[1]!.id)!;
    await store.recordProgress(a.lease, { percent: 50 }, T0 + 4);
    record = await mustGet(store, parent.task.id);
    assert.equal(record.progress?.percent, 37.5, "a (weight 3) half done of 4");
    assert.deepEqual(record.progress?.children, { total: 2, queued: 0, running: 2, waiting: 0, succeeded: 0, failed: 0, canceled: 0 });

    await store.finish(a.lease, { state: "succeeded", result: "A" }, T0 + 5);
    record = await mustGet(store, parent.task.id);
    assert.equal(record.state, "waiting", "one child still runs");
    assert.equal(record.progress?.percent, 75);
    await store.finish(b.lease, { state: "succeeded", result: "B" }, T0 + 6);
    record = await mustGet(store, parent.task.id);
    assert.equal(record.state, "queued", "woken when the last child ended");
    assert.equal(record.progress?.percent, 100);
    assert.equal(record.progress?.current, 2);
    assert.equal(record.attempt, 0, "waiting spent no attempt: the next claim makes it 1 again");
    const woke = (await allEvents(store, parent.task.id)).at(-1)!.data;
    assert.equal(woke.type === "state" ? woke.reason : null, "woken");

    const again = (await claim(store, T0 + 7, { names: [NAME] })).tasks[0];
    assert.equal(again?.task.id, parent.task.id, "the woken parent is claimed again");
    assert.equal(again?.task.attempt, 1);
    await assertFoldMatches(store, parent.task.id);
  });

  test("a wait for children that already ended does not wait", async (t) => {
    const store = await harness.make(t);
    const parent = await running(store, T0);
    await store.submitChildren(parent.task.id, [childRequest(parent.task, "a")], T0 + 1);
    const [child] = await claimChildren(store, T0 + 2);
    await store.finish(child!.lease, { state: "succeeded", result: 1 }, T0 + 3);
    await store.finish(parent.lease, { state: "waiting", wait: { kind: "children", keys: ["a"], failure: "fail-fast" } }, T0 + 4);
    const record = await mustGet(store, parent.task.id);
    assert.equal(record.state, "queued");
    assert.ok(!(await allEvents(store, parent.task.id)).some((e) => stateOf(e) === "waiting"));
  });

  test("fail-fast: a failed child cancels its unfinished siblings and wakes the parent; continue waits for all", async (t) => {
    const store = await harness.make(t);
    const { parent, children } = await waitingParent(store, ["a", "b", "c"]);
    const [a] = await claimChildren(store, T0 + 3, 1);
    assert.equal(a?.task.id, children[0]!.id);
    const [b] = await claimChildren(store, T0 + 3, 1);
    await store.finish(a!.lease, { state: "failed", error: { message: "boom" } }, T0 + 4);
    assert.equal((await mustGet(store, parent.task.id)).state, "queued");
    assert.equal((await mustGet(store, children[2]!.id)).state, "canceled", "a queued sibling is canceled at once");
    const runningSibling = await mustGet(store, b!.task.id);
    assert.equal(runningSibling.state, "running");
    assert.equal(runningSibling.cancelRequested, true, "a running sibling is asked to stop");

    const other = await harness.make(t);
    const cont = await waitingParent(other, ["a", "b"], "continue");
    const [x, y] = await claimChildren(other, T0 + 3);
    await other.finish(x!.lease, { state: "failed", error: { message: "boom" } }, T0 + 4);
    assert.equal((await mustGet(other, cont.parent.task.id)).state, "waiting");
    assert.equal((await mustGet(other, y!.task.id)).state, "running");
    await other.finish(y!.lease, { state: "succeeded", result: null }, T0 + 5);
    assert.equal((await mustGet(other, cont.parent.task.id)).state, "queued");
  });

  test("maxFailures: n failed children are tolerated, one more wakes the parent as fail-fast", async (t) => {
    const store = await harness.make(t);
    const { parent } = await waitingParent(store, ["a", "b", "c", "d"], { maxFailures: 1 });
    const claimed = await claimChildren(store, T0 + 3);
    await store.finish(claimed[0]!.lease, { state: "failed", error: { message: "1" } }, T0 + 4);
    assert.equal((await mustGet(store, parent.task.id)).state, "waiting");
    await store.finish(claimed[1]!.lease, { state: "failed", error: { message: "2" } }, T0 + 5);
    assert.equal((await mustGet(store, parent.task.id)).state, "queued");
  });

  test("cancel cascades: a waiting parent is canceled at once, with its queued and running children", async (t) => {
    const store = await harness.make(t);
    const { parent, children } = await waitingParent(store, ["a", "b"]);
    const [a] = await claimChildren(store, T0 + 3, 1);
    const outcome = await store.cancel(parent.task.id, T0 + 4);
    assert.equal(outcome.kind, "canceled");
    assert.equal((await mustGet(store, parent.task.id)).state, "canceled");
    assert.equal((await mustGet(store, children[1]!.id)).state, "canceled");
    assert.equal((await mustGet(store, a!.task.id)).cancelRequested, true);
    // The running child ends later: the canceled parent stays as it is, its log ends with its final state.
    await store.finish(a!.lease, { state: "canceled" }, T0 + 5);
    const events = await allEvents(store, parent.task.id);
    assert.equal(stateOf(events.at(-1)!), "canceled");
  });

  test("retry of a parent runs its failed and canceled children again", async (t) => {
    const store = await harness.make(t);
    const { parent, children } = await waitingParent(store, ["a", "b"]);
    const [a] = await claimChildren(store, T0 + 3, 1);
    await store.finish(a!.lease, { state: "failed", error: { message: "boom" } }, T0 + 4);
    const woken = await claim(store, T0 + 5, { names: [NAME] });
    await store.finish(woken.tasks[0]!.lease, { state: "failed", error: { message: "child failed", code: "child_failed" } }, T0 + 6);
    const retried = await store.retry(parent.task.id, T0 + 7);
    assert.equal(retried.kind, "retried");
    assert.equal((await mustGet(store, children[0]!.id)).state, "queued");
    assert.equal((await mustGet(store, children[1]!.id)).state, "queued");
  });

  test("a restart (after UnrecoverableError) starts with no children: the old ones are kept as tasks of their own", async (t) => {
    const store = await harness.make(t);
    const parent = await running(store, T0, { idempotencyKey: "book" });
    const [old] = await store.submitChildren(parent.task.id, [childRequest(parent.task, "a")], T0 + 1);
    await store.finish(parent.lease, { state: "failed", error: { message: "bad input", unrecoverable: true } }, T0 + 2);
    const again = await store.submit(submitRequest({ idempotencyKey: "book", input: { n: 2 } }), T0 + 3);
    assert.equal(again.kind, "restarted");
    assert.deepEqual(await store.children(parent.task.id), []);
    const kept = await mustGet(store, old!.id);
    assert.equal(kept.parentId, null);
    const fresh = await store.submitChildren(parent.task.id, [childRequest(parent.task, "a")], T0 + 4);
    assert.notEqual(fresh[0]!.id, old!.id, "the same key submits a new child");
  });

  test("sleep: waiting until its time, then queued with its step recorded", async (t) => {
    const store = await harness.make(t);
    const parent = await running(store, T0);
    const wait: WaitSpec = { kind: "sleep", step: "~sleep:1", until: T0 + 60_000 };
    await store.finish(parent.lease, { state: "waiting", wait }, T0 + 1);
    assert.deepEqual(toPublicTask(await mustGet(store, parent.task.id)).waitingFor, { kind: "sleep", until: new Date(T0 + 60_000).toISOString() });
    assert.equal(await store.wakeDue(T0 + 59_999), 0);
    assert.equal((await mustGet(store, parent.task.id)).state, "waiting");
    assert.equal(await store.wakeDue(T0 + 60_000), 1);
    assert.equal((await mustGet(store, parent.task.id)).state, "queued");
    const again = (await claim(store, T0 + 60_001)).tasks[0]!;
    assert.equal(again.task.id, parent.task.id);
    assert.equal(again.steps.has("~sleep:1"), true);
    await assertFoldMatches(store, parent.task.id);
  });

  test("signals: kept until asked, delivered while waiting, refused when finished; a timeout is recorded as such", async (t) => {
    const store = await harness.make(t);
    const { task, lease } = await running(store, T0);
    assert.equal((await store.signal(task.id, "early", { n: 1 }, T0 + 1)).kind, "kept");
    await store.finish(lease, { state: "waiting", wait: { kind: "signal", step: "~signal:early:1", name: "early", until: null } }, T0 + 2);
    assert.equal((await mustGet(store, task.id)).state, "queued", "the kept signal ends the wait at once");
    const second = (await claim(store, T0 + 3)).tasks[0]!;
    assert.deepEqual(second.steps.get("~signal:early:1"), { payload: { n: 1 } });

    await store.finish(second.lease, { state: "waiting", wait: { kind: "signal", step: "~signal:late:1", name: "late", until: T0 + 10_000 } }, T0 + 4);
    assert.equal((await store.signal(task.id, "other", 1, T0 + 5)).kind, "kept", "another name does not end this wait");
    assert.equal((await mustGet(store, task.id)).state, "waiting");
    const delivered = await store.signal(task.id, "late", "yes", T0 + 6);
    assert.equal(delivered.kind, "delivered");
    assert.equal(delivered.kind === "delivered" && delivered.task.state, "queued");
    const third = (await claim(store, T0 + 7)).tasks[0]!;
    assert.deepEqual(third.steps.get("~signal:late:1"), { payload: "yes" });

    await store.finish(third.lease, { state: "waiting", wait: { kind: "signal", step: "~signal:never:1", name: "never", until: T0 + 100 } }, T0 + 8);
    assert.equal(await store.wakeDue(T0 + 100), 1);
    const fourth = (await claim(store, T0 + 101)).tasks[0]!;
    assert.deepEqual(fourth.steps.get("~signal:never:1"), SIGNAL_TIMED_OUT);
    await store.finish(fourth.lease, { state: "succeeded", result: null }, T0 + 102);
    assert.equal((await store.signal(task.id, "late", 1, T0 + 103)).kind, "final");
    assert.deepEqual(await store.signal("task_unknown", "x", 1, T0), { kind: "missing" });
    await assertFoldMatches(store, task.id);
  });

  test("a group waits for its children, then runs its then task with their outcomes, and ends with it", async (t) => {
    const store = await harness.make(t);
    const groupId = newId("grp");
    const thenId = newId("task");
    const group = submitRequest({
      id: groupId,
      name: "contract.group",
      idempotencyKey: "g-1",
      wait: { kind: "group", failure: "fail-fast", then: { id: thenId, name: NAME, queue: QUEUE, input: { x: 1 }, priority: 0, maxAttempts: 3, timeoutMs: null } },
    });
    const kids = ["0", "1", "2"].map((key) => submitRequest({ name: CHILD, parent: { id: groupId, key, weight: 1 } }));
    const outcome = await store.submitGroup(group, kids, T0);
    assert.equal(outcome.kind, "created");
    assert.equal(outcome.task.state, "waiting");
    assert.equal((await store.submitGroup({ ...group, id: newId("grp") }, kids, T0 + 1)).kind, "existing", "the same key attaches");
    assert.equal((await store.children(groupId)).length, 3);

    for (const [i, child] of (await claimChildren(store, T0 + 2)).entries()) {
      await store.finish(child.lease, { state: "succeeded", result: i * 10 }, T0 + 3 + i);
    }
    const then = await mustGet(store, thenId);
    assert.equal(then.state, "queued");
    assert.equal(then.parentId, groupId);
    const input = then.input as { x: number; children: { key: string; state: string; result: unknown }[] };
    assert.equal(input.x, 1);
    assert.deepEqual(
      input.children.map((c) => [c.key, c.state, c.result]),
      [
        ["0", "succeeded", 0],
        ["1", "succeeded", 10],
        ["2", "succeeded", 20],
      ],
    );
    assert.equal((await mustGet(store, groupId)).state, "waiting", "the group waits for its then task");
    const [thenRun] = (await claim(store, T0 + 10)).tasks;
    assert.equal(thenRun?.task.id, thenId);
    await store.finish(thenRun!.lease, { state: "succeeded", result: { joined: true } }, T0 + 11);
    const ended = await mustGet(store, groupId);
    assert.equal(ended.state, "succeeded");
    assert.deepEqual(ended.result, { joined: true });
    assert.equal(ended.progress?.percent, 100);
    await assertFoldMatches(store, groupId);
  });

  test("a group fails fast with an error naming the child, and a retry runs its failed children again", async (t) => {
    const store = await harness.make(t);
    const groupId = newId("grp");
    const group = submitRequest({ id: groupId, name: "contract.group", wait: { kind: "group", failure: "fail-fast", then: null } });
    const kids = ["a", "b"].map((key) => submitRequest({ name: CHILD, parent: { id: groupId, key, weight: 1 } }));
    await store.submitGroup(group, kids, T0);
    const [a] = await claimChildren(store, T0 + 1, 1);
    await store.finish(a!.lease, { state: "failed", error: { message: "boom" } }, T0 + 2);
    const failed = await mustGet(store, groupId);
    assert.equal(failed.state, "failed");
    assert.equal(failed.error?.code, "child_failed");
    assert.match(failed.error?.message ?? "", /"?a"?/);
    assert.equal((await mustGet(store, kids[1]!.id)).state, "canceled");

    const retried = await store.retry(groupId, T0 + 3);
    assert.equal(retried.kind, "retried");
    assert.equal((await mustGet(store, groupId)).state, "waiting");
    assert.equal((await mustGet(store, kids[0]!.id)).state, "queued");
    assert.equal((await mustGet(store, kids[1]!.id)).state, "queued");
    for (const child of await claimChildren(store, T0 + 4)) await store.finish(child.lease, { state: "succeeded", result: child.task.childKey }, T0 + 5);
    const done = await mustGet(store, groupId);
    assert.equal(done.state, "succeeded");
    assert.deepEqual(
      (done.result as { children: { key: string; result: unknown }[] }).children.map((c) => [c.key, c.result]),
      [
        ["a", "a"],
        ["b", "b"],
      ],
    );
    await assertFoldMatches(store, groupId);
  });

  test("a cancel asked while a task runs is carried out when it waits, children submitted meanwhile included", async (t) => {
    const store = await harness.make(t);
    const parent = await running(store, T0);
    const [early] = await store.submitChildren(parent.task.id, [childRequest(parent.task, "early")], T0 + 1);
    assert.equal((await store.cancel(parent.task.id, T0 + 2)).kind, "requested");
    assert.equal((await mustGet(store, early!.id)).state, "canceled", "a queued child ends with the cancel");
    const [late] = await store.submitChildren(parent.task.id, [childRequest(parent.task, "late")], T0 + 3);
    assert.equal(late?.state, "canceled", "a child submitted after the cancel ends at once");
    await store.finish(parent.lease, { state: "waiting", wait: { kind: "signal", step: "~signal:x:1", name: "x", until: null } }, T0 + 4);
    const ended = await mustGet(store, parent.task.id);
    assert.equal(ended.state, "canceled");
    assert.equal(ended.error?.code, "canceled");
    await assertFoldMatches(store, parent.task.id);
  });

  test("retention keeps the finished children of an unfinished parent", async (t) => {
    const store = await harness.make(t);
    const { parent, children } = await waitingParent(store, ["a", "b"]);
    const [a] = await claimChildren(store, T0 + 3, 1);
    await store.finish(a!.lease, { state: "succeeded", result: 1 }, T0 + 4);
    const lone = await running(store, T0 + 5, { name: "contract.lone" });
    await store.finish(lone.lease, { state: "succeeded", result: 2 }, T0 + 6);
    assert.equal(await store.purgeFinished({ succeeded: T0 + 1_000 }, 100), 1, "only the task with no parent");
    assert.ok(await store.getTask(children[0]!.id));
    assert.equal(await store.getTask(lone.task.id), null);
    assert.equal((await mustGet(store, parent.task.id)).state, "waiting");
  });

  test("a group run again whose children all succeeded ends at once; a woken task's log folds to it after a retry", async (t) => {
    const store = await harness.make(t);
    const groupId = newId("grp");
    const kids = ["a"].map((key) => submitRequest({ name: CHILD, parent: { id: groupId, key, weight: 1 } }));
    await store.submitGroup(submitRequest({ id: groupId, name: "contract.group", wait: { kind: "group", failure: "fail-fast", then: null } }), kids, T0);
    const [a] = await claimChildren(store, T0 + 1, 1);
    assert.equal((await store.cancel(groupId, T0 + 2)).kind, "canceled");
    await store.finish(a!.lease, { state: "succeeded", result: "done anyway" }, T0 + 3);
    assert.equal((await store.retry(groupId, T0 + 4)).kind, "retried");
    const ended = await mustGet(store, groupId);
    assert.equal(ended.state, "succeeded");
    await assertFoldMatches(store, groupId);

    const task = await running(store, T0 + 5);
    await store.finish(task.lease, { state: "retry", error: { message: "boom" }, runAt: T0 + 5 }, T0 + 5);
    const again = (await claim(store, T0 + 6)).tasks[0]!;
    await store.finish(again.lease, { state: "waiting", wait: { kind: "sleep", step: "~sleep:1", until: T0 + 10 } }, T0 + 7);
    await store.wakeDue(T0 + 10);
    assert.equal((await mustGet(store, task.task.id)).error, null, "woken: the old attempt's error is gone");
    await assertFoldMatches(store, task.task.id);
  });

  test("a group whose children do not fit their queue is refused whole: nothing is stored", async (t) => {
    const store = await harness.make(t);
    await store.declareQueue(QUEUE, { concurrency: null, maxQueued: 2, ownerConcurrency: null, ownerMaxQueued: null }, T0);
    const groupId = newId("grp");
    const kids = ["a", "b", "c"].map((key) => submitRequest({ name: CHILD, parent: { id: groupId, key, weight: 1 } }));
    await assert.rejects(
      store.submitGroup(submitRequest({ id: groupId, name: "contract.group", idempotencyKey: "full", wait: { kind: "group", failure: "fail-fast", then: null } }), kids, T0),
      { code: "queue_full" },
    );
    assert.equal(await store.getTask(groupId), null);
    assert.equal((await store.listTasks({ limit: 10 })).tasks.length, 0);
    const parent = await running(store, T0);
    await assert.rejects(store.submitChildren(parent.task.id, ["x", "y", "z"].map((k) => childRequest(parent.task, k)), T0 + 1), { code: "queue_full" });
    assert.deepEqual(await store.children(parent.task.id), [], "all children or none");
  });

  test("two processes ending a group's last children at once: the group ends exactly once", async (t) => {
    const [one, two] = await harness.makePair(t);
    for (let round = 0; round < 5; round++) {
      const groupId = newId("grp");
      const kids = ["a", "b", "c", "d"].map((key) => submitRequest({ name: CHILD, parent: { id: groupId, key, weight: 1 } }));
      await one.submitGroup(submitRequest({ id: groupId, name: "contract.group", wait: { kind: "group", failure: "continue", then: null } }), kids, T0);
      const claimed = await claimChildren(one, T0 + 1);
      await Promise.all(claimed.map((c, i) => (i % 2 === 0 ? one : two).finish(c.lease, { state: "succeeded", result: i }, T0 + 2)));
      const ended = await mustGet(one, groupId);
      assert.equal(ended.state, "succeeded", `round ${round}`);
      const finals = (await allEvents(one, groupId)).filter((e) => stateOf(e) === "succeeded");
      assert.equal(finals.length, 1);
      assert.deepEqual(ended.progress?.children, { total: 4, queued: 0, running: 0, waiting: 0, succeeded: 4, failed: 0, canceled: 0 });
    }
  });

  test("a 1,000-child group: progress reaches exactly 100 and the counts add up", async (t) => {
    const store = await harness.make(t);
    const groupId = newId("grp");
    const kids = Array.from({ length: 1000 }, (_, i) => submitRequest({ name: CHILD, parent: { id: groupId, key: `k${i}`, weight: 1 + (i % 3) } }));
    await store.submitGroup(submitRequest({ id: groupId, name: "contract.group", wait: { kind: "group", failure: "continue", then: null } }), kids, T0);
    let now = T0 + 1;
    let last = 0;
    for (;;) {
      const batch = await claimChildren(store, now++, 250);
      if (batch.length === 0) break;
      await Promise.all(batch.map((c, i) => store.finish(c.lease, i % 50 === 0 ? { state: "failed", error: { message: "x" } } : { state: "succeeded", result: i }, now)));
      const percent = (await mustGet(store, groupId)).progress?.percent ?? 0;
      assert.ok(percent >= last, "the bar never moves back");
      last = percent;
    }
    const ended = await mustGet(store, groupId);
    assert.equal(ended.state, "succeeded");
    assert.equal(ended.progress?.percent, 100);
    const counts = ended.progress!.children!;
    assert.equal(counts.total, 1000);
    assert.equal(counts.succeeded + counts.failed, 1000);
    assert.equal(counts.failed, 20);
  });
}
