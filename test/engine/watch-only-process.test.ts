import assert from "node:assert/strict";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { Outlast, type Store } from "../../src/index.js";
import { sqliteStore } from "../../src/store/sqlite/index.js";
import { postgresStore } from "../../src/store/postgres/index.js";
import { slowEcho } from "../fixtures/slow-echo.js";
import { spawnFixture } from "../support/child.js";
import { quietLogger } from "../support/engine.js";
import { guardLeaks } from "../support/leaks.js";
import { PG_URL, testSchema } from "../support/pg.js";
import { tempDir } from "../support/temp.js";

guardLeaks();

async function watcherOutlivesItsWait(t: TestContext, env: Record<string, string>, store: () => Store): Promise<void> {
  const watcher = spawnFixture(t, "watch-only.ts", env);
  await watcher.waitFor("queued");
  // Nothing runs the task yet; a process whose only work is a pending watch() used to exit here (code 13).
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  assert.equal(watcher.process.exitCode, null, "the watching process exited while its task was still queued");

  const worker = new Outlast({ store: store(), pollIntervalMs: 50, logger: quietLogger });
  worker.implement(slowEcho, async ({ ms }) => new Promise((resolve) => setTimeout(() => resolve(ms), ms)));
  t.after(() => worker.close());
  await worker.start();
  assert.equal(await watcher.exited, 0);
  assert.deepEqual(watcher.lines.slice(1), ["queued", "running", "succeeded"]);
}

test("SQLite: a process that only submits and watches stays alive until the task ends", async (t) => {
  const db = join(tempDir(t), "outlast.db");
  await watcherOutlivesItsWait(t, { STORE: "sqlite", DB: db }, () => sqliteStore({ path: db }));
});

test("PostgreSQL: a process that only submits and watches stays alive until the task ends", async (t) => {
  const schema = await testSchema(t);
  await watcherOutlivesItsWait(t, { STORE: "postgres", DB: PG_URL, SCHEMA: schema }, () => postgresStore({ connectionString: PG_URL, schema }));
});
