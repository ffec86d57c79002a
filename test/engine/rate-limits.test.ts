// Rate limits in one engine: the option checked at declaration, the key a
// submit computes (owner, or from the input), and costs checked at submit.
import assert from "node:assert/strict";
import { test } from "node:test";
import { isOutlastError } from "../../src/core/errors.js";
import { makeEngine, until } from "../support/engine.js";
import { guardLeaks } from "../support/leaks.js";

guardLeaks();

test("rateLimit is checked at declaration: a bad one is a bad_request naming its field", (t) => {
  const outlast = makeEngine(t);
  const bad: [unknown, string][] = [
    [{ limit: 0, periodMs: 1_000 }, "rateLimit.limit"],
    [{ limit: 2.5, periodMs: 1_000 }, "rateLimit.limit"],
    [{ periodMs: 1_000 }, "rateLimit.limit"],
    [{ limit: 5 }, "rateLimit.periodMs"],
    [{ limit: 5, periodMs: 0 }, "rateLimit.periodMs"],
    [{ limit: 5, periodMs: 2 * 24 * 60 * 60 * 1000 }, "rateLimit.periodMs"],
    [{ limit: 5, periodMs: 1_000, key: "input" }, "rateLimit.key"],
    [{ limit: 5, periodMs: 1_000, per: "owner" }, "rateLimit.per"],
    ["60/min", "rateLimit"],
  ];
  for (const [rateLimit, field] of bad) {
    assert.throws(
      () => outlast.queue("q", { rateLimit: rateLimit as never }),
      (error: unknown) => isOutlastError(error, "bad_request") && error.message.includes(field) && (error.details as { field?: string }).field === field,
      JSON.stringify(rateLimit),
    );
  }
  outlast.queue("q", { rateLimit: { limit: 5, periodMs: 1_000, key: "owner" } });
  outlast.queue("r", { rateLimit: null });
});

test("keyed by a function of the input: each key has its own budget; a key that cannot be made is a bad_request; cost is checked against the limit", async (t) => {
  const outlast = makeEngine(t);
  outlast.queue("api", { concurrency: Infinity, rateLimit: { limit: 1, periodMs: 60_000, key: (input) => (input as { apiKeyId: string }).apiKeyId } });
  const ran: string[] = [];
  const task = outlast.define("api.call", {
    queue: "api",
    run: (input: { apiKeyId: string; n: number }) => void ran.push(`${input.apiKeyId}${input.n}`),
  });
  await outlast.start();
  const a1 = await task.submit({ apiKeyId: "a", n: 1 });
  const a2 = await task.submit({ apiKeyId: "a", n: 2 });
  const b1 = await task.submit({ apiKeyId: "b", n: 1 });
  await until(async () => (await outlast.get(b1.id))?.state === "succeeded" && (await outlast.get(a1.id))?.state === "succeeded", "a1 and b1 ran");
  const held = await outlast.get(a2.id);
  assert.equal(held?.state, "queued", "key a spent its budget for the minute");
  assert.equal(held?.position, 1);
  assert.deepEqual(ran.sort(), ["a1", "b1"]);

  await assert.rejects(task.submit({ apiKeyId: "", n: 3 }), (error: unknown) => isOutlastError(error, "bad_request") && /rateLimit\.key/.test(error.message));
  await assert.rejects(task.submit(null as never), (error: unknown) => isOutlastError(error, "bad_request") && /rateLimit\.key threw/.test(error.message));
  await assert.rejects(task.submit({ apiKeyId: "c", n: 1 }, { cost: 2 }), (error: unknown) => isOutlastError(error, "bad_request") && /cost/.test(error.message));
  await assert.rejects(task.submit({ apiKeyId: "c", n: 1 }, { cost: 0 }), (error: unknown) => isOutlastError(error, "bad_request"));
});

test("keyed by owner: one owner's spent budget does not hold another owner's task back", async (t) => {
  const outlast = makeEngine(t);
  outlast.queue("per-owner", { concurrency: Infinity, rateLimit: { limit: 2, periodMs: 60_000, key: "owner" } });
  const task = outlast.define("per-owner.job", { queue: "per-owner", run: () => null });
  await outlast.start();
  const alice = await Promise.all([1, 2, 3].map(() => task.submit({}, { owner: "alice" })));
  const bob = await task.submit({}, { owner: "bob" });
  await until(async () => (await outlast.get(bob.id))?.state === "succeeded", "bob's task ran");
  await until(async () => (await Promise.all(alice.map((x) => outlast.get(x.id)))).filter((x) => x?.state === "succeeded").length === 2, "two of alice's ran");
  assert.equal((await outlast.get(alice[2]!.id))?.state, "queued");
});

test("a task held back by a rate limit stays queued with its position and an ETA no earlier than the limit allows", async (t) => {
  const outlast = makeEngine(t);
  outlast.queue("metered", { concurrency: Infinity, rateLimit: { limit: 2, periodMs: 60_000 } });
  const task = outlast.define("metered.job", { queue: "metered", run: () => null });
  await outlast.start();
  // Two run (the queue's run-time history), spending the window's budget.
  const first = await Promise.all([task.submit({}), task.submit({})]);
  await until(async () => (await Promise.all(first.map((x) => outlast.get(x.id)))).every((x) => x?.state === "succeeded"), "the first two ran");
  const held = await Promise.all([1, 2, 3, 4, 5].map(() => task.submit({})));
  // The queue's figures are reused for a second (engine/presenter.ts): wait for the estimate that counts the history.
  await until(async () => typeof (await outlast.get(held[4]!.id))?.etaMs === "number", "an estimate");
  const fifth = await outlast.get(held[4]!.id);
  assert.equal(fifth?.state, "queued");
  assert.equal(fifth?.position, 5);
  assert.ok(typeof fifth?.etaMs === "number" && fifth.etaMs >= 2 * 60_000, `etaMs ${fifth?.etaMs}: four tasks ahead at 2 a minute`);
  const third = await outlast.get(held[2]!.id);
  assert.ok(typeof third?.etaMs === "number" && third.etaMs >= 60_000 && third.etaMs < 2 * 60_000, `etaMs ${third?.etaMs}`);
});
