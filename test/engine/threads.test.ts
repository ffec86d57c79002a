import assert from "node:assert/strict";
import { test } from "node:test";
import { runInThread } from "../../src/index.js";
import { collect, makeEngine, until } from "../support/engine.js";
import { guardLeaks } from "../support/leaks.js";

guardLeaks();

const module = new URL("../fixtures/thread-task.ts", import.meta.url);

test("a CPU-bound handler in a worker thread leaves the main event loop free, and its context works across", async (t) => {
  const outlast = makeEngine(t);
  outlast.define("spin", { backoff: { baseMs: 1 }, run: runInThread<{ ms: number; failWith?: "plain" }, unknown>(module) });
  await outlast.start();
  const task = await outlast.submit("spin", { ms: 400, failWith: "plain" });
  // While the thread spins, the main loop keeps ticking.
  let ticks = 0;
  const ticker = setInterval(() => ticks++, 10);
  const events = await collect(outlast.watch(task.id));
  clearInterval(ticker);
  assert.ok(ticks >= 40, `main loop ticked ${ticks} times during two 400 ms spins`);
  const final = await outlast.get(task.id);
  assert.equal(final?.state, "succeeded");
  assert.deepEqual(final?.result, { first: { at: 1 }, attempt: 2 }, "step recorded on attempt 1 is replayed in the thread on attempt 2");
  assert.ok(events.some((e) => e.type === "progress"));
  assert.ok(events.some((e) => e.type === "log" && /^spun \d+ times$/.test(e.message)));
  const note = await outlast.artifacts!.read(task.id, "note.txt");
  assert.equal(await new Response(note).text(), "attempt 2");
});

test("errors keep their meaning across the thread: UnrecoverableError fails at once", async (t) => {
  const outlast = makeEngine(t);
  outlast.define("spin", { run: runInThread(module) });
  await outlast.start();
  const task = await outlast.submit("spin", { ms: 1, failWith: "unrecoverable" });
  await collect(outlast.watch(task.id));
  const final = await outlast.get(task.id);
  assert.equal(final?.state, "failed");
  assert.equal(final?.attempt, 1);
  assert.deepEqual(final?.error, { message: "bad book", code: "bad_book", unrecoverable: true });
});

test("cancel reaches the thread through ctx.signal", async (t) => {
  const outlast = makeEngine(t);
  outlast.define("wait", { run: runInThread(module, { exportName: "waitForAbort" }) });
  await outlast.start();
  const task = await outlast.submit("wait");
  await until(async () => (await outlast.get(task.id))?.state === "running", "thread to start");
  await outlast.cancel(task.id);
  await collect(outlast.watch(task.id));
  assert.equal((await outlast.get(task.id))?.state, "canceled");
});
