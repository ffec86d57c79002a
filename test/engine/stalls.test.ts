// `stallMs`: a running attempt that reports nothing for that long is aborted
// (`stalled`) and retried. All on fake time: no test waits on a clock.
import assert from "node:assert/strict";
import { test } from "node:test";
import { isOutlastError, TaskAbortedError } from "../../src/index.js";
import { makeEngine, until } from "../support/engine.js";
import { FakeTime } from "../support/fake-time.js";
import { guardLeaks } from "../support/leaks.js";

guardLeaks();

const T0 = Date.UTC(2030, 0, 1, 12, 0, 0);

/** A promise the test settles: the handler's way to wait on the test, not on a clock. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open = () => {};
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

test("a handler that awaits forever without progress is aborted with reason stalled and retried after its backoff", async (t) => {
  const time = new FakeTime(T0);
  const outlast = makeEngine(t, { clock: time.clock, timers: time.timers, pollIntervalMs: 1_000 });
  const reasons: unknown[] = [];
  outlast.define("frozen", {
    stallMs: 1_000,
    // No jitter: the assertion on runAt counts from the test clock, not from the abort a few ms earlier.
    backoff: { baseMs: 5_000, maxMs: 5_000, jitter: 0 },
    run: async (_input, ctx) => {
      if (ctx.attempt > 1) return "second attempt";
      ctx.progress({ percent: 1 });
      // Frozen: never settles by itself; only the signal ends it.
      await new Promise<never>((_resolve, reject) => {
        ctx.signal.addEventListener("abort", () => {
          reasons.push(ctx.signal.reason);
          reject(ctx.signal.reason as Error);
        });
      });
    },
  });
  await outlast.start();
  const task = await outlast.submit("frozen", null);
  await until(async () => (await outlast.get(task.id))?.state === "running", "the first attempt to start");

  await time.advance(999);
  assert.equal((await outlast.get(task.id))?.state, "running", "not stalled before stallMs");
  assert.equal(reasons.length, 0);
  await time.advance(300);
  await until(async () => (await outlast.get(task.id))?.state === "queued", "the stalled attempt to be retried");
  assert.equal(reasons.length, 1);
  assert.ok(reasons[0] instanceof TaskAbortedError);
  assert.equal((reasons[0] as TaskAbortedError).code, "stalled");
  const retrying = (await outlast.get(task.id))!;
  assert.equal(retrying.error?.code, "stalled");
  assert.equal(retrying.attempt, 1, "the stalled attempt counts");
  assert.ok(Date.parse(retrying.runAt) >= time.now + 4_000, "it waits out its backoff");

  await time.advance(6_000);
  await until(async () => (await outlast.get(task.id))?.state === "succeeded", "the second attempt");
  const done = (await outlast.get(task.id))!;
  assert.deepEqual([done.attempt, done.result], [2, "second attempt"]);
});

test("a stalled handler that ignores its signal is left after the abort grace; out of attempts the task fails with code stalled", async (t) => {
  const time = new FakeTime(T0);
  const outlast = makeEngine(t, { clock: time.clock, timers: time.timers, abortGraceMs: 2_000 });
  let aborted = false;
  outlast.define("deaf", {
    stallMs: 400,
    maxAttempts: 1,
    run: (_input, ctx) => {
      ctx.signal.addEventListener("abort", () => (aborted = true));
      return new Promise<never>(() => {});
    },
  });
  await outlast.start();
  const task = await outlast.submit("deaf", null);
  await until(async () => (await outlast.get(task.id))?.state === "running", "the attempt to start");
  await time.advance(500);
  assert.equal(aborted, true, "its signal is aborted once stalled");
  await time.advance(1_000);
  assert.equal((await outlast.get(task.id))?.state, "running", "still within the abort grace");
  await time.advance(1_100);
  await until(async () => (await outlast.get(task.id))?.state === "failed", "the task to fail");
  assert.equal((await outlast.get(task.id))?.error?.code, "stalled");
});

test("a handler reporting progress more often than stallMs is not stalled, however long it runs", async (t) => {
  const time = new FakeTime(T0);
  const outlast = makeEngine(t, { clock: time.clock, timers: time.timers });
  let beat = gate();
  let signal: AbortSignal | null = null;
  outlast.define("steady", {
    stallMs: 1_000,
    run: async (_input, ctx) => {
      signal = ctx.signal;
      for (let i = 1; i <= 10; i++) {
        await beat.promise;
        beat = gate();
        if (i % 3 === 0) await ctx.log(`beat ${i}`);
        else ctx.progress({ current: i, total: 10 });
      }
      return "done";
    },
  });
  await outlast.start();
  const task = await outlast.submit("steady", null);
  await until(async () => (await outlast.get(task.id))?.state === "running", "the attempt to start");
  for (let i = 0; i < 10; i++) {
    await time.advance(700);
    beat.open();
  }
  await until(async () => (await outlast.get(task.id))?.state === "succeeded", "the task to finish");
  const done = (await outlast.get(task.id))!;
  assert.deepEqual([done.attempt, done.error], [1, null], "7 s of work, never 1 s without a report");
  assert.equal((signal as AbortSignal | null)?.aborted ?? false, false);
});

test("a waiting task is not running and cannot stall", async (t) => {
  const time = new FakeTime(T0);
  const outlast = makeEngine(t, { clock: time.clock, timers: time.timers });
  outlast.define("napper", {
    stallMs: 500,
    run: async (_input, ctx) => {
      await ctx.sleep(5_000);
      return "rested";
    },
  });
  await outlast.start();
  const task = await outlast.submit("napper", null);
  await until(async () => (await outlast.get(task.id))?.state === "waiting", "the task to wait");
  for (let i = 0; i < 12; i++) await time.advance(500);
  await until(async () => (await outlast.get(task.id))?.state === "succeeded", "the task to run on after its sleep");
  const done = (await outlast.get(task.id))!;
  assert.deepEqual([done.result, done.error, done.attempt], ["rested", null, 1]);
});

test("stallMs is checked when the task is defined", (t) => {
  const outlast = makeEngine(t);
  for (const stallMs of [0, -1, 1.5, "1000", 99, Number.POSITIVE_INFINITY]) {
    assert.throws(
      () => outlast.define(`bad-${String(stallMs)}`, { stallMs: stallMs as number, run: () => null }),
      (error: unknown) => isOutlastError(error, "bad_request") && /stallMs/.test((error as Error).message),
      `stallMs ${String(stallMs)}`,
    );
  }
  outlast.define("fine", { stallMs: 60_000, run: () => null });
});
