import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { OutlastClient } from "../../src/client/client.js";
import type { Task } from "../../src/client/types.js";
import { guardLeaks } from "../support/leaks.js";
import { tempDir } from "../support/temp.js";
import { ADMIN_KEY, ROOT, runCli, startCli } from "./cli.js";

guardLeaks();

const OPS_TASKS = join(ROOT, "test/fixtures/ops-tasks.ts");

test("outlast dead list, redrive and purge act on tasks that used up their attempts under a real outlast serve", async (t) => {
  const db = join(tempDir(t), "outlast.db");
  const serve = await startCli(t, ["serve", "--port", "0", "--db", db, "--tasks", OPS_TASKS], /running on (http:\/\/\S+)/);
  const url = serve.ready[1]!;
  const dead = (...args: string[]) => runCli(["dead", ...args, "--url", url, "--token", ADMIN_KEY]);
  const client = new OutlastClient({ baseUrl: url, token: ADMIN_KEY, storage: null });
  t.after(() => client.close());
  const settled = async (id: string, attempt: number): Promise<Task> => {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const task = await client.get(id);
      if (task.state === "failed" && task.attempt === attempt) return task;
      assert.ok(Date.now() < deadline, `task ${id} did not fail on attempt ${attempt}: ${JSON.stringify(task)}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };

  const first = (await client.submit("ops.flaky", {})).task;
  const second = (await client.submit("ops.flaky", {})).task;
  const ok = (await client.submit("ops.tenant", { tenant: "acme", plan: "free" })).task;
  for (const task of [first, second]) {
    const failed = await settled(task.id, 2);
    assert.equal(failed.deadLetter, true, "out of attempts: a dead letter");
    assert.match(failed.error?.message ?? "", /fails on purpose \(attempt 2\)/);
  }

  const listed = await dead("list", "--json");
  assert.equal(listed.code, 0, listed.stderr);
  const page = JSON.parse(listed.stdout) as { tasks: Task[]; nextCursor: string | null };
  assert.deepEqual(new Set(page.tasks.map((task) => task.id)), new Set([first.id, second.id]), "the two dead letters, not the task that succeeded");
  assert.ok(!page.tasks.some((task) => task.id === ok.id));

  const table = await dead("list", "--name", "ops.flaky");
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /^ID +QUEUE +NAME +CODE +FAILED\n/);
  assert.match(table.stdout, new RegExp(`^${first.id} +default +ops\\.flaky +- +\\d{4}-`, "m"));
  assert.equal(table.stdout.trim().split("\n").length, 3, "a header and two rows");

  const redriven = await dead("redrive", "--id", first.id);
  assert.equal(redriven.code, 0, redriven.stderr);
  assert.equal(redriven.stdout, "redriven: 1\n");
  // Redriven with a fresh budget of attempts: it really runs twice more, and is a dead letter again.
  const again = await settled(first.id, 4);
  assert.equal(again.deadLetter, true);
  assert.match(again.error?.message ?? "", /attempt 4/);

  const purged = await dead("purge", "--name", "ops.flaky", "--queue", "default", "--json");
  assert.equal(purged.code, 0, purged.stderr);
  assert.deepEqual(JSON.parse(purged.stdout), { count: 2 });
  assert.equal((await dead("list")).stdout, "no dead letters\n");
  await assert.rejects(client.get(first.id), (error: Error & { code?: string }) => error.code === "not_found", "purged with its events");
  assert.equal((await client.get(ok.id)).state, "succeeded", "a task that is not a dead letter is left alone");

  const none = await dead("redrive", "--id", first.id);
  assert.equal(none.code, 0, none.stderr);
  assert.equal(none.stdout, "redriven: 0\n", "an id that is no dead letter is skipped, not an error");
  const refused = await runCli(["dead", "list", "--url", url, "--token", "not-the-admin-key-at-all"]);
  assert.equal(refused.code, 4, refused.stderr);
});
