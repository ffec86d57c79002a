// Two copies of the package in one app (two versions in node_modules, a
// bundle beside node_modules): errors of one are still recognised by the other.
import assert from "node:assert/strict";
import { test } from "node:test";
import { InvalidInputError, OutlastError, QueueFullError, RetryLaterError, UnrecoverableError } from "../../src/index.js";
import { OutlastClientError } from "../../src/client/index.js";
import { collect, makeEngine } from "../support/engine.js";
import { guardLeaks } from "../support/leaks.js";

guardLeaks();

// A second instance of the same modules: what a second copy of the package is to Node.
type Errors = typeof import("../../src/core/errors.js");
const copy = (await import(`../../src/core/errors.js?copy=${Date.now()}`)) as Errors;
const clientCopy = (await import(`../../src/client/types.js?copy=${Date.now()}`)) as typeof import("../../src/client/types.js");

test("errors made by another copy of the package are instances of this copy's classes, and not of unrelated ones", () => {
  assert.notEqual(copy.UnrecoverableError, UnrecoverableError, "the test really has two copies");
  assert.ok(new copy.UnrecoverableError("x") instanceof UnrecoverableError);
  assert.ok(new copy.RetryLaterError("x", { delayMs: 1 }) instanceof RetryLaterError);
  const full = new copy.QueueFullError("q", "queue", 1_000);
  assert.ok(full instanceof QueueFullError && full instanceof OutlastError);
  assert.ok(!(full instanceof InvalidInputError));
  assert.ok(!(new copy.OutlastError("conflict", "x") instanceof QueueFullError));
  assert.ok(new clientCopy.OutlastClientError(404, "not_found", "x") instanceof OutlastClientError);
  assert.ok(!(new Error("plain") instanceof OutlastError));
  assert.ok(!({ name: "UnrecoverableError" } instanceof UnrecoverableError));

  // A subclass of the app's own keeps the ordinary check.
  class PaymentDeclined extends UnrecoverableError {}
  assert.ok(new PaymentDeclined("no") instanceof PaymentDeclined);
  assert.ok(new PaymentDeclined("no") instanceof UnrecoverableError);
  assert.ok(!(new UnrecoverableError("no") instanceof PaymentDeclined));
});

test("a handler that throws another copy's UnrecoverableError fails at once, without retries", async (t) => {
  const outlast = makeEngine(t);
  outlast.define("strict", {
    maxAttempts: 3,
    backoff: { baseMs: 0, maxMs: 0 },
    run: () => {
      throw new copy.UnrecoverableError("not an EPUB");
    },
  });
  await outlast.start();
  const task = await outlast.submit("strict", null);
  await collect(outlast.watch(task.id));
  const final = await outlast.get(task.id);
  assert.equal(final?.state, "failed");
  assert.equal(final?.attempt, 1, "no retry of an unrecoverable error");
});
