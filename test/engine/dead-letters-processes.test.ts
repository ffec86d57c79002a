import assert from "node:assert/strict";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { Outlast } from "../../src/index.js";
import { sqliteStore } from "../../src/store/sqlite/index.js";
import { spawnFixture } from "../support/child.js";
import { quietLogger, until } from "../support/engine.js";
import { guardLeaks } from "../support/leaks.js";
import { tempDir } from "../support/temp.js";

guardLeaks();

/** A submitting engine in the test process (no workers), on a fresh file it migrated before any child starts. */
async function client(t: TestContext): Promise<{ db: string; outlast: Outlast }> {
  const db = join(tempDir(t), "outlast.db");
  const outlast = new Outlast({ store: sqliteStore({ path: db }), logger: quietLogger });
  // The same specs as the workers': a task's limits come from the definition of the process that submits it.
  outlast.define("pp.crash", { queue: "pp", maxAttempts: 10, maxLeaseExpiries: 3, run: () => null });
  outlast.define("pp.ok", { queue: "pp", run: () => null });
  outlast.define("pp.fail", { queue: "pp", maxAttempts: 1, run: () => null });
  outlast.define("pp.notify", { run: () => null });
  t.after(() => outlast.close());
  await outlast.get("warm-up");
  return { db, outlast };
}

test("a handler that kills its worker is quarantined as a poison pill after maxLeaseExpiries deaths, while a task beside it succeeds", async (t) => {
  const { db, outlast } = await client(t);
  let worker = spawnFixture(t, "dead-letter-worker.ts", { DB: db });
  await worker.waitFor("ready");
  const crash = await outlast.submit("pp.crash", {});
  const ok = await outlast.submit("pp.ok", {});
  let deaths = 0;
  // Restart a worker after each death, as a supervisor would, until the task is quarantined.
  for (;;) {
    const ended = await Promise.race([worker.exited.then(() => "died" as const), until(async () => (await outlast.get(crash.id))?.state === "failed", "quarantine", 20_000).then(() => "quarantined" as const)]);
    if (ended === "quarantined") break;
    deaths++;
    assert.ok(deaths <= 3, "quarantined after 3 deaths, not more");
    worker = spawnFixture(t, "dead-letter-worker.ts", { DB: db });
    await worker.waitFor("ready");
  }
  assert.equal(deaths, 3);
  const dead = await outlast.get(crash.id);
  assert.equal(dead?.deadLetter, true);
  assert.equal(dead?.error?.code, "poison_pill");
  assert.match(dead?.error?.message ?? "", /lost 3 times in a row/);
  assert.ok(dead!.attempt < dead!.maxAttempts, "it had attempts left");
  await until(async () => (await outlast.get(ok.id))?.state === "succeeded", "the normal task to succeed");
  // The fleet is healthy: the live worker still runs new work.
  const after = await outlast.submit("pp.ok", {});
  await until(async () => (await outlast.get(after.id))?.state === "succeeded", "new work after the quarantine");
  assert.equal((await outlast.get(after.id))?.result, worker.process.pid);
  worker.process.kill("SIGTERM");
  await worker.exited;
});

test("two processes hear every dead letter; the queue's handler task is submitted once per dead letter", async (t) => {
  const { db, outlast } = await client(t);
  const a = spawnFixture(t, "dead-letter-worker.ts", { DB: db });
  const b = spawnFixture(t, "dead-letter-worker.ts", { DB: db });
  await Promise.all([a.waitFor("ready"), b.waitFor("ready")]);
  const failing = await Promise.all(Array.from({ length: 6 }, () => outlast.submit("pp.fail", {})));
  await until(async () => (await outlast.deadLetters()).tasks.length === 6, "six dead letters");
  await until(async () => (await outlast.list({ name: "pp.notify", state: "succeeded" })).tasks.length >= 6, "a handler per dead letter");
  // Give the slower listener time to hear them all too.
  await new Promise((resolve) => setTimeout(resolve, 500));
  const notes = (await outlast.listRecords({ name: "pp.notify", limit: 100 })).tasks;
  assert.equal(notes.length, 6, "exactly one handler task per dead letter");
  assert.deepEqual(notes.map((note) => (note.input as { taskId: string }).taskId).sort(), failing.map((task) => task.id).sort());
  // A redriven dead letter that dies again is a new dead letter: one more handler task.
  assert.equal(await outlast.redrive([failing[0]!.id]), 1);
  await until(async () => (await outlast.get(failing[0]!.id))?.state === "failed", "the redriven task to fail again");
  await until(async () => (await outlast.listRecords({ name: "pp.notify", limit: 100 })).tasks.length === 7, `a handler for the second death ${JSON.stringify(await outlast.get(failing[0]!.id))}`);
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal((await outlast.listRecords({ name: "pp.notify", limit: 100 })).tasks.length, 7);
  a.process.kill("SIGTERM");
  b.process.kill("SIGTERM");
  await Promise.all([a.exited, b.exited]);
});
