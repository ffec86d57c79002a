import assert from "node:assert/strict";
import { test } from "node:test";
import { z } from "zod";
import { InvalidInputError, OutlastError, QueueFullError, RetryLaterError, UnrecoverableError } from "../../src/index.js";
import { guardLeaks } from "../support/leaks.js";
import { collect, makeEngine, until } from "../support/engine.js";

guardLeaks();

test("a task runs to success and its log tells the whole story in order", async (t) => {
  const outlast = makeEngine(t);
  outlast.define("greet", {
    input: z.object({ name: z.string() }),
    async run(input, ctx) {
      ctx.progress({ current: 1, total: 2, message: "warming up" });
      await ctx.log("hello");
      ctx.progress({ current: 2, total: 2 });
      return { greeting: `hi ${input.name}` };
    },
  });
  const submitted = await outlast.submit("greet", { name: "Ada" }, { owner: "u1" });
  assert.equal(submitted.state, "queued");
  assert.equal(submitted.owner, "u1");
  assert.equal(submitted.position, null, "submit does not count the queue");
  assert.equal((await outlast.get(submitted.id))?.position, 1);
  await outlast.start();
  const events = await collect(outlast.watch(submitted.id));
  assert.deepEqual(
    events.map((e) => e.type === "state" ? `state:${e.state}` : e.type),
    ["state:queued", "state:running", "progress", "log", "progress", "state:succeeded"],
  );
  assert.deepEqual(events.map((e) => ("seq" in e ? e.seq : -1)), [1, 2, 3, 4, 5, 6]);
  const done = await outlast.get(submitted.id);
  assert.equal(done?.state, "succeeded");
  assert.deepEqual(done?.result, { greeting: "hi Ada" });
  assert.deepEqual(done?.progress, { current: 2, total: 2, percent: 100 });
  assert.equal(done?.position, null);
});

test("bad input is rejected with the field named and nothing is stored", async (t) => {
  const outlast = makeEngine(t);
  outlast.define("typed", { input: z.object({ to: z.number().int().min(1) }), run: () => null });
  await assert.rejects(outlast.submit("typed", { to: "three" }), (error: unknown) => {
    assert.ok(error instanceof InvalidInputError);
    assert.equal(error.code, "invalid_input");
    assert.deepEqual(error.issues[0]?.path, ["to"]);
    return true;
  });
  await assert.rejects(outlast.submit("missing", {}), (error: unknown) => error instanceof OutlastError && error.code === "unknown_task_name");
  await assert.rejects(outlast.submit("typed", { to: 1 }, { priority: 1.5 }), (error: unknown) => error instanceof OutlastError && error.code === "bad_request");
  await assert.rejects(outlast.submit("typed", { to: 1 }, { delayMs: -1 }), (error: unknown) => error instanceof OutlastError && error.code === "bad_request");
  assert.equal((await outlast.list()).tasks.length, 0);
});

test("a failing attempt is retried with backoff and steps already done are not run again", async (t) => {
  const outlast = makeEngine(t);
  const ran: string[] = [];
  outlast.define("flaky", {
    maxAttempts: 3,
    backoff: { baseMs: 20, maxMs: 50 },
    async run(_input, ctx) {
      await ctx.step("a", () => (ran.push(`a@${ctx.attempt}`), 1));
      await ctx.step("b", () => (ran.push(`b@${ctx.attempt}`), 2));
      if (ctx.attempt < 3) throw new Error(`boom ${ctx.attempt}`);
      await ctx.step("c", () => (ran.push(`c@${ctx.attempt}`), 3));
      return "ok";
    },
  });
  const task = await outlast.submit("flaky");
  await outlast.start();
  const events = await collect(outlast.watch(task.id));
  assert.deepEqual(ran, ["a@1", "b@1", "c@3"]);
  const retries = events.filter((e) => e.type === "state" && e.state === "queued" && "reason" in e && e.reason === "retry");
  assert.equal(retries.length, 2);
  const final = await outlast.get(task.id);
  assert.equal(final?.state, "succeeded");
  assert.equal(final?.attempt, 3);
});

test("UnrecoverableError fails at once; running out of attempts fails with the last error", async (t) => {
  const outlast = makeEngine(t);
  let calls = 0;
  outlast.define("fatal", {
    run() {
      calls++;
      throw new UnrecoverableError("not an EPUB", { code: "bad_file" });
    },
  });
  outlast.define("always", { maxAttempts: 2, backoff: { baseMs: 1 }, run: () => Promise.reject(new Error("nope")) });
  await outlast.start();
  const fatal = await outlast.submit("fatal");
  const always = await outlast.submit("always");
  await collect(outlast.watch(fatal.id));
  await collect(outlast.watch(always.id));
  const a = await outlast.get(fatal.id);
  assert.equal(a?.state, "failed");
  assert.deepEqual(a?.error, { message: "not an EPUB", code: "bad_file", unrecoverable: true });
  assert.equal(calls, 1);
  const b = await outlast.get(always.id);
  assert.equal(b?.state, "failed");
  assert.equal(b?.attempt, 2);
  assert.equal(b?.error?.message, "nope");
});

test("RetryLaterError asks for another attempt after its own delay", async (t) => {
  const outlast = makeEngine(t);
  outlast.define("later", {
    backoff: { baseMs: 60_000 },
    run(_input, ctx) {
      if (ctx.attempt === 1) throw new RetryLaterError("upstream busy", { delayMs: 30 });
      return ctx.attempt;
    },
  });
  await outlast.start();
  const task = await outlast.submit("later");
  await collect(outlast.watch(task.id));
  assert.equal((await outlast.get(task.id))?.result, 2);
});

test("a timeout aborts the signal and fails the attempt", async (t) => {
  const outlast = makeEngine(t);
  let sawAbort = false;
  outlast.define("slow", {
    timeoutMs: 50,
    maxAttempts: 1,
    run: (_input, ctx) =>
      new Promise((_resolve, reject) => {
        ctx.signal.addEventListener("abort", () => {
          sawAbort = true;
          reject(ctx.signal.reason);
        });
      }),
  });
  await outlast.start();
  const task = await outlast.submit("slow");
  await collect(outlast.watch(task.id));
  const done = await outlast.get(task.id);
  assert.equal(done?.state, "failed");
  assert.equal(done?.error?.code, "timeout");
  assert.ok(sawAbort);
});

test("cancel: a queued task at once, a running one through its signal, a finished one is a conflict", async (t) => {
  const outlast = makeEngine(t);
  outlast.queue("q", { concurrency: 1 });
  let started = 0;
  outlast.define("wait", {
    queue: "q",
    run: (_input, ctx) =>
      new Promise((_resolve, reject) => {
        started++;
        ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason));
      }),
  });
  const running = await outlast.submit("wait");
  const waiting = await outlast.submit("wait");
  assert.equal((await outlast.get(waiting.id))?.position, 2);
  await outlast.start();
  await until(async () => (await outlast.get(running.id))?.state === "running", "first task to run");
  const canceledQueued = await outlast.cancel(waiting.id);
  assert.equal(canceledQueued.state, "canceled");
  await outlast.cancel(running.id);
  await collect(outlast.watch(running.id));
  assert.equal((await outlast.get(running.id))?.state, "canceled");
  assert.equal(started, 1);
  await assert.rejects(outlast.cancel(running.id), (e: unknown) => e instanceof OutlastError && e.code === "conflict");
  await assert.rejects(outlast.cancel("tsk_nope"), (e: unknown) => e instanceof OutlastError && e.code === "not_found");
  const retried = await outlast.retry(waiting.id);
  assert.equal(retried.state, "queued");
});

test("a handler that ignores cancel is settled after the grace period", async (t) => {
  const outlast = makeEngine(t, { abortGraceMs: 50 });
  let release!: () => void;
  const stuck = new Promise<void>((resolve) => (release = resolve));
  t.after(() => release());
  outlast.define("stubborn", { run: () => stuck });
  await outlast.start();
  const task = await outlast.submit("stubborn");
  await until(async () => (await outlast.get(task.id))?.state === "running", "task to run");
  await outlast.cancel(task.id);
  await collect(outlast.watch(task.id));
  assert.equal((await outlast.get(task.id))?.state, "canceled");
});

test("idempotency key: attach while running, return when done, resume from steps when failed", async (t) => {
  const outlast = makeEngine(t);
  let fail = true;
  const ran: number[] = [];
  outlast.define("book", {
    maxAttempts: 1,
    async run(input: { chapters: number }, ctx) {
      for (let i = 0; i < input.chapters; i++) {
        await ctx.step(`chapter-${i}`, () => (ran.push(i), i));
        if (i === 1 && fail) throw new Error("disk full");
      }
      return "spoken";
    },
  });
  await outlast.start();
  const key = "sha256:abc";
  const first = await outlast.submitWithOutcome("book", { chapters: 3 }, { idempotencyKey: key, owner: "reader" });
  assert.equal(first.outcome, "created");
  await collect(outlast.watch(first.task.id));
  assert.equal((await outlast.get(first.task.id))?.state, "failed");
  fail = false;
  const again = await outlast.submitWithOutcome("book", { chapters: 3 }, { idempotencyKey: key, owner: "reader" });
  assert.equal(again.outcome, "resumed");
  assert.equal(again.task.id, first.task.id);
  // Watched from its first event, the old run's failure is not taken for the task's end: it is replaced by the task as it is now.
  const seen = await collect(outlast.watch(first.task.id));
  const kinds = seen.map((e) => (e.type === "state" ? e.state : e.type === "reset" ? `reset:${e.task.state}` : e.type));
  assert.ok(!kinds.includes("failed"), kinds.join(" "));
  const reset = kinds.findIndex((k) => k.startsWith("reset:"));
  assert.ok(reset > 0, `a reset follows the old run's history: ${kinds.join(" ")}`);
  assert.ok(["reset:succeeded", "succeeded"].includes(kinds.at(-1)!), kinds.join(" "));
  assert.equal((await outlast.get(first.task.id))?.state, "succeeded");
  assert.deepEqual(ran, [0, 1, 2]);
  const done = await outlast.submitWithOutcome("book", { chapters: 3 }, { idempotencyKey: key, owner: "reader" });
  assert.equal(done.outcome, "existing");
  assert.equal(done.task.state, "succeeded");
  const otherOwner = await outlast.submitWithOutcome("book", { chapters: 3 }, { idempotencyKey: key, owner: "someone-else" });
  assert.equal(otherOwner.outcome, "created");
  assert.notEqual(otherOwner.task.id, first.task.id);
});

test("a full queue rejects with a retry hint and stores nothing", async (t) => {
  const outlast = makeEngine(t);
  outlast.queue("small", { maxQueued: 2, perOwner: { maxQueued: 1 } });
  outlast.define("x", { queue: "small", run: () => null });
  await outlast.start();
  await outlast.pauseQueue("small");
  await outlast.submit("x", {}, { owner: "a" });
  await assert.rejects(outlast.submit("x", {}, { owner: "a" }), (e: unknown) => e instanceof QueueFullError && e.scope === "owner");
  await outlast.submit("x", {}, { owner: "b" });
  await assert.rejects(outlast.submit("x", {}, { owner: "c" }), (e: unknown) => {
    assert.ok(e instanceof QueueFullError);
    assert.equal(e.scope, "queue");
    assert.ok(e.retryAfterMs >= 1000);
    return true;
  });
  assert.equal((await outlast.list()).tasks.length, 2);
});

test("priorities run first; equal priorities in submit order; delayed tasks wait", async (t) => {
  const outlast = makeEngine(t);
  outlast.queue("one", { concurrency: 1 });
  const order: string[] = [];
  const startedAt = new Map<string, number>();
  outlast.define("rec", {
    queue: "one",
    run: (input: { n: string }) => {
      order.push(input.n);
      startedAt.set(input.n, Date.now());
    },
  });
  await outlast.submit("rec", { n: "low-1" });
  const later = await outlast.submit("rec", { n: "later" }, { delayMs: 300, priority: 100 });
  await outlast.submit("rec", { n: "low-2" });
  await outlast.submit("rec", { n: "high" }, { priority: 5 });
  await outlast.start();
  await until(() => order.length === 4, "all four to run");
  // Timing-proof: the runnable ones in priority, then submit order; the delayed
  // one (whatever its priority) not before its runAt, which a slow machine may
  // reach before the others are done.
  assert.deepEqual(
    order.filter((n) => n !== "later"),
    ["high", "low-1", "low-2"],
  );
  assert.ok(startedAt.get("later")! >= Date.parse(later.runAt), "the delayed task waited for its runAt");
});

test("progress is coalesced: many calls, few writes, the latest always saved before the end", async (t) => {
  const outlast = makeEngine(t, { progressIntervalMs: 50 });
  outlast.define("spin", {
    async run(_input, ctx) {
      for (let i = 1; i <= 200_000; i++) ctx.progress({ current: i, total: 200_000 });
      await new Promise((r) => setTimeout(r, 120));
      for (let i = 1; i <= 1000; i++) ctx.progress({ current: i, total: 1000, message: "second pass" });
      return null;
    },
  });
  await outlast.start();
  const task = await outlast.submit("spin");
  const events = await collect(outlast.watch(task.id));
  const progress = events.filter((e) => e.type === "progress");
  assert.ok(progress.length >= 1 && progress.length <= 4, `expected few progress events, got ${progress.length}`);
  const last = progress[progress.length - 1];
  assert.ok(last && last.type === "progress");
  assert.deepEqual(last.progress, { current: 1000, total: 1000, percent: 100, message: "second pass" });
  assert.ok(events.indexOf(last) < events.length - 1, "latest progress comes before the final state");
});

test("lifecycle hooks fire for every transition", async (t) => {
  const outlast = makeEngine(t);
  const seen: string[] = [];
  for (const name of ["queued", "started", "retrying", "succeeded", "failed"] as const) {
    outlast.on(name, (event) => seen.push(`${name}:${event.taskId.slice(-4)}`));
  }
  outlast.define("twice", { backoff: { baseMs: 1 }, run: (_i, ctx) => (ctx.attempt === 1 ? Promise.reject(new Error("x")) : "ok") });
  await outlast.start();
  const task = await outlast.submit("twice");
  await collect(outlast.watch(task.id));
  await until(() => seen.length >= 5, "hooks");
  const id = task.id.slice(-4);
  assert.deepEqual(seen, [`queued:${id}`, `started:${id}`, `retrying:${id}`, `started:${id}`, `succeeded:${id}`]);
});

test("a queue without a shared limit runs perProcess at a time in each process and stores no limit", async (t) => {
  const outlast = makeEngine(t);
  assert.throws(() => outlast.queue("bad", { perProcess: Infinity }), (e: unknown) => e instanceof OutlastError && e.code === "bad_request");
  assert.throws(() => outlast.queue("bad", { concurrency: -Infinity }), (e: unknown) => e instanceof OutlastError && e.code === "bad_request");
  outlast.queue("wide", { concurrency: Infinity, perProcess: 3 });
  outlast.queue("default-share", { concurrency: Infinity });
  let running = 0;
  let most = 0;
  const gates: (() => void)[] = [];
  const hold = async () => {
    running++;
    most = Math.max(most, running);
    await new Promise<void>((resolve) => gates.push(resolve));
    running--;
    return null;
  };
  const letAllFinish = async () => {
    while (gates.length > 0 || running > 0) {
      gates.splice(0).forEach((open) => open());
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  };
  outlast.define("hold", { queue: "wide", run: hold });
  outlast.define("hold-default", { queue: "default-share", run: hold });
  await outlast.start();
  const queues = await outlast.listQueues();
  assert.equal(queues.find((q) => q.name === "wide")?.concurrency, null);
  assert.equal(queues.find((q) => q.name === "default-share")?.concurrency, null);

  const ids = await Promise.all(Array.from({ length: 7 }, () => outlast.submit("hold", {}).then((task) => task.id)));
  await until(() => running === 3, "three tasks running");
  // Let the others be claimed if the share were not enforced.
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.equal(most, 3);
  await letAllFinish();
  await until(async () => (await Promise.all(ids.map((id) => outlast.get(id)))).every((task) => task?.state === "succeeded"), "all seven done");
  assert.equal(most, 3);

  // Without perProcess a process takes the default share of 10.
  most = 0;
  await Promise.all(Array.from({ length: 12 }, () => outlast.submit("hold-default", {})));
  await until(() => running === 10, "ten tasks running");
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.equal(most, 10);
  await letAllFinish();
});

test("an owner or idempotency key that no store could keep as given is refused", async (t) => {
  const outlast = makeEngine(t);
  outlast.define("x", { run: () => null });
  for (const options of [{ owner: "a\u0000b" }, { owner: "lone \ud800" }, { idempotencyKey: "k\u0000" }, { idempotencyKey: "\udc00 first" }]) {
    await assert.rejects(outlast.submit("x", {}, options), (error: unknown) => error instanceof OutlastError && error.code === "bad_request", JSON.stringify(options));
  }
  await outlast.submit("x", {}, { owner: "emoji 🎧 ok", idempotencyKey: "paired \ud83c\udfa7 ok" });
  assert.equal((await outlast.list()).tasks.length, 1);
});

test("submitMany stores a batch in order, or nothing when one input is invalid, and the tasks run", async (t) => {
  const outlast = makeEngine(t);
  const ran: number[] = [];
  outlast.queue("one", { concurrency: 1 });
  outlast.define("typed", { queue: "one", input: z.object({ n: z.number().int() }), run: (input: { n: number }) => void ran.push(input.n) });
  await assert.rejects(outlast.submitMany("typed", [{ n: 1 }, { n: "two" }, { n: 3 }]), (error: unknown) => {
    assert.ok(error instanceof InvalidInputError);
    assert.deepEqual(error.issues[0]?.path, [1, "n"], "the path starts with the input's index");
    return true;
  });
  assert.equal((await outlast.list()).tasks.length, 0);
  await assert.rejects(
    outlast.submitMany("typed", [{ n: 1 }], { idempotencyKey: "k" } as never),
    (error: unknown) => error instanceof OutlastError && error.code === "bad_request",
  );
  await assert.rejects(outlast.submitMany("missing", [{}]), (error: unknown) => error instanceof OutlastError && error.code === "unknown_task_name");
  assert.deepEqual(await outlast.submitMany("typed", []), []);

  const tasks = await outlast.submitMany("typed", [5, 4, 3, 2, 1].map((n) => ({ n })), { owner: "batch", priority: 2 });
  assert.deepEqual(
    tasks.map((task) => [task.state, task.owner, task.priority]),
    tasks.map(() => ["queued", "batch", 2]),
  );
  assert.deepEqual((await Promise.all(tasks.map((task) => outlast.getRecord(task.id)))).map((record) => record?.input), [5, 4, 3, 2, 1].map((n) => ({ n })));
  await outlast.start();
  await until(async () => (await Promise.all(tasks.map((task) => outlast.get(task.id)))).every((task) => task?.state === "succeeded"), "the batch to run");
  assert.deepEqual(ran, [5, 4, 3, 2, 1], "run in the order given");
});
