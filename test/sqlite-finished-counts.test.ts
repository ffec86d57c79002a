import assert from "node:assert/strict";
import { test } from "node:test";
import Database from "better-sqlite3";
import { guardLeaks } from "./support/leaks.js";
import { tempDbPath } from "./support/temp.js";
import { sqliteStore } from "../src/store/sqlite/index.js";
import { migrate, openDatabase } from "../src/store/sqlite/connection.js";
import { FinishedCounts } from "../src/store/sqlite/finished-counts.js";
import { prepareStatements } from "../src/store/sqlite/statements.js";
import { WriteBatch } from "../src/store/sqlite/write-batch.js";
import { claim, QUEUE, submitRequest, T0 } from "../src/store/contract/support.js";

guardLeaks();

/** Finished tasks per state, from the rows and from state_counts, read straight from the file. */
function countsOnFile(path: string): { rows: Record<string, number>; kept: Record<string, number> } {
  const db = new Database(path, { readonly: true });
  try {
    const rows = db.prepare("SELECT state, count(*) AS n FROM tasks WHERE state IN ('succeeded', 'failed', 'canceled') GROUP BY state").all() as { state: string; n: number }[];
    const kept = db.prepare("SELECT state, sum(n) AS n FROM state_counts GROUP BY state HAVING sum(n) <> 0").all() as { state: string; n: number }[];
    const byState = (list: { state: string; n: number }[]) => Object.fromEntries(list.map((r) => [r.state, r.n]));
    return { rows: byState(rows), kept: byState(kept) };
  } finally {
    db.close();
  }
}

test("finishes in a batch retried write by write (a write in it threw) are each counted once", async (t) => {
  const path = tempDbPath(t);
  const store = sqliteStore({ path });
  t.after(() => store.close());
  for (let i = 0; i < 3; i++) await store.submit(submitRequest(), T0);
  const { tasks } = await claim(store, T0, { limit: 3 });
  assert.equal(tasks.length, 3);
  // One turn, one group commit: a submit whose input cannot be stored throws a TypeError (not a
  // refusal), so the batch is rolled back and run again with a savepoint around each write.
  const writes = [
    store.finish(tasks[0]!.lease, { state: "succeeded", result: null }, T0 + 1),
    store.submit(submitRequest({ input: { n: 1n } }), T0 + 1),
    store.finish(tasks[1]!.lease, { state: "failed", error: { message: "no" } }, T0 + 1),
    store.cancel(tasks[2]!.task.id, T0 + 1),
  ];
  const settled = await Promise.allSettled(writes);
  assert.deepEqual(
    settled.map((s) => s.status),
    ["fulfilled", "rejected", "fulfilled", "fulfilled"],
  );
  const counts = (await store.listQueues()).find((q) => q.name === QUEUE)?.counts;
  assert.deepEqual(counts && { succeeded: counts.succeeded, failed: counts.failed, canceled: counts.canceled }, { succeeded: 1, failed: 1, canceled: 0 });
  const { rows, kept } = countsOnFile(path);
  assert.deepEqual(kept, rows);
});

test("in a batch retried write by write, a write that counted a finish and then threw takes its count with it", (t) => {
  const path = tempDbPath(t);
  const db = openDatabase(path, "full", 1_000);
  t.after(() => db.close());
  migrate(db);
  const sql = prepareStatements(db);
  const counts = new FinishedCounts(sql.addStateCount);
  const batch = new WriteBatch(
    db,
    () => {},
    () => counts.clear(),
    () => counts.write(),
    () => counts.clear(),
    (ok) => (ok ? counts.write() : counts.clear()),
  );
  const finishOne = (fail: boolean) =>
    batch.write(() => {
      counts.add("q", "succeeded", 1);
      // A statement ran: only a rollback of the write undoes it.
      sql.ensureQueue.run("q", null, T0);
      if (fail) throw new TypeError("after its statements");
      return true;
    });
  const writes = [finishOne(false), finishOne(true), finishOne(false)];
  batch.flush();
  return Promise.allSettled(writes).then((settled) => {
    assert.deepEqual(
      settled.map((s) => s.status),
      ["fulfilled", "rejected", "fulfilled"],
    );
    assert.deepEqual(db.prepare("SELECT queue, state, n FROM state_counts").all(), [{ queue: "q", state: "succeeded", n: 2 }]);
  });
});
