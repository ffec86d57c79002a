import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { guardLeaks } from "../support/leaks.js";
import { tempDir } from "../support/temp.js";
import { ADMIN_KEY, runCli, startCli } from "./cli.js";

guardLeaks();

test("outlast queue list, set and reset change a running server's queue limits over the API", async (t) => {
  const db = join(tempDir(t), "outlast.db");
  const serve = await startCli(t, ["serve", "--port", "0", "--db", db, "--max-queued", "5"], /running on (http:\/\/\S+)/);
  const url = serve.ready[1]!;
  const queue = (...args: string[]) => runCli(["queue", ...args, "--url", url, "--token", ADMIN_KEY]);

  const listed = await queue("list", "--json");
  assert.equal(listed.code, 0, listed.stderr);
  const before = (JSON.parse(listed.stdout) as { name: string; concurrency: number; maxQueued: number; overridden: string[] }[]).find((q) => q.name === "default");
  assert.deepEqual([before?.concurrency, before?.maxQueued, before?.overridden], [10, 5, []]);

  const set = await queue("set", "default", "--concurrency", "3", "--max-queued", "none", "--owner-concurrency", "1");
  assert.equal(set.code, 0, set.stderr);
  assert.match(set.stdout, /^QUEUE +STATUS +CONCURRENCY/);
  assert.match(set.stdout, /default +active +3\* +none\* +1\* +none /);
  assert.match(set.stdout, /set by an operator/);

  const reset = await queue("reset", "default", "--json");
  assert.equal(reset.code, 0, reset.stderr);
  const after = JSON.parse(reset.stdout) as { concurrency: number; maxQueued: number; perOwner: { concurrency: number | null }; overridden: string[] };
  assert.deepEqual([after.concurrency, after.maxQueued, after.perOwner.concurrency, after.overridden], [10, 5, null, []], "back to what serve declared");

  const paused = await queue("set", "default", "--pause", "--json");
  assert.equal((JSON.parse(paused.stdout) as { paused: boolean }).paused, true);

  const unknown = await queue("set", "nowhere", "--concurrency", "2");
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /No queue "nowhere"/);
  for (const bad of [["set", "default"], ["set", "default", "--concurrency", "0"], ["set", "default", "--concurrency", "lots"], ["move", "default"], ["reset"], ["set", "default", "--pause", "--resume"]]) {
    const result = await queue(...bad);
    assert.equal(result.code, 2, `${bad.join(" ")}: ${result.stderr}`);
  }
  const refused = await runCli(["queue", "list", "--url", url, "--token", "not-the-admin-key-at-all"]);
  assert.equal(refused.code, 4);
});
