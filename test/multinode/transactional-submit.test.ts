import { test } from "node:test";
import assert from "node:assert/strict";
import { Outlast } from "../../src/engine/outlast.js";
import { isOutlastError } from "../../src/core/errors.js";
import { postgresStore } from "../../src/store/postgres/index.js";
import { sqliteStore } from "../../src/store/sqlite/index.js";
import { guardLeaks } from "../support/leaks.js";
import { testPool, testSchema } from "../support/pg.js";
import { tempDbPath } from "../support/temp.js";
import { connectionString, until } from "./support.js";

guardLeaks();

const quiet = { info() {}, warn() {}, error: (obj: unknown, msg?: string) => console.error(msg, obj) };

async function engine(t: import("node:test").TestContext, schema: string): Promise<Outlast> {
  const outlast = new Outlast({ store: postgresStore({ connectionString: connectionString(), schema }), logger: quiet });
  t.after(() => outlast.close({ graceMs: 0 }));
  outlast.define("mn.tx", { run: (input: { n: number }) => ({ doubled: input.n * 2 }) });
  return outlast;
}

test("submit inside the app's transaction on PostgreSQL: ROLLBACK leaves no task, COMMIT makes one that runs", async (t) => {
  const schema = await testSchema(t);
  const pool = await testPool(t, 2);
  const outlast = await engine(t, schema);
  await outlast.start();
  const client = await pool.connect();
  t.after(() => client.release());
  await client.query(`CREATE TABLE "${schema}".orders (id int PRIMARY KEY)`);

  await client.query("BEGIN");
  await client.query(`INSERT INTO "${schema}".orders VALUES (1)`);
  const rolledBack = await outlast.submit("mn.tx", { n: 1 }, { transaction: client, idempotencyKey: "order-1" });
  assert.equal(rolledBack.state, "queued");
  // Uncommitted: no other connection (the engine's own pool) sees it.
  assert.equal(await outlast.get(rolledBack.id), null);
  await client.query("ROLLBACK");
  assert.equal(await outlast.get(rolledBack.id), null);
  const none = await pool.query(`SELECT (SELECT count(*) FROM "${schema}".tasks)::int AS tasks, (SELECT count(*) FROM "${schema}".task_events)::int AS events`);
  assert.deepEqual(none.rows[0], { tasks: 0, events: 0 });

  await client.query("BEGIN");
  await client.query(`INSERT INTO "${schema}".orders VALUES (2)`);
  const committed = await outlast.submit("mn.tx", { n: 21 }, { transaction: client, idempotencyKey: "order-2" });
  assert.notEqual(committed.id, rolledBack.id);
  assert.equal(await outlast.get(committed.id), null, "invisible until COMMIT");
  await client.query("COMMIT");
  const stored = await outlast.get(committed.id);
  assert.ok(stored, "the task exists after COMMIT");

  // The started worker hears of it at COMMIT and runs it.
  const done = await until(async () => {
    const task = await outlast.get(committed.id);
    return task && ["succeeded", "failed", "canceled"].includes(task.state) ? task : undefined;
  }, "the committed task to finish");
  assert.equal(done.state, "succeeded");
  assert.deepEqual(done.result, { doubled: 42 });
  const orders = await pool.query(`SELECT id FROM "${schema}".orders ORDER BY id`);
  assert.deepEqual(
    orders.rows.map((r: { id: number }) => r.id),
    [2],
  );

  // The key of the rolled-back submit was never taken: a plain submit with it makes a new task.
  const again = await outlast.submitWithOutcome("mn.tx", { n: 3 }, { idempotencyKey: "order-1" });
  assert.equal(again.outcome, "created");
});

test("a watcher of every task hears of a transactional submit at COMMIT, never of one rolled back", async (t) => {
  const schema = await testSchema(t);
  const pool = await testPool(t, 2);
  const outlast = await engine(t, schema);
  const queued: string[] = [];
  const off = outlast.on("queued", (event) => queued.push(event.taskId));
  t.after(off);
  // A plain submit first: once its event arrives, the feed is listening.
  const marker = await outlast.submit("mn.tx", { n: 0 });
  await until(() => queued.includes(marker.id), "the marker's queued event");

  const client = await pool.connect();
  t.after(() => client.release());
  await client.query("BEGIN");
  const gone = await outlast.submit("mn.tx", { n: 1 }, { transaction: client });
  await client.query("ROLLBACK");
  await client.query("BEGIN");
  const kept = await outlast.submit("mn.tx", { n: 2 }, { transaction: client });
  await client.query("COMMIT");
  await until(() => queued.includes(kept.id), "the committed task's queued event");
  // Published in commit order: the rolled-back task's event would have come before this one.
  assert.ok(!queued.includes(gone.id), "nothing is heard of the rolled-back task");
});

test("on SQLite, submit with a transaction is refused with bad_request", async (t) => {
  const outlast = new Outlast({ store: sqliteStore({ path: tempDbPath(t) }), logger: quiet });
  t.after(() => outlast.close({ graceMs: 0 }));
  outlast.define("mn.tx", { run: () => null });
  await assert.rejects(
    outlast.submit("mn.tx", {}, { transaction: {} }),
    (error: unknown) => isOutlastError(error) && error.code === "bad_request" && /PostgreSQL/.test(error.message),
  );
  assert.deepEqual((await outlast.list()).tasks, []);
});
