import assert from "node:assert/strict";
import { test } from "node:test";
import { ChildTaskFailedError, SignalTimeoutError } from "../../src/index.js";
import { makeEngine, until } from "../support/engine.js";
import { guardLeaks } from "../support/leaks.js";

guardLeaks();

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test("a handler catches a child's failure; continue returns every outcome; a child handle waits for its result", async (t) => {
  const outlast = makeEngine(t);
  outlast.define("fx.child", { maxAttempts: 1, run: (input: { n: number }) => (input.n < 0 ? Promise.reject(new Error(`bad ${input.n}`)) : input.n) });
  outlast.define("fx.parent", {
    async run(input: { policy: "fail-fast" | "continue" }, ctx) {
      try {
        const outcomes = await ctx.runChildren(
          [1, -2, 3].map((n) => ({ key: `k${n}`, name: "fx.child", input: { n } })),
          { failure: input.policy },
        );
        const handle = await ctx.child("single", "fx.child", { n: 7 });
        return { outcomes: outcomes.map((o) => [o.key, o.state, o.result, o.error?.message ?? null]), single: await handle.wait() };
      } catch (error) {
        assert.ok(error instanceof ChildTaskFailedError);
        return { caught: error.code, key: error.childKey };
      }
    },
  });
  await outlast.start();
  const failFast = await outlast.submit("fx.parent", { policy: "fail-fast" });
  const cont = await outlast.submit("fx.parent", { policy: "continue" });
  await until(async () => (await outlast.get(failFast.id))?.state === "succeeded" && (await outlast.get(cont.id))?.state === "succeeded", "both parents");
  assert.deepEqual((await outlast.get(failFast.id))?.result, { caught: "child_failed", key: "k-2" });
  assert.deepEqual((await outlast.get(cont.id))?.result, {
    outcomes: [
      ["k1", "succeeded", 1, null],
      ["k-2", "failed", null, "bad -2"],
      ["k3", "succeeded", 3, null],
    ],
    single: 7,
  });
});

test("an uncaught child failure fails the parent once, with child_failed; retrying the parent runs the failed child again", async (t) => {
  const outlast = makeEngine(t);
  let fail = true;
  outlast.define("fx.flaky", { maxAttempts: 1, run: () => (fail ? Promise.reject(new Error("down")) : "up") });
  outlast.define("fx.parent", { run: async (_input, ctx) => (await ctx.runChildren([{ key: "only", name: "fx.flaky" }]))[0]!.result });
  await outlast.start();
  const parent = await outlast.submit("fx.parent", {});
  await until(async () => (await outlast.get(parent.id))?.state === "failed", "the parent to fail");
  const failed = await outlast.get(parent.id);
  assert.equal(failed?.error?.code, "child_failed");
  assert.equal(failed?.attempt, 1, "no retry: the same child would fail it again");
  fail = false;
  await outlast.retry(parent.id);
  await until(async () => (await outlast.get(parent.id))?.state === "succeeded", "the retried parent");
  assert.equal((await outlast.get(parent.id))?.result, "up");
  assert.equal((await outlast.children(parent.id)).tasks.length, 1, "the same child ran again");
});

test("canceling a waiting parent cancels its children, the running one through its signal", async (t) => {
  const outlast = makeEngine(t, { leaseMs: 600 });
  const aborted: string[] = [];
  outlast.define("fx.long", {
    async run(input: { key: string }, ctx) {
      await new Promise<void>((resolve) => ctx.signal.addEventListener("abort", () => resolve(), { once: true }));
      aborted.push(input.key);
      throw ctx.signal.reason;
    },
  });
  outlast.queue("default", { perProcess: 1 });
  outlast.define("fx.parent", { run: (_input, ctx) => ctx.runChildren(["a", "b"].map((key) => ({ key, name: "fx.long", input: { key } }))) });
  await outlast.start();
  const parent = await outlast.submit("fx.parent", {});
  await until(async () => (await outlast.children(parent.id)).tasks.some((c) => c.state === "running"), "a child to run");
  const canceled = await outlast.cancel(parent.id);
  assert.equal(canceled.state, "canceled");
  await until(async () => (await outlast.children(parent.id)).tasks.every((c) => c.state === "canceled"), "both children canceled", 10_000);
  assert.equal(aborted.length, 1, "the running child saw its signal");
});

test("a signal timeout throws SignalTimeoutError the handler can catch; a signal sent early is kept; step names starting with ~ are refused", async (t) => {
  const outlast = makeEngine(t, { pollIntervalMs: 100 });
  outlast.define("fx.timeout", {
    async run(_input, ctx) {
      await assert.rejects(ctx.step("~mine", () => 1), { code: "bad_request" });
      try {
        await ctx.waitForSignal("never", { timeoutMs: 300 });
        return "signal";
      } catch (error) {
        assert.ok(error instanceof SignalTimeoutError);
        return error.code;
      }
    },
  });
  outlast.define("fx.early", {
    async run(_input, ctx) {
      await ctx.step("slow", () => sleep(300));
      return ctx.waitForSignal("ready");
    },
  });
  await outlast.start();
  const timeout = await outlast.submit("fx.timeout", {});
  const early = await outlast.submit("fx.early", {});
  const sent = await outlast.signal(early.id, "ready", { n: 1 });
  assert.equal(sent.delivered, false, "kept until the task asks");
  await until(async () => (await outlast.get(timeout.id))?.state === "succeeded" && (await outlast.get(early.id))?.state === "succeeded", "both tasks", 10_000);
  assert.equal((await outlast.get(timeout.id))?.result, "signal_timeout");
  assert.deepEqual((await outlast.get(early.id))?.result, { n: 1 });
});

test("bad children and bad waits are refused with bad_request inside the handler", async (t) => {
  const outlast = makeEngine(t);
  outlast.define("fx.child", { run: () => null });
  outlast.define("fx.bad", {
    maxAttempts: 1,
    async run(_input, ctx) {
      const codes: string[] = [];
      const tries: (() => Promise<unknown>)[] = [
        () => ctx.runChildren([{ key: "", name: "fx.child" }]),
        () => ctx.runChildren([{ key: "a", name: "fx.child" }, { key: "a", name: "fx.child" }]),
        () => ctx.runChildren([{ key: "a", name: "fx.child", weight: -1 }]),
        () => ctx.runChildren([{ key: "a", name: "fx.child" }], { failure: "sometimes" as never }),
        () => ctx.runChildren([{ key: "a", name: "no.such" }]),
        () => ctx.sleep(-1),
        () => ctx.waitForSignal("bad name!"),
        () => ctx.waitForSignal("ok", { timeoutMs: 0 }),
      ];
      for (const attempt of tries) await attempt().then(() => codes.push("ok"), (error: { code?: string }) => codes.push(error.code ?? "?"));
      return codes;
    },
  });
  await outlast.start();
  const task = await outlast.submit("fx.bad", {});
  await until(async () => (await outlast.get(task.id))?.state === "succeeded", "the task");
  assert.deepEqual((await outlast.get(task.id))?.result, ["bad_request", "bad_request", "bad_request", "bad_request", "unknown_task_name", "bad_request", "bad_request", "bad_request"]);
  assert.equal((await outlast.children(task.id)).tasks.length, 0, "nothing was submitted");
});

test("submitGroup refuses bad groups with clear codes before storing anything", async (t) => {
  const outlast = makeEngine(t);
  outlast.define("fx.child", { run: () => null });
  const bad = (group: unknown) => outlast.submitGroup(group as never);
  await assert.rejects(bad(null), { code: "bad_request" });
  await assert.rejects(bad({ name: "g", children: [] }), { code: "bad_request" });
  await assert.rejects(bad({ name: "g", children: [{ name: "fx.child", key: "then" }] }), { code: "bad_request" });
  await assert.rejects(bad({ name: "g", children: [{ name: "fx.child", weight: Number.NaN }] }), { code: "bad_request" });
  await assert.rejects(bad({ name: "g", children: [{ name: "nope" }] }), { code: "unknown_task_name" });
  await assert.rejects(bad({ name: "g", children: [{ name: "fx.child" }], failure: { maxFailures: -1 } }), { code: "bad_request" });
  await assert.rejects(bad({ name: "g", children: [{ name: "fx.child" }], then: { name: "nope" } }), { code: "unknown_task_name" });
  assert.equal((await outlast.list()).tasks.length, 0);
});
