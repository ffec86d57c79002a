import assert from "node:assert/strict";
import { test } from "node:test";
import { z } from "zod";
import { declareTask, InvalidInputError, Outlast, OutlastError } from "../../src/index.js";
import { sqliteStore } from "../../src/store/sqlite/index.js";
import { collect, quietLogger } from "../support/engine.js";
import { guardLeaks } from "../support/leaks.js";
import { tempDbPath } from "../support/temp.js";

guardLeaks();

const resize = declareTask("images.resize", { queue: "images", input: z.object({ width: z.number().int().positive() }), maxAttempts: 5, priority: 3 }).returns<{ width: number }>();

function engine(t: import("node:test").TestContext, path: string): Outlast {
  const outlast = new Outlast({ store: sqliteStore({ path }), pollIntervalMs: 20, logger: quietLogger });
  t.after(() => outlast.close({ graceMs: 0 }));
  return outlast;
}

test("a process that only declares a task validates and stores submits with the declared defaults, and never runs it", async (t) => {
  const path = tempDbPath(t);
  const web = engine(t, path);
  web.declare(resize, resize); // the same declaration twice is harmless
  web.define("other", { queue: "images", run: () => "ran" }); // an implemented task on the same queue
  await web.start();
  await assert.rejects(web.submit(resize, { width: -1 }), InvalidInputError);
  await assert.rejects(web.submit("images.resize", { height: 1 }), InvalidInputError);
  const task = await web.submit(resize, { width: 320 });
  assert.equal(task.queue, "images");
  assert.equal(task.maxAttempts, 5);
  assert.equal(task.priority, 3);
  const other = await web.submit("other", null);
  const done = await collect(web.watch(other.id));
  assert.equal(done.at(-1)?.type, "state");
  // Its worker ran "other" on the same queue but did not claim the declared task.
  assert.equal((await web.get(task.id))?.state, "queued");

  const worker = engine(t, path);
  worker.implement(resize, async ({ width }, ctx) => {
    const stored = await ctx.step("when", () => new Date(0));
    assert.equal(stored, "1970-01-01T00:00:00.000Z", "a step gives back what it stored");
    return { width };
  });
  await worker.start();
  const events = await collect(web.watch(task.id));
  const final = events.at(-1);
  assert.ok(final?.type === "state" && final.state === "succeeded");
  assert.deepEqual((await web.get(task.id))?.result, { width: 320 });
});

test("declare, implement and define refuse what would be ambiguous, with codes", async (t) => {
  const outlast = engine(t, ":memory:");
  outlast.declare(resize);
  const twin = declareTask("images.resize", { queue: "other" });
  assert.throws(() => outlast.declare(twin), (e: unknown) => e instanceof OutlastError && e.code === "conflict");
  assert.throws(() => outlast.define("images.resize", { run: () => null }), (e: unknown) => e instanceof OutlastError && e.code === "conflict");
  assert.throws(() => outlast.declare({ name: "x" } as never), (e: unknown) => e instanceof OutlastError && e.code === "bad_request");
  assert.throws(() => declareTask("with-run", { run: () => null } as never), (e: unknown) => e instanceof OutlastError && e.code === "bad_request");
  const handle = outlast.implement(resize, async ({ width }) => ({ width }));
  assert.equal(handle.queue, "images");
  assert.throws(() => outlast.implement(resize, async ({ width }) => ({ width })), (e: unknown) => e instanceof OutlastError && e.code === "conflict");
  // define() takes a declaration too; submit() declares one it has not seen.
  const later = declareTask<{ n: number }>("later");
  outlast.define(later, { run: ({ n }) => n * 2 });
  const fresh = declareTask<{ n: number }>("fresh", { queue: "q2" });
  const task = await outlast.submit(fresh, { n: 1 });
  assert.equal(task.queue, "q2");
  assert.deepEqual(outlast.taskNames.sort(), ["fresh", "images.resize", "later"]);
});

test("a declaration made again (a module evaluated twice) is the same task; submit with it after define() by name works", async (t) => {
  const outlast = engine(t, ":memory:");
  const first = declareTask("hot", { queue: "q", maxAttempts: 2 });
  const again = declareTask("hot", { queue: "q", maxAttempts: 4 }); // the module, evaluated again by a dev server
  outlast.declare(first);
  outlast.declare(again);
  outlast.implement(again, () => "ran");
  const task = await outlast.submit(first, null);
  assert.equal(task.maxAttempts, 4, "the newer spec applies");
  outlast.define("plain", { run: () => "ok" });
  const byName = declareTask("plain");
  assert.equal((await outlast.submit(byName, null)).name, "plain");
  assert.throws(() => outlast.implement(again, () => "twice"), (e: unknown) => e instanceof OutlastError && e.code === "conflict");
});
