import assert from "node:assert/strict";
import { test } from "node:test";
import type { Store, TaskFilter } from "../store.js";
import type { ContractHarness } from "./store-contract.js";
import { submitNew, T0 } from "./support.js";

/** Every id of a search, over all its pages (a small page size, so paging is exercised). */
async function searchIds(store: Store, filter: Omit<TaskFilter, "limit" | "cursor">, limit = 2): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | undefined;
  for (let pages = 0; pages < 100; pages++) {
    const page = await store.listTasks({ ...filter, limit, ...(cursor === undefined ? {} : { cursor }) });
    ids.push(...page.tasks.map((task) => task.id));
    if (page.nextCursor === null) return ids;
    cursor = page.nextCursor;
  }
  assert.fail("more than 100 pages");
}

/** Prefix search over id, owner and name (TaskFilter.search). */
export function search(harness: ContractHarness): void {
  test("search finds tasks by a prefix of their id, owner or name, newest first, page by page", async (t) => {
    const store = await harness.make(t);
    const a = await submitNew(store, T0, { id: "task_alpha1", owner: "zed", name: "render.video" });
    const b = await submitNew(store, T0, { id: "task_alpha2", owner: "zed", name: "render.audio" });
    const c = await submitNew(store, T0, { id: "task_beta", owner: "alphonse", name: "mail.send" });
    const d = await submitNew(store, T0, { id: "task_gamma", owner: "yolanda", name: "alpha.sync" });
    await submitNew(store, T0, { id: "task_delta", owner: "xavier", name: "mail.digest" });

    assert.deepEqual(await searchIds(store, { search: "task_alpha" }), [b.id, a.id], "id prefix");
    assert.deepEqual(await searchIds(store, { search: "alph" }), [d.id, c.id], "owner or name prefix; not the ids that only contain it");
    assert.deepEqual(await searchIds(store, { search: "render." }), [b.id, a.id], "name prefix");
    assert.deepEqual(await searchIds(store, { search: "task_" }, 1), await allIds(store), "every id starts with task_, one a page");
    assert.deepEqual(await searchIds(store, { search: "Alph" }), [], "case counts");
    assert.deepEqual(await searchIds(store, { search: "lpha" }), [], "a prefix, not a substring");
    assert.deepEqual(await searchIds(store, { search: "task_alpha1x" }), [], "longer than the text");
    assert.deepEqual(await searchIds(store, { search: "zed" }), [b.id, a.id]);
  });

  test("search combines with the other filters: owner, state, queue, name", async (t) => {
    const store = await harness.make(t);
    const mine = await submitNew(store, T0, { owner: "olga", name: "report.build" });
    const olivers = await submitNew(store, T0, { owner: "oliver", name: "report.build" });
    const other = await submitNew(store, T0, { owner: "olga", name: "export.csv", queue: "exports" });
    assert.deepEqual(await searchIds(store, { owner: "olga", search: "report" }), [mine.id], "an owner sees only its own matches");
    assert.deepEqual(await searchIds(store, { owner: "olga", search: "ol" }), [other.id, mine.id]);
    assert.deepEqual(await searchIds(store, { queue: "exports", search: "ol" }), [other.id]);
    assert.deepEqual(await searchIds(store, { state: "running", search: "ol" }), []);
    assert.deepEqual(await searchIds(store, { name: "report.build", search: "oli" }), [olivers.id]);
  });

  test("every character of a search is literal: %, _, quotes, backslashes, unicode past U+FFFF", async (t) => {
    const store = await harness.make(t);
    const owners = [
      "50%_off",
      "50x_off",
      "a_b",
      "axb",
      "o'brien",
      'say "hi"',
      "back\\slash",
      "ümlaut",
      "日本語",
      "x😀",
      "x\uffff",
      "x\uffffz",
      "x",
      "é",
      "e\u0301",
    ];
    const byOwner = new Map<string, string>();
    for (const owner of owners) byOwner.set(owner, (await submitNew(store, T0, { owner })).id);
    const found = async (prefix: string) => {
      const ids = new Set(await searchIds(store, { search: prefix }, 50));
      return owners.filter((owner) => ids.has(byOwner.get(owner)!));
    };
    assert.deepEqual(await found("50%"), ["50%_off"]);
    assert.deepEqual(await found("%"), []);
    assert.deepEqual(await found("a_"), ["a_b"]);
    assert.deepEqual(await found("_"), []);
    assert.deepEqual(await found("o'"), ["o'brien"]);
    assert.deepEqual(await found('say "'), ['say "hi"']);
    assert.deepEqual(await found("back\\"), ["back\\slash"]);
    assert.deepEqual(await found("ü"), ["ümlaut"]);
    assert.deepEqual(await found("日本"), ["日本語"]);
    // A bound of prefix + U+FFFF would miss "x😀": its UTF-8 bytes sort after U+FFFF's.
    assert.deepEqual(await found("x"), ["x😀", "x\uffff", "x\uffffz", "x"]);
    assert.deepEqual(await found("x\uffff"), ["x\uffff", "x\uffffz"]);
    assert.deepEqual(await found("x😀"), ["x😀"]);
    assert.deepEqual(await found("é"), ["é"], "no normalisation: a composed é is not e + combining accent");
    assert.deepEqual(await found("e"), ["e\u0301"]);
    assert.deepEqual(await found("\u0000"), [], "text no store can hold matches nothing");
    assert.deepEqual(await found("x\ud83d"), [], "half a surrogate pair matches nothing");
    assert.equal((await searchIds(store, { search: "" }, 50)).length, owners.length, "an empty prefix matches every task");
  });
}

async function allIds(store: Store): Promise<string[]> {
  return (await store.listTasks({ limit: 1000 })).tasks.map((task) => task.id);
}
