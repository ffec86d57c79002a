// A queue's rate limit across two worker processes on one SQLite file: at
// most `limit` starts in any window, every task runs once, and idle workers
// sleep until the next start is allowed.
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { Outlast } from "../../src/index.js";
import { sqliteStore } from "../../src/store/sqlite/index.js";
import { spawnFixture } from "../support/child.js";
import { collect, quietLogger } from "../support/engine.js";
import { guardLeaks } from "../support/leaks.js";
import { tempDir } from "../support/temp.js";

guardLeaks();

const LIMIT = 5;
const PERIOD_MS = 1_000;
const TASKS = 14;

/** The most of `times` in any window (t − periodMs + slack, t]. */
function busiestWindow(times: readonly number[], periodMs: number, slackMs = 0): number {
  let most = 0;
  for (const end of times) most = Math.max(most, times.filter((at) => at > end - periodMs + slackMs && at <= end).length);
  return most;
}

test("rateLimit { limit: 5, periodMs: 1000 } holds across two worker processes: at most 5 starts in any second, and every task runs once", async (t) => {
  const dir = tempDir(t);
  const db = join(dir, "outlast.db");
  const execLog = join(dir, "exec.log");
  writeFileSync(execLog, "");
  const outlast = new Outlast({ store: sqliteStore({ path: db }), logger: quietLogger });
  outlast.queue("rated", { concurrency: Infinity, rateLimit: { limit: LIMIT, periodMs: PERIOD_MS } });
  outlast.define("rated.tick", { queue: "rated", run: () => null });
  t.after(() => outlast.close());
  await outlast.get("warm-up");

  const env = { DB: db, EXEC_LOG: execLog, RATE_LIMIT: String(LIMIT), RATE_PERIOD_MS: String(PERIOD_MS) };
  const workers = [spawnFixture(t, "rate-worker.ts", env), spawnFixture(t, "rate-worker.ts", env)];
  await Promise.all(workers.map((w) => w.waitFor("ready")));
  const began = Date.now();
  const tasks = await Promise.all(Array.from({ length: TASKS }, () => outlast.submit("rated.tick", {})));
  // Held back by the limit, a task stays queued with its place.
  const last = await outlast.get(tasks[TASKS - 1]!.id);
  assert.equal(last?.state, "queued");
  assert.ok(typeof last.position === "number" && last.position >= 1);
  for (const task of tasks) await collect(outlast.watch(task.id));
  const elapsed = Date.now() - began;

  const finished = await Promise.all(tasks.map((task) => outlast.get(task.id)));
  assert.ok(finished.every((task) => task?.state === "succeeded"));
  // The claims' own times, as stored: the limit holds exactly there.
  const startedAt = finished.map((task) => new Date(task!.startedAt!).getTime());
  assert.ok(busiestWindow(startedAt, PERIOD_MS) <= LIMIT, `at most ${LIMIT} claims in any ${PERIOD_MS} ms: ${startedAt.map((at) => at - began).join(" ")}`);

  // The handlers' log: each task ran once, and (allowing 100 ms from a claim to its handler) never more than 5 starts a second.
  const starts = readFileSync(execLog, "utf8").trim().split("\n").map((line) => line.split(" "));
  assert.deepEqual(starts.map(([, , , id]) => id).sort(), tasks.map((task) => task.id).sort(), "every task ran exactly once");
  const pids = new Set(starts.map(([, , pid]) => Number(pid)));
  assert.ok([...pids].every((pid) => workers.some((w) => w.process.pid === pid)));
  const times = starts.map(([, at]) => Number(at));
  assert.ok(busiestWindow(times, PERIOD_MS, 100) <= LIMIT, `at most ${LIMIT} handler starts in any window: ${times.map((at) => at - began).join(" ")}`);
  // 14 tasks at 5 a second take three windows: the workers waited for the budget rather than failing or running early.
  assert.ok(elapsed >= 2 * PERIOD_MS - 50, `took ${elapsed} ms`);

  for (const worker of workers) worker.process.kill("SIGTERM");
  for (const worker of workers) assert.equal(await worker.exited, 0);
});
