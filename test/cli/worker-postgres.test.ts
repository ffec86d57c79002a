import { test } from "node:test";
import assert from "node:assert/strict";
import { guardLeaks } from "../support/leaks.js";
import { PG_URL, testPool, testSchema } from "../support/pg.js";
import { ADMIN_KEY, runCli, startCli, startWorker, TASKS_FIXTURE } from "./cli.js";

guardLeaks();

test("on PostgreSQL: migrate, serve --no-workers and a worker process in a fresh schema; SIGTERM lets the running task finish, exit 0", async (t) => {
  const schema = await testSchema(t);
  const pool = await testPool(t, 1);
  const url = new URL(PG_URL);
  url.searchParams.set("schema", schema);

  const migrated = await runCli(["migrate", "--db", url.toString()]);
  assert.equal(migrated.code, 0, migrated.stderr);
  assert.match(migrated.stdout, new RegExp(`\\(schema ${schema}\\): schema version \\d+\\n$`));
  const tables = await pool.query("SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = $1", [schema]);
  assert.ok((tables.rows[0] as { n: number }).n > 0, "migrate created the tables in the schema named in the URL");

  // The URL names the schema for the server, --schema for the worker: both reach the same tables.
  const api = await startCli(t, ["serve", "--port", "0", "--db", url.toString(), "--tasks", TASKS_FIXTURE, "--no-workers"], /running on (http:\/\/\S+)/);
  const http = ["--url", api.ready[1]!, "--token", ADMIN_KEY];
  const worker = await startWorker(t, PG_URL, ["--schema", schema, "--grace-ms", "20000"]);
  assert.match(worker.ready[0], new RegExp(`\\(schema ${schema}\\)\\)$`));

  const ok = await runCli(["submit", "cli.add", "--input", '{"a":20,"b":22,"steps":2,"everyMs":10}', "--watch", ...http]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.deepEqual(JSON.parse(ok.stdout.trim().split("\n").at(-1)!), { sum: 42, pid: worker.process.pid });

  // A task still running when SIGTERM arrives gets the grace period and finishes.
  const id = (await runCli(["submit", "cli.add", "--input", '{"a":1,"b":1,"steps":20,"everyMs":100}', ...http])).stdout.trim();
  const deadline = Date.now() + 20_000;
  for (;;) {
    const r = await pool.query(`SELECT state FROM "${schema}".tasks WHERE id = $1`, [id]);
    if ((r.rows[0] as { state: string } | undefined)?.state === "running") break;
    assert.ok(Date.now() < deadline, "the task never started");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const termAt = Date.now();
  worker.process.kill("SIGTERM");
  assert.equal(await worker.exited, 0, worker.output());
  const exitedAt = Date.now();
  const done = await runCli(["watch", id, "--json", ...http]);
  assert.equal(done.code, 0, done.stderr);
  const task = JSON.parse(done.stdout) as { state: string; attempt: number; result: unknown; finishedAt: string };
  assert.equal(task.state, "succeeded");
  assert.equal(task.attempt, 1, "finished within the grace period, not retried");
  assert.deepEqual(task.result, { sum: 2, pid: worker.process.pid });
  const finishedAt = Date.parse(task.finishedAt);
  assert.ok(termAt < finishedAt && finishedAt <= exitedAt, "it finished after SIGTERM and before the worker exited");
});
