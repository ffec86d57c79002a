// Mistakes in setting Outlast up are told at once, with a code and what to
// do, not as a TypeError from deep inside or a silent misconfiguration.
import assert from "node:assert/strict";
import { test } from "node:test";
import { declareTask, Outlast, OutlastError } from "../../src/index.js";
import { OutlastClient } from "../../src/client/index.js";
import { createHandler, serve } from "../../src/server/index.js";
import { sqliteStore } from "../../src/store/sqlite/index.js";
import { quietLogger } from "../support/engine.js";
import { guardLeaks } from "../support/leaks.js";

guardLeaks();

const badRequest = (pattern: RegExp) => (error: unknown) => error instanceof OutlastError && error.code === "bad_request" && pattern.test(error.message);

test("an engine without a store, or with something else as its store, says what a store is", () => {
  for (const options of [undefined, {}, { store: "./x.db" }, { store: {} }]) {
    assert.throws(() => new Outlast(options as never), badRequest(/needs a store: sqliteStore/), JSON.stringify(options));
  }
});

test("a task definition's options are checked when it is defined or declared, naming the task and the field", (t) => {
  const outlast = new Outlast({ store: sqliteStore({ path: ":memory:" }), logger: quietLogger });
  t.after(() => outlast.close());
  const run = () => null;
  assert.throws(() => outlast.define("a", { maxAttempts: "x" as never, run }), badRequest(/^Task "a": maxAttempts must be a whole number/));
  assert.throws(() => outlast.define("b", { timeoutMs: "soon" as never, run }), badRequest(/timeoutMs/));
  assert.throws(() => outlast.define("c", { priority: 1.5, run }), badRequest(/priority/));
  assert.throws(() => outlast.define("d", { backoff: { baseMs: -1 }, run }), badRequest(/backoff\.baseMs/));
  assert.throws(() => outlast.define("e", { input: { to: "number" } as never, run }), badRequest(/input must be a Standard Schema validator/));
  assert.throws(() => declareTask("f", { maxAttempts: 0 }), badRequest(/^Task "f": maxAttempts/));
  assert.deepEqual(outlast.taskNames, [], "nothing half-defined was kept");
});

test("stores, handlers, servers and clients refuse options that cannot work", async (t) => {
  assert.throws(() => sqliteStore({ path: ":memory:", durability: "fast" as never }), badRequest(/durability must be "full" or "normal"/));
  assert.throws(() => sqliteStore({} as never), badRequest(/needs a file path/));
  assert.throws(() => createHandler(undefined as never), badRequest(/takes the engine/));
  const outlast = new Outlast({ store: sqliteStore({ path: ":memory:" }), logger: quietLogger });
  t.after(() => outlast.close());
  assert.throws(() => createHandler(outlast, { adminKey: "a-key-of-sixteen-characters", secret: "short" }), badRequest(/secret must be at least 16/));
  await assert.rejects(serve(outlast, { port: "abc" as never, logger: "silent" }), badRequest(/port must be a whole number/));
  assert.throws(() => new OutlastClient(undefined as never), /needs the API's base URL/);
});
