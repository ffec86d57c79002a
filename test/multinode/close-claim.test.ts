import { test } from "node:test";
import assert from "node:assert/strict";
import { Outlast } from "../../src/engine/outlast.js";
import { postgresStore } from "../../src/store/postgres/index.js";
import { guardLeaks } from "../support/leaks.js";
import { testPool, testSchema } from "../support/pg.js";
import { connectionString, until } from "./support.js";

guardLeaks();

const ROUNDS = 8;

// A claim already on its way to the store when the engine closes may bring
// a task back: stop() must hand it back before the store closes, or the task
// stays `running` under a process that is gone until its lease expires.
test(
  "a task claimed while the engine closes is handed back: queued, no worker, attempt not spent",
  async (t) => {
    const schema = await testSchema(t);
    const admin = await testPool(t, 1);
    const stranded: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const outlast = new Outlast({ store: postgresStore({ connectionString: connectionString(), schema }), logger: { info() {}, warn() {}, error() {} } });
      t.after(() => outlast.close({ graceMs: 0 })); // a no-op unless an assertion below threw first
      outlast.define("mn.close", { run: () => "ran" });
      await outlast.start();
      // A first task warms the worker up, so the next submit's wake-up claims at once.
      const first = await outlast.submit("mn.close", null);
      await until(async () => (await outlast.get(first.id))?.state === "succeeded", "the first task to run");
      const task = await outlast.submit("mn.close", null);
      if (round % 2 === 1) await new Promise((resolve) => setImmediate(resolve));
      await outlast.close({ graceMs: 0 });
      const row = (
        await admin.query<{ state: string; worker_id: string | null; attempt: number }>(`SELECT state, worker_id, attempt FROM "${schema}".tasks WHERE id = $1`, [
          task.id,
        ])
      ).rows[0]!;
      // Either it ran before the close, or it is waiting for the next worker, untouched.
      if (!(row.state === "succeeded" || (row.state === "queued" && row.worker_id === null && row.attempt === 0))) {
        stranded.push(`round ${round}: ${JSON.stringify(row)}`);
      }
    }
    assert.deepEqual(stranded, [], "tasks left running under a closed engine");
  },
);
