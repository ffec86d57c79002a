// `dedupe` on POST /api/v1/tasks: good bodies collapse by key, bad ones answer 400 naming the field.
import assert from "node:assert/strict";
import { test } from "node:test";
import { guardLeaks } from "../support/leaks.js";
import { harness, json } from "./harness.js";

guardLeaks();

type Err = { error: { code: string; message: string; details?: unknown } };
type Submitted = { task: { id: string; state: string; runAt: string } };

test("POST /api/v1/tasks with dedupe: debounce and replace-queued answer the task that will run", async (t) => {
  const h = await harness(t, { define: (o) => o.define("free", { run: () => null }) });
  const post = (body: Record<string, unknown>) => h.request("/api/v1/tasks", { method: "POST", json: { name: "free", ...body } });

  const dedupe = { key: "doc-1", mode: "debounce", delayMs: 60_000, maxDelayMs: 120_000 };
  const first = await post({ input: { n: 1 }, dedupe });
  assert.equal(first.status, 202);
  const firstTask = (await json<Submitted>(first)).task;
  assert.ok(Date.parse(firstTask.runAt) > Date.now() + 50_000, "due delayMs from now");
  const second = await post({ input: { n: 2 }, dedupe });
  assert.equal(second.status, 202);
  assert.equal((await json<Submitted>(second)).task.id, firstTask.id);
  assert.deepEqual((await h.outlast.getRecord(firstTask.id))?.input, { n: 2 });

  // The key's scope is owner + name + key, whatever the mode: a replace-queued submit of it takes the same queued task.
  const replaced = await post({ input: { n: 3 }, dedupe: { key: "doc-1", mode: "replace-queued" } });
  assert.deepEqual([replaced.status, (await json<Submitted>(replaced)).task.id], [202, firstTask.id]);

  const replace = { key: "doc-2", mode: "replace-queued" };
  const a = (await json<Submitted>(await post({ input: "a", dedupe: replace, delayMs: 60_000 }))).task;
  assert.notEqual(a.id, firstTask.id);
  const b = await post({ input: "b", dedupe: replace });
  assert.equal(b.status, 202);
  const bTask = (await json<Submitted>(b)).task;
  assert.deepEqual([bTask.id, bTask.runAt], [a.id, a.runAt], "the same task, its runAt kept");
  assert.deepEqual((await h.outlast.getRecord(a.id))?.input, "b");
});

test("POST /api/v1/tasks with a bad dedupe answers 400 bad_request naming the field; the batch route takes none", async (t) => {
  const h = await harness(t, { define: (o) => o.define("free", { run: () => null }) });
  const cases: [Record<string, unknown>, string][] = [
    [{ dedupe: { key: "k", mode: "throttle" } }, "dedupe.mode"],
    [{ dedupe: { key: "k", mode: "debounce" } }, "dedupe.delayMs"],
    [{ dedupe: { key: "k", mode: "debounce", delayMs: -5 } }, "dedupe.delayMs"],
    [{ dedupe: { key: "k", mode: "debounce", delayMs: 100, maxDelayMs: 50 } }, "dedupe.maxDelayMs"],
    [{ dedupe: { key: "k", mode: "cancel-running", maxDelayMs: 50 } }, "dedupe.maxDelayMs"],
    [{ dedupe: { key: "k", mode: "replace-queued" }, idempotencyKey: "i" }, "dedupe"],
    [{ dedupe: { key: "k", mode: "debounce", delayMs: 10 }, delayMs: 10 }, "delayMs"],
  ];
  for (const [body, field] of cases) {
    const response = await h.request("/api/v1/tasks", { method: "POST", json: { name: "free", ...body } });
    const answer = await json<Err>(response);
    assert.equal(response.status, 400, `${JSON.stringify(body)}: ${JSON.stringify(answer)}`);
    assert.equal(answer.error.code, "bad_request");
    assert.ok(answer.error.message.includes(field), `${answer.error.message} names ${field}`);
  }
  // The body's shape is strict: unknown fields inside dedupe, or the wrong types, are refused too.
  for (const dedupe of [{ key: "k", mode: "debounce", delay: 5 }, { key: 1, mode: "debounce" }, "k", { mode: "debounce" }]) {
    const response = await h.request("/api/v1/tasks", { method: "POST", json: { name: "free", dedupe } });
    const answer = await json<Err>(response);
    assert.equal(response.status, 400, JSON.stringify(dedupe));
    assert.equal(answer.error.code, "bad_request");
    assert.ok(answer.error.message.includes("dedupe"), answer.error.message);
  }
  const batch = await h.request("/api/v1/tasks/batch", { method: "POST", json: { name: "free", inputs: [1], dedupe: { key: "k", mode: "replace-queued" } } });
  assert.equal(batch.status, 400);
  assert.match((await json<Err>(batch)).error.message, /dedupe/);
  assert.equal((await h.outlast.store.listTasks({ limit: 10 })).tasks.length, 0, "nothing was stored");
});
