// Issue #12, "ETAs that lie": estimates from a real SQLite store on fake
// time. Three books wait behind a running one on a one-at-a-time queue whose
// past books took 20 s each.
import assert from "node:assert/strict";
import { test, type TestContext } from "node:test";
import type { Task, TaskContext } from "../../src/index.js";
import { makeEngine, until } from "../support/engine.js";
import { FakeTime } from "../support/fake-time.js";
import { guardLeaks } from "../support/leaks.js";

guardLeaks();

const T0 = Date.UTC(2030, 0, 1, 12, 0, 0);
const PAST_RUN_MS = 20_000;

/** An engine whose "book" tasks run until the test ends them, on one slot. */
async function narrator(t: TestContext) {
  const time = new FakeTime(T0);
  const outlast = makeEngine(t, { clock: time.clock, timers: time.timers, leaseMs: 600_000 });
  const running = new Map<number, { end: () => void; ctx: TaskContext }>();
  outlast.queue("narrate", { concurrency: 1 });
  outlast.define("book", {
    queue: "narrate",
    run: (input: { n: number }, ctx) => new Promise<void>((resolve) => running.set(input.n, { end: resolve, ctx })),
  });
  // Nothing left running when the test ends.
  t.after(() => {
    for (const { end } of running.values()) end();
  });
  await outlast.start();
  const state = async (id: string) => (await outlast.get(id))?.state;
  const runsNow = (id: string) => until(async () => (await state(id)) === "running", `task ${id} to run`);
  const finish = async (n: number, id: string) => {
    running.get(n)!.end();
    await until(async () => (await state(id)) === "succeeded", `task ${id} to succeed`);
  };
  // History: two books that took 20 s each.
  for (const n of [1, 2]) {
    const past = await outlast.submit("book", { n });
    await runsNow(past.id);
    await time.advance(PAST_RUN_MS);
    await finish(n, past.id);
  }
  return { time, outlast, running, runsNow, finish };
}

test("books waiting behind a running one get estimates that grow with their place and shrink as time passes and books finish", async (t) => {
  const { time, outlast, runsNow, finish } = await narrator(t);
  const first = await outlast.submit("book", { n: 3 });
  await runsNow(first.id);
  const waiting: Task[] = [];
  for (const n of [4, 5, 6]) waiting.push(await outlast.submit("book", { n }));
  const etas = async () => Promise.all(waiting.map(async (task) => (await outlast.get(task.id))?.etaMs));

  assert.deepEqual(await etas(), [40_000, 60_000, 80_000], "the running book's 20 s, then 20 s for each book ahead and its own");
  await time.advance(5_000);
  assert.deepEqual(await etas(), [35_000, 55_000, 75_000], "5 s later");

  await time.advance(15_000);
  await finish(3, first.id);
  const [next] = waiting;
  await runsNow(next!.id);
  await time.advance(5_000);
  const nextRun = (await outlast.get(next!.id))!;
  const ranMs = time.now - Date.parse(nextRun.startedAt!);
  assert.equal(nextRun.remainingMs, PAST_RUN_MS - ranMs, "no progress yet: the mean less what it has run");
  assert.deepEqual((await etas()).slice(1), [PAST_RUN_MS - ranMs + 20_000, PAST_RUN_MS - ranMs + 40_000], "the first book ended: one fewer ahead");
});

test("a running book at 50% after 10 s has about 10 s left, and the book behind it waits for that", async (t) => {
  const { time, outlast, running, runsNow } = await narrator(t);
  const book = await outlast.submit("book", { n: 3 });
  const behind = await outlast.submit("book", { n: 4 });
  await runsNow(book.id);
  await time.advance(10_000);
  running.get(3)!.ctx.progress({ percent: 50 });
  // The progress write goes out on the engine's (fake) timer.
  await until(async () => {
    await time.advance(10);
    return (await outlast.get(book.id))?.progress.percent === 50;
  }, "the progress to be stored");
  const now = (await outlast.get(book.id))!;
  const ranMs = time.now - Date.parse(now.startedAt!);
  assert.ok(ranMs >= 10_000 && ranMs < 10_500, `reported about 10 s in (${ranMs} ms)`);
  assert.equal(now.remainingMs, ranMs, `at 50% after ${ranMs} ms: as long again`);
  assert.equal(now.etaMs, null, "etaMs stays a waiting task's figure (API.md)");
  const waiting = (await outlast.get(behind.id))!;
  assert.equal(waiting.etaMs, ranMs + PAST_RUN_MS);
  assert.equal(waiting.remainingMs, null);
});
