import assert from "node:assert/strict";
import { test } from "node:test";
import { guardLeaks } from "../support/leaks.js";
import { makeEngine, until } from "../support/engine.js";

guardLeaks();

test("one owner's 300 queued tasks delay another owner's single task by one claim round, not 300 tasks", async (t) => {
  const outlast = makeEngine(t);
  const started: string[] = [];
  outlast.queue("work", { concurrency: 1 });
  outlast.define("job", { queue: "work", run: (_input, ctx) => void started.push(ctx.task.owner) });
  await outlast.submitMany("job", Array.from({ length: 300 }, (_, i) => ({ i })), { owner: "alice" });
  const bob = await outlast.submit("job", null, { owner: "bob" });
  await outlast.start();
  await until(async () => (await outlast.get(bob.id))?.state === "succeeded", "bob's task");
  const at = started.indexOf("bob");
  assert.ok(at >= 0 && at <= 1, `bob's task ran ${at + 1}th, behind ${at} of alice's`);
});
