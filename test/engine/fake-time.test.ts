// Cron, backoff, lease expiry and progress coalescing on fake time: the
// engine's waits come from injected timers, so these tests wait on no clock.
import assert from "node:assert/strict";
import { test } from "node:test";
import { makeEngine, until } from "../support/engine.js";
import { FakeTime, settle } from "../support/fake-time.js";
import { guardLeaks } from "../support/leaks.js";
import { tempDbPath } from "../support/temp.js";

guardLeaks();

const T0 = Date.UTC(2030, 0, 1, 12, 0, 0);

test("a cron schedule submits once per tick as fake time passes, and not before", async (t) => {
  const time = new FakeTime(T0 + 1_000);
  const outlast = makeEngine(t, { clock: time.clock, timers: time.timers });
  outlast.define("report", { run: () => "done" });
  outlast.schedule("every-5-minutes", "*/5 * * * *", "report", {});
  await outlast.start();
  const count = async () => (await outlast.list({ name: "report" })).tasks.length;
  await time.advance(4 * 60_000);
  assert.equal(await count(), 0, "no tick yet");
  await time.advance(60_000);
  await until(async () => (await count()) === 1, "the 12:05 tick");
  await time.advance(10 * 60_000);
  await until(async () => (await count()) === 3, "the 12:10 and 12:15 ticks");
});

test("a failed attempt waits out its backoff on fake time, then runs again", async (t) => {
  const time = new FakeTime(T0);
  const outlast = makeEngine(t, { clock: time.clock, timers: time.timers, pollIntervalMs: 1_000 });
  outlast.define("flaky", {
    backoff: { baseMs: 60_000, maxMs: 60_000 },
    run: (_input, ctx) => {
      if (ctx.attempt === 1) throw new Error("first attempt fails");
      return "ok";
    },
  });
  await outlast.start();
  const task = await outlast.submit("flaky", null);
  await until(async () => (await outlast.get(task.id))?.attempt === 1 && (await outlast.get(task.id))?.state === "queued", "the first attempt to fail");
  const waiting = (await outlast.get(task.id))!;
  const runAt = Date.parse(waiting.runAt);
  assert.ok(runAt > T0, "the retry waits");
  await time.advance(runAt - time.now - 1);
  assert.equal((await outlast.get(task.id))?.state, "queued", "not before its runAt");
  await time.advance(1_001);
  await until(async () => (await outlast.get(task.id))?.state === "succeeded", "the second attempt");
  assert.equal((await outlast.get(task.id))?.attempt, 2);
});

test("a task whose worker stopped heartbeating is taken again once its lease runs out on the other worker's clock", async (t) => {
  const path = tempDbPath(t);
  // Worker A's time never moves: it claims the task and then sends no heartbeat, like a frozen process.
  const frozen = new FakeTime(T0);
  let release: () => void = () => {};
  const a = makeEngine(t, { path, clock: frozen.clock, timers: frozen.timers, leaseMs: 10_000 });
  a.define("job", { run: () => new Promise<string>((resolve) => (release = () => resolve("a"))) });
  // One slot, held by the frozen attempt: A cannot take the task back itself.
  await a.start({ perProcess: 1 });
  const task = await a.submit("job", null);
  await until(async () => (await a.get(task.id))?.state === "running", "A to claim it");

  const time = new FakeTime(T0);
  const b = makeEngine(t, { path, clock: time.clock, timers: time.timers, leaseMs: 10_000 });
  b.define("job", { run: () => "b" });
  await b.start();
  await time.advance(9_000);
  assert.equal((await b.get(task.id))?.state, "running", "the lease still holds");
  // The lease ran out at 10 s: until another worker takes it, the task says its worker is lost.
  assert.equal((await b.get(task.id))?.workerLost, false, "a live lease is not a lost worker");
  const watcher = makeEngine(t, { path, clock: () => T0 + 10_500, timers: time.timers });
  const lost = await watcher.get(task.id);
  assert.deepEqual([lost?.state, lost?.workerLost], ["running", true]);
  // Taken again within the lease and 2 s more, on B's time.
  await time.advance(3_000);
  await until(async () => (await b.get(task.id))?.state === "succeeded", "B to take it again and run it");
  assert.equal((await b.get(task.id))?.result, "b");
  assert.equal((await watcher.get(task.id))?.workerLost, false);
  release();
});

test("a thousand progress reports are saved as one, when the coalescing interval passes on fake time", async (t) => {
  const time = new FakeTime(T0);
  const outlast = makeEngine(t, { clock: time.clock, timers: time.timers, progressIntervalMs: 250 });
  let finish: () => void = () => {};
  outlast.define("busy", {
    run: async (_input, ctx) => {
      for (let i = 1; i <= 1_000; i++) ctx.progress({ current: i, total: 1_000 });
      await new Promise<void>((resolve) => (finish = resolve));
    },
  });
  await outlast.start();
  const task = await outlast.submit("busy", null);
  await until(async () => (await outlast.get(task.id))?.state === "running", "the task to start");
  await time.advance(249);
  assert.deepEqual((await outlast.get(task.id))?.progress, {}, "nothing saved before the interval");
  await time.advance(1);
  await until(async () => (await outlast.get(task.id))?.progress.current === 1_000, "the latest report to be saved");
  const events = [];
  for await (const event of outlast.watch(task.id, { after: 0 })) {
    events.push(event);
    if (event.type === "progress") break;
  }
  assert.equal(events.filter((e) => e.type === "progress").length, 1, "one saved progress event for a thousand reports");
  finish();
  await until(async () => (await outlast.get(task.id))?.state === "succeeded", "the task to end");
});

test("stopping while a finished handler's outcome is being written leaves no grace timer behind", async (t) => {
  const time = new FakeTime(T0);
  const outlast = makeEngine(t, { clock: time.clock, timers: time.timers });
  outlast.define("quick", { run: () => "done" });
  // The outcome's write waits until the test lets it go: the execution is finishing, its handler settled.
  let letGo: () => void = () => {};
  const held = new Promise<void>((resolve) => (letGo = resolve));
  let finishing: () => void = () => {};
  const reached = new Promise<void>((resolve) => (finishing = resolve));
  const finish = outlast.store.finish.bind(outlast.store);
  outlast.store.finish = async (...args) => {
    finishing();
    await held;
    return finish(...args);
  };
  await outlast.start();
  await outlast.submit("quick", null);
  await reached;
  const stopped = outlast.stop({ graceMs: 0 });
  // The grace (0 ms, on fake time) ends once the stop reaches it: it aborts what is still going on, this execution included.
  await settle(20);
  await time.advance(0);
  letGo();
  await stopped;
  assert.equal(time.waiting, 0, "no timer of the engine is left once it stopped");
});
