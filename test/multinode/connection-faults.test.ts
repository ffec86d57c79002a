import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import type { StoredEvent } from "../../src/core/events.js";
import { Outlast } from "../../src/engine/outlast.js";
import { postgresStore } from "../../src/store/postgres/index.js";
import { guardLeaks } from "../support/leaks.js";
import { testPool, testSchema } from "../support/pg.js";
import { tempDir } from "../support/temp.js";
import { startCli } from "../cli/cli.js";
import { MN_TASKS, connectionString, dbUrl, readExecutions, until, within } from "./support.js";

guardLeaks();

const TASKS = 1000;
const KILLS = 3;
const quiet = { info() {}, warn() {}, error() {} };

test("every store connection killed three times while two worker processes run 1,000 tasks: all succeed, no recorded step runs again, listeners catch up, workers stop cleanly", async (t) => {
  const schema = await testSchema(t);
  const admin = await testPool(t, 1);
  const log = join(tempDir(t, "outlast-multinode"), "executions.log");
  // Only connections with this name are terminated: other tests share the server.
  const appName = `outlast_fault_${randomBytes(4).toString("hex")}`;

  // This process submits and listens through a store whose connections are killed too.
  const outlast = new Outlast({ store: postgresStore({ connectionString: connectionString(appName), schema }), logger: quiet });
  t.after(() => outlast.close({ graceMs: 0 }));
  outlast.queue("mn-short", { concurrency: 8 });
  outlast.define("mn.short", { queue: "mn-short", run: () => null });
  await outlast.listQueues(); // migrated before the workers start

  const seen: StoredEvent[] = [];
  const succeeded = new Set<string>();
  const stopAll = outlast.hub.onAll((event) => {
    seen.push(event);
    if (event.data.type === "state" && event.data.state === "succeeded") succeeded.add(event.taskId);
  });
  t.after(stopAll);

  const worker = () => startCli(t, ["worker", "--db", dbUrl(schema, appName), "--tasks", MN_TASKS, "--queues", "mn-short"], /^worker \S+ ready: .*$/m);
  const workers = await Promise.all([worker(), worker()]);

  const ids: string[] = [];
  for (let i = 0; i < TASKS; i += 100) {
    const batch = await Promise.all(Array.from({ length: Math.min(100, TASKS - i) }, () => outlast.submit("mn.short", { ms: 3, log })));
    ids.push(...batch.map((task) => task.id));
  }

  const count = async (state: string) =>
    (await admin.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${schema}".tasks WHERE state = $1`, [state])).rows[0]!.n;
  await until(async () => (await count("succeeded")) >= 100, "the first 100 tasks to succeed", 60_000);

  const kills: { terminated: number; succeeded: number }[] = [];
  for (let k = 0; k < KILLS; k++) {
    if (k > 0) await new Promise((resolve) => setTimeout(resolve, 300));
    const result = await admin.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
       WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name = $1`,
      [appName],
    );
    kills.push({ terminated: result.rowCount ?? 0, succeeded: await count("succeeded") });
  }
  // Two workers and this process each hold at least a LISTEN connection.
  assert.ok(kills[0]!.terminated >= 3, `the first kill terminated the processes' connections: ${JSON.stringify(kills)}`);
  assert.ok(kills.at(-1)!.succeeded < TASKS, `tasks were still running at the last kill: ${JSON.stringify(kills)}`);

  await until(
    async () => {
      const r = await admin.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${schema}".tasks WHERE state IN ('succeeded', 'failed', 'canceled')`);
      return r.rows[0]!.n === TASKS;
    },
    "every task to end",
    60_000,
    200,
  );
  const states = await admin.query<{ state: string; n: number }>(`SELECT state, count(*)::int AS n FROM "${schema}".tasks GROUP BY state`);
  assert.deepEqual(states.rows, [{ state: "succeeded", n: TASKS }]);

  // Steps: each recorded once per task; a step recorded by attempt r ran
  // exactly once in attempt r and never in a later attempt (an earlier,
  // unrecorded run is a write the kill cut off, which is allowed).
  const recorded = await admin.query<{ task_id: string; name: string; attempt: number }>(`SELECT task_id, name, attempt FROM "${schema}".task_steps`);
  assert.equal(recorded.rows.length, TASKS * 2, "both steps of every task were recorded");
  const runs = new Map<string, number[]>();
  for (const e of readExecutions(log)) {
    const key = `${e.taskId} ${e.step}`;
    runs.set(key, [...(runs.get(key) ?? []), e.attempt]);
  }
  let reruns = 0;
  for (const step of recorded.rows) {
    const attempts = runs.get(`${step.task_id} ${step.name}`) ?? [];
    assert.equal(attempts.filter((a) => a === step.attempt).length, 1, `${step.task_id} ${step.name} ran once in attempt ${step.attempt}: ${attempts.join(",")}`);
    assert.equal(attempts.filter((a) => a > step.attempt).length, 0, `${step.task_id} ${step.name} ran again after it was recorded: ${attempts.join(",")}`);
    reruns += attempts.length - 1;
  }
  t.diagnostic(`kills: ${JSON.stringify(kills)}; steps run again after a cut-off write: ${reruns}`);

  // The listener came back after every kill and caught up: every task's success reached it, no event twice.
  await until(() => ids.every((id) => succeeded.has(id)), `the listener to hear every success (${succeeded.size}/${TASKS})`, 30_000, 100);
  const keys = seen.map((e) => `${e.taskId}#${e.seq}`);
  assert.equal(new Set(keys).size, keys.length, "no event was delivered twice");

  for (const w of workers) w.process.kill("SIGTERM");
  const codes = await within(Promise.all(workers.map((w) => w.exited)), 30_000, "the workers to stop on SIGTERM");
  assert.deepEqual(codes, [0, 0], workers.map((w) => w.output()).join("\n---\n"));
});
