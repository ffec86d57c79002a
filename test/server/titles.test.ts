import assert from "node:assert/strict";
import { test } from "node:test";
import { until } from "../support/engine.js";
import { guardLeaks } from "../support/leaks.js";
import { harness, json } from "./harness.js";

guardLeaks();

type TaskBody = { task: { id: string; title: string | null; state: string } };
type Page = { tasks: { id: string; title: string | null }[] };
type Err = { error: { code: string; message: string; details?: unknown } };

test("a task's title: the submit option, ctx.setTitle in the handler, the task JSON, and ?q= by its first letters", async (t) => {
  const h = await harness(t, {
    start: true,
    define(outlast) {
      outlast.define("book.read", {
        async run(input: unknown, ctx) {
          await ctx.setTitle(String((input as { book: string }).book));
          return null;
        },
      });
    },
  });
  const given = await h.request("/api/v1/tasks", { method: "POST", json: { name: "demo.count", input: { to: 1 }, title: "Counting sheep" } });
  assert.equal(given.status, 202);
  assert.equal((await json<TaskBody>(given)).task.title, "Counting sheep");
  const untitled = await json<TaskBody>(await h.request("/api/v1/tasks", { method: "POST", json: { name: "demo.count", input: { to: 1 } } }));
  assert.equal(untitled.task.title, null, "null, not absent");

  const read = await json<TaskBody>(await h.request("/api/v1/tasks", { method: "POST", json: { name: "book.read", input: { book: "Der Zauberberg" } } }));
  assert.equal(read.task.title, null);
  await until(async () => (await h.outlast.get(read.task.id))?.state === "succeeded", "the book task");
  assert.equal((await json<TaskBody>(await h.request(`/api/v1/tasks/${read.task.id}`))).task.title, "Der Zauberberg");

  const found = await json<Page>(await h.request(`/api/v1/tasks?q=${encodeURIComponent("Der Zau")}`));
  assert.deepEqual(found.tasks.map((task) => task.id), [read.task.id]);
  const sheep = await json<Page>(await h.request("/api/v1/tasks?q=Counting"));
  assert.deepEqual(sheep.tasks.map((task) => task.title), ["Counting sheep"]);

  for (const title of ["", "x".repeat(201), 42, "nul\u0000"]) {
    const refused = await h.request("/api/v1/tasks", { method: "POST", json: { name: "demo.count", input: { to: 1 }, title } });
    const body = await json<Err>(refused);
    assert.equal(refused.status, 400, JSON.stringify(body));
    assert.equal(body.error.code, "invalid_title", JSON.stringify(title));
    assert.match(body.error.message, /1 to 200 characters|without NUL/);
  }
  assert.equal((await h.request("/api/v1/tasks", { method: "POST", json: { name: "demo.count", input: { to: 1 }, title: "y".repeat(200) } })).status, 202);
});

test("ctx.setTitle refuses a title that is too long with invalid_title, and the task fails saying so", async (t) => {
  const h = await harness(t, {
    start: true,
    define(outlast) {
      outlast.define("book.long", {
        maxAttempts: 1,
        async run(_input: unknown, ctx) {
          await ctx.setTitle("z".repeat(201));
          return null;
        },
      });
    },
  });
  const task = await h.outlast.submit("book.long", null);
  await until(async () => (await h.outlast.get(task.id))?.state === "failed", "the failure");
  const failed = await h.outlast.get(task.id);
  assert.equal(failed?.title, null);
  assert.equal(failed?.error?.code, "invalid_title");
});
