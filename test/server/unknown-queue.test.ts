import assert from "node:assert/strict";
import { test } from "node:test";
import { guardLeaks } from "../support/leaks.js";
import { harness, json } from "./harness.js";

guardLeaks();

type Err = { error: { code: string; message: string; details?: unknown } };

test("a submit naming a queue nothing routes to answers 400 unknown_queue and stores nothing; a declared queue is taken", async (t) => {
  const h = await harness(t);
  const before = (await h.outlast.listQueues()).map((q) => q.name);
  for (const path of ["/api/v1/tasks", "/api/v1/tasks/batch"]) {
    const body =
      path === "/api/v1/tasks" ? { name: "demo.count", input: { to: 1 }, queue: "made-up" } : { name: "demo.count", inputs: [{ to: 1 }], queue: "made-up" };
    const refused = await h.request(path, { method: "POST", json: body });
    const error = await json<Err>(refused);
    assert.equal(refused.status, 400, `${path}: ${JSON.stringify(error)}`);
    assert.equal(error.error.code, "unknown_queue");
    assert.deepEqual(error.error.details, { queue: "made-up" });
  }
  assert.deepEqual((await h.outlast.listQueues()).map((q) => q.name), before, "no queue appeared");
  assert.equal((await h.outlast.list({ queue: "made-up" })).tasks.length, 0);

  h.outlast.queue("side", { concurrency: 1 });
  const taken = await h.request("/api/v1/tasks", { method: "POST", json: { name: "demo.count", input: { to: 1 }, queue: "side" } });
  assert.equal(taken.status, 202);
  assert.equal((await json<{ task: { queue: string } }>(taken)).task.queue, "side");
});

test("a queue another process declared (its settings are stored) is taken on a node that does not declare it", async (t) => {
  const h = await harness(t);
  // As a worker process does at start: its queue's settings are stored.
  await h.outlast.store.declareQueue("gpu", { concurrency: 1 }, Date.now());
  const taken = await h.request("/api/v1/tasks", { method: "POST", json: { name: "demo.count", input: { to: 1 }, queue: "gpu" } });
  assert.equal(taken.status, 202);
  assert.equal((await json<{ task: { queue: string } }>(taken)).task.queue, "gpu");
});
