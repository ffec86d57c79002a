import assert from "node:assert/strict";
import { test } from "node:test";
import { Outlast, OutlastError } from "../../src/index.js";
import { sqliteStore } from "../../src/store/sqlite/index.js";
import { collect, quietLogger } from "../support/engine.js";
import { guardLeaks } from "../support/leaks.js";

guardLeaks();

const notFound = (e: unknown) => e instanceof OutlastError && e.code === "not_found";

test("calls made for an owner find only that owner's tasks, as over HTTP; unscoped calls see every task", async (t) => {
  const outlast = new Outlast({ store: sqliteStore({ path: ":memory:" }), logger: quietLogger });
  t.after(() => outlast.close({ graceMs: 0 }));
  outlast.define("job", { run: () => "done" });
  const mine = await outlast.submit("job", null, { owner: "alice", delayMs: 60_000 });

  assert.equal((await outlast.get(mine.id, { owner: "alice" }))?.id, mine.id);
  assert.equal(await outlast.get(mine.id, { owner: "bob" }), null);
  assert.equal(await outlast.getRecord(mine.id, { owner: "bob" }), null);
  assert.equal((await outlast.get(mine.id))?.owner, "alice");

  await assert.rejects(outlast.cancel(mine.id, { owner: "bob" }), notFound);
  await assert.rejects(collect(outlast.watch(mine.id, { owner: "bob" })), notFound);
  assert.equal((await outlast.get(mine.id))?.state, "queued", "bob's cancel changed nothing");

  assert.equal((await outlast.cancel(mine.id, { owner: "alice" })).state, "canceled");
  await assert.rejects(outlast.retry(mine.id, { owner: "bob" }), notFound);
  assert.equal((await outlast.get(mine.id))?.state, "canceled", "bob's retry changed nothing");
  assert.equal((await outlast.retry(mine.id, { owner: "alice" })).state, "queued");
  const seen = await collect(firstOf(outlast.watch(mine.id, { owner: "alice", after: 0 })));
  assert.equal(seen[0]?.type, "state");
  assert.deepEqual((await outlast.list({ owner: "bob" })).tasks, []);
});

async function* firstOf<T>(iterable: AsyncIterable<T>): AsyncGenerator<T> {
  for await (const item of iterable) {
    yield item;
    return;
  }
}

test("closing the engine ends a pending watch with an error instead of keeping the process alive", async (t) => {
  const outlast = new Outlast({ store: sqliteStore({ path: ":memory:" }), logger: quietLogger });
  t.after(() => outlast.close({ graceMs: 0 }));
  outlast.define("later", { run: () => null });
  const task = await outlast.submit("later", null, { delayMs: 60_000 });
  const watching = collect(outlast.watch(task.id));
  await new Promise((resolve) => setTimeout(resolve, 50));
  await outlast.close();
  await assert.rejects(watching, (e: unknown) => e instanceof OutlastError && e.code === "unavailable");
});
