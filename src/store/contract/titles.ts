import assert from "node:assert/strict";
import { test } from "node:test";
import type { ContractHarness } from "./store-contract.js";
import { allEvents, claimOne, mustGet, running, submitNew, submitRequest, T0 } from "./support.js";

/** A task's title: given at submit, set under a lease, read everywhere a task is, found by search. */
export function titles(harness: ContractHarness): void {
  test("a title given at submit reads back from get, list and claim; none is null", async (t) => {
    const store = await harness.make(t);
    const titled = await submitNew(store, T0, { title: "Moby-Dick — «Call me Ishmael» 🐋" });
    const plain = await submitNew(store, T0);
    assert.equal(titled.title, "Moby-Dick — «Call me Ishmael» 🐋");
    assert.equal(plain.title, null);
    assert.deepEqual(await mustGet(store, titled.id), titled);
    const listed = (await store.listTasks({ limit: 10 })).tasks;
    assert.deepEqual(listed.map((task) => task.title), [null, "Moby-Dick — «Call me Ishmael» 🐋"]);
    const claimed = await claimOne(store, T0 + 1);
    assert.equal(claimed.task.title, "Moby-Dick — «Call me Ishmael» 🐋");
    const [many] = await store.submitMany([submitRequest({ title: "batch 'one'" })], T0);
    assert.equal(many!.title, "batch 'one'");
    assert.equal((await mustGet(store, many!.id)).title, "batch 'one'");
  });

  test("recordTitle sets the title under a lease, adds no event, and is kept through the end of the task", async (t) => {
    const store = await harness.make(t);
    const { task, lease } = await running(store, T0);
    const before = await mustGet(store, task.id);
    assert.equal(await store.recordTitle(lease, "Chapter one", T0 + 1), true);
    assert.equal(await store.recordTitle(lease, "War and Peace", T0 + 2), true);
    const after = await mustGet(store, task.id);
    assert.equal(after.title, "War and Peace");
    assert.equal(after.lastSeq, before.lastSeq, "no event");
    assert.equal((await allEvents(store, task.id)).length, before.lastSeq);
    assert.equal(await store.finish(lease, { state: "succeeded", result: null }, T0 + 3), true);
    assert.equal((await mustGet(store, task.id)).title, "War and Peace");
  });

  test("search finds tasks by a prefix of their title, literally; untitled tasks never match a title", async (t) => {
    const store = await harness.make(t);
    const moby = await submitNew(store, T0, { title: "Moby-Dick" });
    const mob = await submitNew(store, T0, { title: "Mob 100% _rule_" });
    await submitNew(store, T0, { title: "The Moby" });
    await submitNew(store, T0);
    const ids = async (search: string) => (await store.listTasks({ search, limit: 50 })).tasks.map((task) => task.id);
    assert.deepEqual(await ids("Mob"), [mob.id, moby.id]);
    assert.deepEqual(await ids("Moby-"), [moby.id]);
    assert.deepEqual(await ids("Mob 100%"), [mob.id]);
    assert.deepEqual(await ids("Mob 100%%"), []);
    assert.deepEqual(await ids("moby"), [], "case counts");
    assert.deepEqual(await ids("Moby"), [moby.id], "a prefix of the title, not of a later word");
  });
}
