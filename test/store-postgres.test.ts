import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, test, type TestContext } from "node:test";
import pg from "pg";
import { isOutlastError } from "../src/core/errors.js";
import type { StoredEvent } from "../src/core/events.js";
import { storeContract } from "../src/store/contract/store-contract.js";
import { claim, claimOne, eventually, QUEUE, submitNew, submitRequest, subscriptionsLive, T0 } from "../src/store/contract/support.js";
import { postgresStore, type PostgresStore } from "../src/store/postgres/index.js";
import type { Store } from "../src/store/store.js";
import { guardLeaks } from "./support/leaks.js";
import { PG_URL, testPool, testSchema } from "./support/pg.js";

guardLeaks();

/** `count` stores on one fresh schema, each with its own pool as separate processes would have. */
async function open(t: TestContext, count: number): Promise<Store[]> {
  const schema = await testSchema(t);
  const stores: Store[] = [];
  // Registered after the schema's cleanup, so the stores close before the schema is dropped.
  t.after(async () => {
    for (const store of stores) await store.close();
  });
  for (let i = 0; i < count; i++) {
    const store = postgresStore({ connectionString: PG_URL, schema, maxConnections: 4, pollIntervalMs: 200 });
    stores.push(store);
    await store.init();
  }
  return stores;
}

storeContract("postgres", {
  async make(t) {
    const [store] = await open(t, 1);
    return store!;
  },
  async makePair(t) {
    const [a, b] = await open(t, 2);
    return [a!, b!];
  },
});

/** How long the tests below wait for delivery: generous, since a busy machine is slow but must not be wrong. */
const SLOW_MS = 20_000;

/**
 * A pool whose connections throw a plain Error (not a database error) when
 * asked to run the `nth` statement matching `pattern`: a write that fails
 * half-way for a reason of its own.
 */
function faultyPool(pool: pg.Pool, pattern: RegExp, nth: number): pg.Pool {
  let seen = 0;
  const wrap = (client: pg.PoolClient): pg.PoolClient =>
    new Proxy(client, {
      get(target, key, receiver) {
        if (key !== "query") return Reflect.get(target, key, receiver) as unknown;
        return (config: string | { text: string }, ...rest: unknown[]) => {
          const text = typeof config === "string" ? config : config.text;
          if (pattern.test(text) && ++seen === nth) throw new Error("injected: the write broke half-way");
          return (target.query as (...args: unknown[]) => unknown)(config, ...rest);
        };
      },
    });
  return new Proxy(pool, {
    get(target, key, receiver) {
      if (key === "connect") return async () => wrap(await target.connect());
      return Reflect.get(target, key, receiver) as unknown;
    },
  });
}

describe("postgres store", () => {
  test("a write that throws a non-database error half-way is rolled back whole, like on SQLite", async (t) => {
    const [setup] = (await open(t, 1)) as [PostgresStore];
    const tasks = [await submitNew(setup, T0), await submitNew(setup, T0)];
    const claimed = await claim(setup, T0, { limit: 2, leaseMs: 1_000 });
    assert.equal(claimed.tasks.length, 2);
    // A second store on the same schema, whose second lease-expiry UPDATE throws.
    const pool = await testPool(t, 4);
    const store = postgresStore({ pool: faultyPool(pool, /SET state = 'queued', run_at = \$2/, 2), schema: setup.schema });
    t.after(() => store.close());
    await store.init();
    await assert.rejects(store.recoverExpired(T0 + 60_000, "expired"), /injected/);
    for (const task of tasks) {
      assert.equal((await setup.getTask(task.id))?.state, "running", "neither task was moved: the first one's half of the write was rolled back");
    }
    // Without the fault the same write goes through.
    assert.equal(await setup.recoverExpired(T0 + 60_000, "expired"), 2);
  });

  test("a submit inside the application's transaction exists only if that transaction commits", async (t) => {
    const [store] = (await open(t, 1)) as [PostgresStore];
    const feed = record(store);
    t.after(feed.unsubscribe);
    await subscriptionsLive(store);
    const pool = await testPool(t, 1);
    const client = await pool.connect();
    t.after(() => client.release());

    await client.query("BEGIN");
    const rolledBack = await store.submitInTransaction(client, submitRequest(), T0);
    assert.equal(rolledBack.kind, "created");
    assert.equal(await store.getTask(rolledBack.task.id), null, "invisible before commit");
    await client.query("ROLLBACK");
    assert.equal(await store.getTask(rolledBack.task.id), null);

    await client.query("BEGIN");
    const committed = await store.submitInTransaction(client, submitRequest(), T0);
    await client.query("COMMIT");
    assert.equal((await store.getTask(committed.task.id))?.state, "queued");
    await eventually(() => feed.events.some((e) => e.taskId === committed.task.id), "the committed submit is announced", SLOW_MS);
    await eventually(() => feed.wakes.length > 0, "workers are woken", SLOW_MS);
    assert.deepEqual(
      feed.events.filter((e) => e.taskId === rolledBack.task.id),
      [],
    );
    assert.equal((await claim(store, T0, { limit: 10 })).tasks.length, 1);
    assert.equal(store.capabilities.transactionalSubmit, true);
  });

  test("a killed LISTEN connection comes back and the subscriber gets what it missed and what follows", async (t) => {
    const schema = await testSchema(t);
    const admin = await testPool(t, 1);
    const app = `outlast_${randomUUID().slice(0, 8)}`;
    const pool = new pg.Pool({ connectionString: PG_URL, max: 4, application_name: app });
    t.after(() => pool.end());
    const listening = postgresStore({ pool, schema, pollIntervalMs: 100 });
    const writer = postgresStore({ connectionString: PG_URL, schema, maxConnections: 2 });
    t.after(() => writer.close());
    t.after(() => listening.close());
    await listening.init();
    await writer.init();
    const feed = record(listening);
    t.after(feed.unsubscribe);
    // The writer is another process: what it commits before the listener listens is not news to it.
    await subscriptionsLive(listening);
    const before = await submitNew(writer, T0);
    await eventually(() => feed.events.some((e) => e.taskId === before.id), "delivered while connected", SLOW_MS);

    const backends = async () =>
      (await admin.query<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE application_name = $1", [app])).rows.map((r) => r.pid);
    const killed = await backends();
    assert.ok(killed.length > 0);
    await admin.query("SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid", [killed]);
    await eventually(async () => (await backends()).every((pid) => !killed.includes(pid)), "the backends are gone", SLOW_MS);

    // Written while the listener may be down: found by the catch-up.
    const missed = await Promise.all(Array.from({ length: 5 }, (_, i) => submitNew(writer, T0 + 1 + i)));
    const { task, lease } = await claimOne(writer, T0 + 10);
    await writer.finish(lease, { state: "succeeded", result: "done" }, T0 + 11);
    await eventually(
      () => missed.every((m) => feed.events.some((e) => e.taskId === m.id)) && feed.events.some((e) => e.taskId === task.id && e.seq === 3),
      "missed events arrive after reconnecting",
      SLOW_MS,
    );
    await eventually(async () => (await backends()).length > 0, "the listener reconnected", SLOW_MS);

    // And later events flow again, through the same store's pool too.
    const after = await submitNew(listening, T0 + 20);
    await eventually(() => feed.events.some((e) => e.taskId === after.id), "later events arrive", SLOW_MS);
    const seen = new Map<string, number[]>();
    for (const e of feed.events) seen.set(e.taskId, [...(seen.get(e.taskId) ?? []), e.seq]);
    for (const [id, list] of seen) assert.deepEqual(list, [...new Set(list)].sort((x, y) => x - y), `task ${id}: once each, in order`);
    assert.deepEqual(seen.get(task.id), [1, 2, 3]);
  });

  test("a write stuck on a lock holds back this process's later events only briefly, and its own arrive in order once it ends", async (t) => {
    const schema = await testSchema(t);
    const admin = await testPool(t, 1);
    const store = postgresStore({ connectionString: PG_URL, schema, maxConnections: 4, pollIntervalMs: 200 });
    t.after(() => store.close());
    await store.init();
    const feed = record(store);
    t.after(feed.unsubscribe);
    const stuck = await submitNew(store, T0);
    await eventually(() => feed.events.some((e) => e.taskId === stuck.id), "the first submit delivered", SLOW_MS);

    // Another connection holds the task's row: cancelling it waits for the lock.
    const blocker = await admin.connect();
    await blocker.query("BEGIN");
    await blocker.query(`SELECT 1 FROM "${schema}".tasks WHERE id = $1 FOR UPDATE`, [stuck.id]);
    let released = false;
    t.after(async () => {
      if (!released) await blocker.query("ROLLBACK").catch(() => {});
      blocker.release();
    });
    const canceling = store.cancel(stuck.id, T0 + 1);
    await new Promise((resolve) => setTimeout(resolve, 50));

    // A submit after it commits at once; its event must not wait for the stuck cancel.
    const later = await submitNew(store, T0 + 2);
    await eventually(() => feed.events.some((e) => e.taskId === later.id), "the later submit's event, while the cancel hangs", SLOW_MS);
    assert.ok(!feed.events.some((e) => e.taskId === stuck.id && e.seq === 2), "the stuck cancel has not happened yet");

    await blocker.query("ROLLBACK");
    released = true;
    assert.equal((await canceling).kind, "canceled");
    await eventually(() => feed.events.some((e) => e.taskId === stuck.id && e.seq === 2), "the cancel's event once it ends", SLOW_MS);
    assert.deepEqual(
      feed.events.filter((e) => e.taskId === stuck.id).map((e) => e.seq),
      [1, 2],
    );
  });

  test("terminated connections neither crash nor hang: writes succeed or say unavailable, then work again", async (t) => {
    const schema = await testSchema(t);
    const admin = await testPool(t, 1);
    const app = `outlast_${randomUUID().slice(0, 8)}`;
    const pool = new pg.Pool({ connectionString: PG_URL, max: 4, application_name: app });
    t.after(() => pool.end());
    const store = postgresStore({ pool, schema });
    t.after(() => store.close());
    await store.init();
    const unsubscribe = store.subscribe({ wake: () => {} });
    t.after(unsubscribe);
    await Promise.all(Array.from({ length: 20 }, (_, i) => submitNew(store, T0 + i)));
    const kill = () =>
      admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()", [app]);
    await kill();
    const outcomes = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) => (i % 2 ? store.submit(submitRequest(), T0) : claim(store, T0 + 100, { limit: 1 }))),
    );
    for (const outcome of outcomes) {
      if (outcome.status === "rejected") assert.ok(isOutlastError(outcome.reason, "unavailable"), String(outcome.reason));
    }
    await kill();
    await eventually(async () => {
      try {
        return (await store.submit(submitRequest(), T0)).kind === "created";
      } catch (error) {
        assert.ok(isOutlastError(error, "unavailable"), String(error));
        return false;
      }
    }, "writes work again", SLOW_MS);
    assert.ok((await store.listQueues()).length > 0);
  });

  test("two nodes migrating the same schema at once both succeed, once", async (t) => {
    const schema = await testSchema(t);
    const stores = Array.from({ length: 3 }, () => postgresStore({ connectionString: PG_URL, schema, maxConnections: 2 }));
    t.after(async () => {
      for (const store of stores) await store.close();
    });
    const infos = await Promise.all(stores.map((store) => store.init()));
    assert.equal(new Set(infos.map((info) => info.databaseId)).size, 1);
    assert.ok(infos.every((info) => info.schemaVersion === infos[0]!.schemaVersion && info.schemaVersion >= 1));
    const task = await submitNew(stores[0]!, T0);
    assert.equal((await stores[2]!.getTask(task.id))?.id, task.id);
  });

  test("a schema newer than the code is refused with store_version", async (t) => {
    const schema = await testSchema(t);
    const admin = await testPool(t, 1);
    const first = postgresStore({ connectionString: PG_URL, schema, maxConnections: 1 });
    t.after(() => first.close());
    await first.init();
    await admin.query(`UPDATE "${schema}".outlast_meta SET value = '999' WHERE key = 'schema_version'`);
    const second = postgresStore({ connectionString: PG_URL, schema, maxConnections: 1 });
    t.after(() => second.close());
    await assert.rejects(second.init(), (error: unknown) => isOutlastError(error, "store_version") && /999/.test((error as Error).message));
  });

  test("a pool the application lends is left open by close()", async (t) => {
    const schema = await testSchema(t);
    const pool = await testPool(t, 2);
    const store = postgresStore({ pool, schema });
    await store.init();
    const unsubscribe = store.subscribe({ wake: () => {} });
    await submitNew(store, T0);
    unsubscribe();
    await store.close();
    assert.equal((await pool.query("SELECT 1 AS one")).rows[0].one, 1);
    await assert.rejects(store.submit(submitRequest(), T0), (error: unknown) => isOutlastError(error, "unavailable"));
  });

  test("finished counts stay exact while their deltas are folded, by reads and retention at once", async (t) => {
    const [a, b] = await open(t, 2);
    const schema = (a as PostgresStore).schema;
    const admin = await testPool(t, 1);
    const finishOne = async (store: Store, outcome: "succeeded" | "failed") => {
      await submitNew(store, T0, { maxAttempts: 1 });
      const claimed = await claimOne(store, T0);
      await store.finish(claimed.lease, outcome === "succeeded" ? { state: "succeeded", result: null } : { state: "failed", error: { message: "x" } }, T0 + 1);
    };
    // Each finish its own statement: one delta row each, past the point where a read folds them.
    for (let i = 0; i < 40; i++) await finishOne(i % 2 ? a! : b!, i % 4 === 0 ? "failed" : "succeeded");
    const deltas = async () => Number((await admin.query(`SELECT count(*) AS n FROM "${schema}".state_counts`)).rows[0].n);
    assert.ok((await deltas()) > 2, "one delta per finishing statement");
    // Folds from both nodes' reads and a purge, while tasks keep finishing.
    await Promise.all([
      a!.listQueues(),
      b!.listQueues(),
      a!.purgeFinished({ succeeded: T0 - 1 }, 10),
      ...Array.from({ length: 10 }, (_, i) => finishOne(i % 2 ? a! : b!, "succeeded")),
      (async () => {
        await admin.query(`WITH d AS (DELETE FROM "${schema}".state_counts RETURNING queue, state, n)
          INSERT INTO "${schema}".state_counts SELECT queue, state, sum(n) FROM d GROUP BY queue, state`);
      })(),
    ]);
    const counts = (await b!.listQueues()).find((q) => q.name === QUEUE)?.counts;
    assert.equal(counts?.succeeded, 40);
    assert.equal(counts?.failed, 10);
    const rows = await admin.query(`SELECT state, count(*)::int AS n FROM "${schema}".tasks GROUP BY state ORDER BY state`);
    assert.deepEqual(rows.rows, [{ state: "failed", n: 10 }, { state: "succeeded", n: 40 }]);
    // A purge removes tasks and their counts with them; a fold leaves one row per queue and state.
    assert.equal(await a!.purgeFinished({ succeeded: T0 + 10 }, 100), 40);
    assert.equal((await a!.listQueues()).find((q) => q.name === QUEUE)?.counts.succeeded, 0);
    assert.ok((await deltas()) <= 2, "folded: one row per queue and state left");
  });

  test("a no-op task writes no event row; a retried one writes out each event its row stops saying, and both read back whole", async (t) => {
    const schema = await testSchema(t);
    const admin = await testPool(t, 1);
    const store = postgresStore({ connectionString: PG_URL, schema, maxConnections: 2 });
    t.after(() => store.close());
    await store.init();
    const eventRows = async (id: string) =>
      (await admin.query<{ seq: number }>(`SELECT seq FROM "${schema}".task_events WHERE task_id = $1 ORDER BY seq`, [id])).rows.map((r) => r.seq);
    const plain = await submitNew(store, T0);
    const first = await claimOne(store, T0 + 1);
    assert.equal(await store.finish(first.lease, { state: "succeeded", result: { ok: "it's done" } }, T0 + 2), true);
    assert.deepEqual(await eventRows(plain.id), []);
    const events = await store.readEvents(plain.id, 0, 100);
    assert.deepEqual(
      events.map((e) => [e.seq, e.attempt, e.at, e.data]),
      [
        [1, 0, T0, { type: "state", state: "queued" }],
        [2, 1, T0 + 1, { type: "state", state: "running" }],
        [3, 1, T0 + 2, { type: "state", state: "succeeded", result: { ok: "it's done" } }],
      ],
    );
    assert.deepEqual((await store.readEvents(plain.id, 1, 1)).map((e) => e.seq), [2], "paged like rows");

    const retried = await submitNew(store, T0 + 3);
    let run = await claimOne(store, T0 + 4);
    assert.equal(await store.finish(run.lease, { state: "retry", error: { message: "again" }, runAt: T0 + 5 }, T0 + 5), true);
    assert.deepEqual(await eventRows(retried.id), [3], "only the retry's own event so far");
    run = await claimOne(store, T0 + 6);
    assert.deepEqual(await eventRows(retried.id), [2, 3, 4], "the next claim wrote out the first running event, and its own");
    assert.equal(await store.finish(run.lease, { state: "failed", error: { message: "no" } }, T0 + 7), true);
    assert.equal((await store.retry(retried.id, T0 + 8)).kind, "retried");
    run = await claimOne(store, T0 + 9);
    assert.equal(await store.finish(run.lease, { state: "succeeded", result: null }, T0 + 10), true);
    assert.deepEqual(await eventRows(retried.id), [2, 3, 4, 5, 6, 7], "the row says the first queued and the success");
    assert.deepEqual(
      (await store.readEvents(retried.id, 0, 100)).map((e) => [e.seq, e.attempt, e.data.type === "state" ? e.data.state : e.data.type]),
      [[1, 0, "queued"], [2, 1, "running"], [3, 1, "queued"], [4, 2, "running"], [5, 2, "failed"], [6, 2, "queued"], [7, 3, "running"], [8, 3, "succeeded"]],
    );
  });

  test("a bad schema name is refused with a clear error", () => {
    assert.throws(() => postgresStore({ connectionString: PG_URL, schema: "Robert'); DROP TABLE x;--" }), (error: unknown) =>
      isOutlastError(error, "bad_request"),
    );
  });
});

/** A listener that keeps what it is given. */
function record(store: Store) {
  const events: StoredEvent[] = [];
  const wakes: (ReadonlySet<string> | null)[] = [];
  const unsubscribe = store.subscribe({ events: (batch) => void events.push(...batch), wake: (queues) => void wakes.push(queues) });
  return { events, wakes, unsubscribe };
}
