import assert from "node:assert/strict";
import { describe, test, type TestContext } from "node:test";
import { OutlastError, type Outlast, type Store } from "../../src/index.js";
import { postgresStore } from "../../src/store/postgres/index.js";
import { guardLeaks } from "../support/leaks.js";
import { collect, makeEngine, until } from "../support/engine.js";
import { PG_URL, testPool, testSchema } from "../support/pg.js";

guardLeaks();

/** Handlers that wait until the test lets them go; counts how many ran and ran at once. */
function gate() {
  const open: (() => void)[] = [];
  const state = {
    ran: new Set<string>(),
    running: 0,
    most: 0,
    run: async (input: { n: number }) => {
      state.ran.add(String(input.n));
      state.running++;
      state.most = Math.max(state.most, state.running);
      await new Promise<void>((resolve) => open.push(resolve));
      state.running--;
      return input.n;
    },
    /** Let every handler waiting now return. */
    release: () => open.splice(0).forEach((go) => go()),
  };
  return state;
}

const stores: [string, (t: TestContext) => Promise<Store | undefined>][] = [
  ["SQLite", async () => undefined],
  [
    "PostgreSQL",
    async (t) => {
      await testPool(t, 1);
      return postgresStore({ connectionString: PG_URL, schema: await testSchema(t) });
    },
  ],
];

for (const [label, storeFor] of stores) {
  describe(`prefetch on ${label}`, () => {
    const engine = async (t: TestContext): Promise<Outlast> => {
      const store = await storeFor(t);
      return makeEngine(t, store ? { store } : {});
    };

    test("tasks claimed ahead wait for a slot: never more handlers at once than perProcess, and every task ends", async (t) => {
      const outlast = await engine(t);
      outlast.queue("q", { concurrency: Infinity, perProcess: 2, prefetch: 3 });
      const g = gate();
      outlast.define("hold", { queue: "q", run: g.run });
      const ids = await Promise.all(Array.from({ length: 9 }, (_, n) => outlast.submit("hold", { n }).then((task) => task.id)));
      await outlast.start();
      await until(async () => (await outlast.list({ state: "running" })).tasks.length === 5, "2 running and 3 claimed ahead");
      assert.equal(g.running, 2);
      assert.equal((await outlast.list({ state: "queued" })).tasks.length, 4);
      await until(async () => {
        g.release();
        return (await Promise.all(ids.map((id) => outlast.get(id)))).every((task) => task?.state === "succeeded");
      }, "all nine to succeed");
      assert.equal(g.most, 2);
      assert.equal(g.ran.size, 9);
    });

    test("a task canceled while it waits for a slot ends canceled without its handler running", async (t) => {
      const outlast = await engine(t);
      outlast.queue("q", { concurrency: Infinity, perProcess: 1, prefetch: 2 });
      const g = gate();
      outlast.define("hold", { queue: "q", run: g.run });
      const first = await outlast.submit("hold", { n: 1 });
      const second = await outlast.submit("hold", { n: 2 });
      await outlast.start();
      await until(async () => (await outlast.get(second.id))?.state === "running", "the second to be claimed ahead");
      assert.deepEqual([...g.ran], ["1"]);
      await outlast.cancel(second.id);
      const events = await collect(outlast.watch(second.id));
      const last = events.at(-1);
      assert.equal(last?.type === "state" ? last.state : last?.type, "canceled");
      g.release();
      await until(async () => (await outlast.get(first.id))?.state === "succeeded", "the first to succeed");
      assert.deepEqual([...g.ran], ["1"]);
    });

    test("stopping hands tasks claimed ahead back to the queue, unrun and with no attempt spent", async (t) => {
      const outlast = await engine(t);
      outlast.queue("q", { concurrency: Infinity, perProcess: 1, prefetch: 2 });
      const g = gate();
      outlast.define("hold", { queue: "q", run: g.run });
      const tasks = await Promise.all([1, 2, 3].map((n) => outlast.submit("hold", { n })));
      await outlast.start();
      await until(async () => (await outlast.list({ state: "running" })).tasks.length === 3, "one running, two claimed ahead");
      const stopping = outlast.stop({ graceMs: 5_000 });
      await until(async () => (await outlast.list({ state: "queued" })).tasks.length === 2, "the two to be handed back");
      g.release();
      await stopping;
      const [ran, ...back] = await Promise.all(tasks.map((task) => outlast.get(task.id)));
      assert.equal(ran?.state, "succeeded");
      for (const task of back) {
        assert.equal(task?.state, "queued");
        assert.equal(task?.attempt, 0);
      }
      assert.deepEqual([...g.ran], ["1"]);
    });

    test("prefetch must be a whole number", async (t) => {
      const outlast = await engine(t);
      for (const prefetch of [-1, 1.5, Infinity]) {
        assert.throws(() => outlast.queue("q", { prefetch }), (e: unknown) => e instanceof OutlastError && e.code === "bad_request");
      }
      outlast.queue("q", { prefetch: 0 });
    });
  });
}
