// Rate limits over HTTP: PATCH /api/v1/queues/:name takes rateLimit (good
// and bad), and a submit's cost (good and bad).
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Outlast } from "../../src/engine/outlast.js";
import { guardLeaks } from "../support/leaks.js";
import { harness } from "./harness.js";

guardLeaks();

interface Err {
  error: { code: string; message: string; details?: { field?: string } };
}

async function expectError(response: Response, status: number, code: string): Promise<Err> {
  const body = (await response.json()) as Err;
  assert.equal(response.status, status, JSON.stringify(body));
  assert.equal(body.error.code, code);
  return body;
}

function define(outlast: Outlast): void {
  outlast.queue("llm", { rateLimit: { limit: 4, periodMs: 60_000, key: "owner" } });
  outlast.define("llm.complete", { queue: "llm", run: () => "done" });
}

interface PublicQueue {
  name: string;
  rateLimit: { limit: number; periodMs: number; keyed: boolean } | null;
  overridden: string[];
}

test("PATCH /api/v1/queues/:name sets and removes a rate limit; the key rule stays what code declares; a bad one is a bad_request naming the field", async (t) => {
  const h = await harness(t, { define, start: true });
  const patch = (json: unknown) => h.request("/api/v1/queues/llm", { method: "PATCH", json });
  const listed = async () => ((await (await h.request("/api/v1/queues")).json()) as { queues: PublicQueue[] }).queues.find((q) => q.name === "llm");
  assert.deepEqual((await listed())?.rateLimit, { limit: 4, periodMs: 60_000, keyed: true }, "as declared");

  const changed = await patch({ rateLimit: { limit: 10, periodMs: 1_000 } });
  assert.equal(changed.status, 200);
  const queue = ((await changed.json()) as { queue: PublicQueue }).queue;
  assert.deepEqual(queue.rateLimit, { limit: 10, periodMs: 1_000, keyed: true });
  assert.ok(queue.overridden.includes("rateLimit"));
  assert.deepEqual((await h.outlast.listQueues()).find((q) => q.name === "llm")?.rateLimit, { limit: 10, periodMs: 1_000, keyed: true });

  const removed = await patch({ rateLimit: null });
  assert.equal(((await removed.json()) as { queue: PublicQueue }).queue.rateLimit, null);
  const reset = await patch({ reset: true });
  assert.deepEqual(((await reset.json()) as { queue: PublicQueue }).queue.rateLimit, { limit: 4, periodMs: 60_000, keyed: true }, "reset: what code declares");

  for (const bad of [
    { limit: 0, periodMs: 1_000 },
    { limit: 1.5, periodMs: 1_000 },
    { limit: 5 },
    { limit: 5, periodMs: 0 },
    { limit: 5, periodMs: 25 * 60 * 60 * 1000 },
    { limit: 5, periodMs: 1_000, key: "owner" },
    "60/min",
  ]) {
    const error = await expectError(await patch({ rateLimit: bad }), 400, "bad_request");
    assert.match(JSON.stringify(error), /rateLimit/, `names the field: ${JSON.stringify(error)}`);
  }
  assert.deepEqual((await listed())?.rateLimit, { limit: 4, periodMs: 60_000, keyed: true }, "bad changes changed nothing");
});

test("a submit's cost: a whole number from 1 to the queue's rate limit, else a bad_request naming cost", async (t) => {
  const h = await harness(t, { define });
  const submit = (json: unknown) => h.request("/api/v1/tasks", { method: "POST", json: { name: "llm.complete", input: {}, ...(json as object) } });
  for (const cost of [1, 4]) {
    const response = await submit({ cost });
    assert.equal(response.status, 202, await response.clone().text());
    assert.equal(((await response.json()) as { task: { state: string } }).task.state, "queued");
  }
  for (const cost of [0, -1, 2.5, "2", 5]) {
    const error = await expectError(await submit({ cost }), 400, "bad_request");
    assert.match(error.error.message, /cost/, error.error.message);
  }
  // An operator's lower limit is what a cost is checked against.
  await h.request("/api/v1/queues/llm", { method: "PATCH", json: { rateLimit: { limit: 2, periodMs: 1_000 } } });
  await expectError(await submit({ cost: 3 }), 400, "bad_request");
  assert.equal((await submit({ cost: 2 })).status, 202);
});
