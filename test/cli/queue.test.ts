import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { guardLeaks } from "../support/leaks.js";
import { tempDir } from "../support/temp.js";
import type { QueueView } from "../../src/client/types.js";
import { ADMIN_KEY, ROOT, runCli, startCli } from "./cli.js";

const OPS_TASKS = join(ROOT, "test/fixtures/ops-tasks.ts");

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

test("outlast queue set changes a rate limit, per-key limits, tiers and single keys' limits; list shows them", async (t) => {
  const db = join(tempDir(t), "outlast.db");
  const serve = await startCli(t, ["serve", "--port", "0", "--db", db, "--tasks", OPS_TASKS], /running on (http:\/\/\S+)/);
  const url = serve.ready[1]!;
  const queue = (...args: string[]) => runCli(["queue", ...args, "--url", url, "--token", ADMIN_KEY]);

  const listed = await queue("list");
  assert.equal(listed.code, 0, listed.stderr);
  assert.match(listed.stdout, /RATE LIMIT +PER KEY +TIERS +KEY LIMITS/);
  assert.match(listed.stdout, /^llm +active .* 60\/60000ms +- +- +0 /m, "the declared rate limit; not keyed");
  assert.match(listed.stdout, /^tenants +active +20 .* none +1 +free=1,premium=2 +0 /m, "the declared per-key limit and tiers");

  const rate = await queue("set", "llm", "--rate-limit", "10/1000", "--json");
  assert.equal(rate.code, 0, rate.stderr);
  const limited = JSON.parse(rate.stdout) as QueueView;
  assert.deepEqual([limited.rateLimit, limited.overridden], [{ limit: 10, periodMs: 1000, keyed: false }, ["rateLimit"]]);
  const removed = JSON.parse((await queue("set", "llm", "--rate-limit", "none", "--json")).stdout) as QueueView;
  assert.equal(removed.rateLimit, null);

  const keyed = await queue("set", "tenants", "--per-key", "3", "--tier", "free=2", "--tier", "gold=5", "--key-limit", "acme=7", "--key-limit", "a=b=4", "--total", "30", "--json");
  assert.equal(keyed.code, 0, keyed.stderr);
  const tenants = JSON.parse(keyed.stdout) as QueueView;
  assert.deepEqual(tenants.keyConcurrency, { limit: 3, tiers: { free: 2, premium: 2, gold: 5 } }, "the tiers not named keep their numbers");
  assert.deepEqual(tenants.keyLimits, { acme: 7, "a=b": 4 }, "a key may hold '=': the number follows the last one");
  assert.equal(tenants.concurrency, 30);

  const table = await queue("set", "tenants", "--key-limit", "acme=none", "--tier", "gold=declared");
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /^tenants +active +30\* .* none +3\* +free=2,premium=2\* +1\* /m, "gold dropped (code declares none), acme's limit dropped");

  const unkeyed = await queue("set", "llm", "--per-key", "2");
  assert.equal(unkeyed.code, 1, "a queue the code does not key refuses per-key limits");
  assert.match(unkeyed.stderr, /no keyed concurrency/);

  const bad: [string[], RegExp][] = [
    [["--rate-limit", "60"], /--rate-limit takes N\/MS/],
    [["--rate-limit", "0/1000"], /--rate-limit takes N\/MS/],
    [["--rate-limit", "5/86400001"], /--rate-limit takes N\/MS/],
    [["--per-key", "0"], /--per-key takes a whole number from 1 to 1000000000, or "declared"; got "0"/],
    [["--per-key", "none"], /--per-key takes a whole number/],
    [["--tier", "free"], /--tier takes NAME=N/],
    [["--tier", "=3"], /--tier takes NAME=N/],
    [["--tier", "free=lots"], /--tier free takes a whole number/],
    [["--key-limit", "acme=0"], /--key-limit acme takes a whole number .* or "none"/],
    [["--total", "-1"], /--total takes a whole number/],
    [["--total", "5", "--concurrency", "5"], /give --concurrency or --total, not both/],
  ];
  for (const [args, message] of bad) {
    const result = await queue("set", "tenants", ...args);
    assert.equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
    assert.match(result.stderr, message, args.join(" "));
  }
  const after = (JSON.parse((await queue("list", "--json")).stdout) as QueueView[]).find((q) => q.name === "tenants");
  assert.deepEqual(after?.keyLimits, { "a=b": 4 }, "no refused command changed anything");
});
