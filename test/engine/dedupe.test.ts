// Submits that collapse by a key (`dedupe`): what a handler sees of them.
import assert from "node:assert/strict";
import { test } from "node:test";
import { isOutlastError, TaskAbortedError, type SubmitOptions } from "../../src/index.js";
import { makeEngine, until } from "../support/engine.js";
import { FakeTime } from "../support/fake-time.js";
import { guardLeaks } from "../support/leaks.js";

guardLeaks();

const T0 = Date.UTC(2030, 0, 1, 12, 0, 0);

test("cancel-running: a newer submit aborts the running handler through its signal, and the new task runs with the new input", async (t) => {
  const outlast = makeEngine(t);
  const reasons: unknown[] = [];
  const ran: unknown[] = [];
  outlast.define("render", {
    run: async (input: unknown, ctx) => {
      ran.push(input);
      if (input === "first") {
        await new Promise<never>((_resolve, reject) =>
          ctx.signal.addEventListener("abort", () => {
            reasons.push(ctx.signal.reason);
            reject(ctx.signal.reason as Error);
          }),
        );
      }
      return `rendered ${String(input)}`;
    },
  });
  await outlast.start();
  const dedupe = { key: "page-7", mode: "cancel-running" } as const;
  const first = await outlast.submit("render", "first", { dedupe });
  await until(async () => (await outlast.get(first.id))?.state === "running", "the first task to run");

  const second = await outlast.submit("render", "second", { dedupe });
  assert.notEqual(second.id, first.id);
  assert.equal(reasons.length, 1, "aborted at once, in this process");
  assert.ok(reasons[0] instanceof TaskAbortedError);
  assert.equal((reasons[0] as TaskAbortedError).code, "canceled");
  await until(async () => (await outlast.get(second.id))?.state === "succeeded", "the new task to run");
  assert.equal((await outlast.get(first.id))?.state, "canceled");
  assert.equal((await outlast.get(second.id))?.result, "rendered second");
  assert.deepEqual(ran, ["first", "second"]);
});

test("debounce on fake time: a burst runs once, with the last input, delayMs after the latest submit", async (t) => {
  const time = new FakeTime(T0);
  const outlast = makeEngine(t, { clock: time.clock, timers: time.timers });
  const ran: unknown[] = [];
  outlast.define("reindex", { run: (input: unknown) => void ran.push(input) });
  await outlast.start();
  const dedupe = { key: "doc-1", mode: "debounce", delayMs: 1_000, maxDelayMs: 10_000 } as const;
  const ids = new Set<string>();
  for (let n = 0; n < 5; n++) {
    ids.add((await outlast.submit("reindex", { n }, { dedupe })).id);
    await time.advance(500);
  }
  assert.equal(ids.size, 1);
  assert.deepEqual(ran, [], "not yet: the latest submit was 500 ms ago");
  await time.advance(600);
  const [id] = ids;
  await until(async () => (await outlast.get(id!))?.state === "succeeded", "the debounced run");
  assert.deepEqual(ran, [{ n: 4 }]);
});

test("dedupe options are checked at submit: a bad one is bad_request naming the field", async (t) => {
  const outlast = makeEngine(t);
  outlast.define("job", { run: () => null });
  outlast.define("many", { run: () => null });
  const refused: [SubmitOptions, string][] = [
    [{ dedupe: { key: "k", mode: "throttle" as "debounce" } }, "dedupe.mode"],
    [{ dedupe: { key: "", mode: "replace-queued" } }, "dedupe.key"],
    [{ dedupe: { mode: "replace-queued" } as unknown as SubmitOptions["dedupe"] & object }, "dedupe.key"],
    [{ dedupe: { key: "k", mode: "debounce" } }, "dedupe.delayMs"],
    [{ dedupe: { key: "k", mode: "debounce", delayMs: -1 } }, "dedupe.delayMs"],
    [{ dedupe: { key: "k", mode: "debounce", delayMs: 400 * 24 * 60 * 60 * 1000 } }, "dedupe.delayMs"],
    [{ dedupe: { key: "k", mode: "debounce", delayMs: 1.5 } }, "dedupe.delayMs"],
    [{ dedupe: { key: "k", mode: "debounce", delayMs: 1_000, maxDelayMs: 999 } }, "dedupe.maxDelayMs"],
    [{ dedupe: { key: "k", mode: "replace-queued", maxDelayMs: 1_000 } }, "dedupe.maxDelayMs"],
    [{ dedupe: { key: "k", mode: "cancel-running", delayMs: 0 } }, "dedupe.delayMs"],
    [{ dedupe: { key: "k", mode: "replace-queued", extra: 1 } as unknown as SubmitOptions["dedupe"] & object }, "dedupe.extra"],
    [{ dedupe: { key: "k", mode: "replace-queued" }, idempotencyKey: "i" }, "dedupe"],
    [{ dedupe: { key: "k", mode: "debounce", delayMs: 10 }, delayMs: 5 }, "delayMs"],
    [{ dedupe: { key: "k", mode: "debounce", delayMs: 10 }, runAt: Date.now() + 1_000 }, "runAt"],
    [{ dedupe: "k" as unknown as SubmitOptions["dedupe"] & object }, "dedupe"],
  ];
  for (const [options, field] of refused) {
    await assert.rejects(
      outlast.submit("job", null, options),
      (error: unknown) => isOutlastError(error, "bad_request") && (error.details as { field?: string } | undefined)?.field === field && error.message.includes(field),
      `${JSON.stringify(options)} names ${field}`,
    );
  }
  await assert.rejects(
    outlast.submitMany("many", [1, 2], { dedupe: { key: "k", mode: "replace-queued" } } as never),
    (error: unknown) => isOutlastError(error, "bad_request"),
  );
  assert.equal((await outlast.list({})).tasks.length, 0, "nothing was stored");
  // A delay for the other modes is the submit's own.
  const later = await outlast.submit("job", null, { dedupe: { key: "k", mode: "replace-queued" }, delayMs: 60_000 });
  assert.ok(Date.parse(later.runAt) > Date.now() + 50_000);
});
