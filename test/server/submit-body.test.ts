import assert from "node:assert/strict";
import { test } from "node:test";
import { MAX_BODY_DEPTH } from "../../src/server/index.js";
import { guardLeaks } from "../support/leaks.js";
import { harness, json } from "./harness.js";

guardLeaks();

type Err = { error: { code: string; message: string; details?: unknown } };

/** A task with no input schema: nothing of the engine's checks the input's shape first. */
const withFreeTask = (t: import("node:test").TestContext) => harness(t, { define: (o) => o.define("free", { run: () => null }) });

const deepArray = (depth: number) => `${"[".repeat(depth)}${"]".repeat(depth)}`;
const deepObject = (depth: number) => `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`;

test(`a body nested deeper than ${MAX_BODY_DEPTH} levels is 400 bad_request, on single and batch submits, with and without a schema`, async (t) => {
  const h = await withFreeTask(t);
  const post = (path: string, body: string) => h.request(path, { method: "POST", body, headers: { "content-type": "application/json" } });
  for (const [kind, deep] of [["array", deepArray(10_000)], ["object", deepObject(10_000)]] as const) {
    const bodies: [string, string][] = [
      ["/api/v1/tasks", `{"name":"demo.count","input":${deep}}`],
      ["/api/v1/tasks", `{"name":"free","input":${deep}}`],
      ["/api/v1/tasks", `{"name":"free","queue":${deep}}`],
      ["/api/v1/tasks/batch", `{"name":"free","inputs":[${deep}]}`],
      ["/api/v1/tasks/batch", `{"name":"demo.count","inputs":[{"to":1},${deep}]}`],
      ["/api/v1/tasks", deep],
    ];
    for (const [path, body] of bodies) {
      const response = await post(path, body);
      const answer = await json<Err>(response);
      assert.equal(response.status, 400, `${kind} ${path} ${body.slice(0, 40)}: ${JSON.stringify(answer)}`);
      assert.equal(answer.error.code, "bad_request");
      assert.match(answer.error.message, new RegExp(`${MAX_BODY_DEPTH}`));
    }
  }
  // At the limit it is accepted: the body object is the first level.
  assert.equal((await post("/api/v1/tasks", `{"name":"free","input":${deepArray(MAX_BODY_DEPTH - 1)}}`)).status, 202);
  assert.equal((await post("/api/v1/tasks", `{"name":"free","input":${deepArray(MAX_BODY_DEPTH)}}`)).status, 400);
  // Brackets inside strings are text, not nesting.
  assert.equal((await post("/api/v1/tasks", JSON.stringify({ name: "free", input: { text: "[{".repeat(5000) } }))).status, 202);
  const stored = await h.outlast.store.listTasks({ limit: 100 });
  assert.equal(stored.tasks.length, 2, "only the two bodies within the limit were stored");
});

test("a misspelt submit option answers 400 naming the field, on the single and the batch route alike", async (t) => {
  const h = await withFreeTask(t);
  const cases: [Record<string, unknown>, string, string][] = [
    [{ prioirty: 5 }, "prioirty", "priority"],
    [{ delayMS: 100 }, "delayMS", "delayMs"],
    [{ idempotency_key: "k" }, "idempotency_key", "idempotencyKey"],
    [{ maxAttempt: 2 }, "maxAttempt", "maxAttempts"],
  ];
  for (const [extra, field, meant] of cases) {
    const single = await h.request("/api/v1/tasks", { method: "POST", json: { name: "free", input: {}, ...extra } });
    const body = await json<Err>(single);
    assert.equal(single.status, 400, `${field}: ${JSON.stringify(body)}`);
    assert.equal(body.error.code, "bad_request");
    assert.ok(body.error.message.includes(`"${field}"`), body.error.message);
    assert.ok(body.error.message.includes(`"${meant}"`), `${body.error.message} suggests ${meant}`);
    assert.deepEqual((body.error.details as { path: unknown[]; field?: string }[])[0]?.field, field);
    if (field === "idempotency_key") continue;
    const batch = await h.request("/api/v1/tasks/batch", { method: "POST", json: { name: "free", inputs: [{}], ...extra } });
    const batchBody = await json<Err>(batch);
    assert.equal(batch.status, 400);
    assert.equal(batchBody.error.message, body.error.message, "one validator words both");
  }
  const batchKey = await json<Err>(await h.request("/api/v1/tasks/batch", { method: "POST", json: { name: "free", inputs: [{}], idempotencyKey: "k" } }));
  assert.match(batchKey.error.message, /"idempotencyKey"/);
  assert.equal((await h.outlast.store.listTasks({ limit: 10 })).tasks.length, 0);
  assert.equal((await h.request("/api/v1/tasks", { method: "POST", json: { name: "free", input: {}, priority: 5, delayMs: 0 } })).status, 202);
});
